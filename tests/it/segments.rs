//! An update writes only the vectors it adds: the previous generation's
//! vector files are linked into the new one, the new rows go into a file of
//! their own, and trailing files are merged as `store::segments` says. The
//! real model, through the CLI; the matrix is read back with the library.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use qasearch::store::{self, segments};

use crate::util::{assert_top, generation_dir, rewrite_manifest, Work};

/// The current generation's vector files: (name, rows, inode).
fn vector_files(index: &Path) -> Vec<(String, usize, u64)> {
    let dir = generation_dir(index);
    let manifest: store::Manifest =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
    manifest
        .vector_files()
        .into_iter()
        .map(|f| {
            let ino = std::fs::metadata(dir.join(&f.name)).unwrap().ino();
            (f.name, f.rows, ino)
        })
        .collect()
}

fn document(k: usize) -> String {
    format!(
        "Notes on lighthouse number {k}.\nWho keeps lighthouse number {k}?\n\
         Keeper Alma{k} Brandt keeps lighthouse number {k}. She climbs its {k}0 steps each night.\n"
    )
}

#[test]
fn updates_link_the_previous_vector_files_and_write_only_the_new_rows() {
    let w = Work::seeded();
    w.index_ok();
    let mut before = store::open(&w.index()).unwrap();
    let mut saw_several = false;
    for k in 1..=7 {
        let files_before = vector_files(&w.index());
        w.write(&format!("lighthouse-{k}.txt"), &document(k));
        let v = w.index_ok();
        assert_eq!(v["graph"], "extended", "{v}");
        let files = vector_files(&w.index());
        let after = store::open(&w.index()).unwrap();

        // Files kept as the merge rule says are the very same files (a
        // link: same inode); the rest is one new file of the rows after.
        let old_rows: Vec<usize> = files_before.iter().map(|f| f.1).collect();
        let new_rows = after.manifest.counts.rows - before.manifest.counts.rows;
        let kept = segments::kept_files(&old_rows, new_rows);
        assert_eq!(files.len(), kept + 1, "{files:?} after {files_before:?}");
        assert_eq!(files[..kept], files_before[..kept], "step {k}");
        let written = &files[kept];
        assert!(
            files_before.iter().all(|f| f.2 != written.2),
            "step {k}: the written file is new: {files:?}"
        );
        let merged: usize = old_rows[kept..].iter().sum::<usize>() + new_rows;
        assert_eq!(written.1, merged, "step {k}");
        saw_several |= files.len() > 1;
        // The earliest format that reads the generation's files: 12 with
        // a delta of the metadata, else 11, as its meta.bin is in columns
        // (10 with a lexical delta, 9 with a graph patch, 8 with several
        // vector files, were it not).
        assert!(after.manifest.meta_columns, "step {k}");
        let delta = after.manifest.files.contains_key(store::META_DELTA);
        let format = if delta { 12 } else { 11 };
        assert_eq!(after.manifest.format_version, format, "step {k}");

        // Read back as one matrix: the previous rows unchanged, in order.
        let prev = before.vectors();
        assert_eq!(&after.vectors()[..prev.len()], prev, "step {k}");
        // And the new document answers its own question first.
        let question = format!("Who keeps lighthouse number {k}?");
        let r = w.run(&["ask", "--json", &question]);
        r.ok();
        assert_top(&r.json(), "question", &question);
        before = after;
    }
    assert!(saw_several, "the updates kept a file at least once");
}

#[test]
fn a_damaged_linked_vector_file_is_found_and_rebuilt() {
    let w = Work::seeded();
    w.index_ok();
    w.write("lighthouse-1.txt", &document(1));
    w.index_ok();
    let files = vector_files(&w.index());
    assert!(files.len() > 1, "{files:?}");
    let dir = generation_dir(&w.index());
    for (name, ..) in &files {
        let path = dir.join(name);
        let saved = std::fs::read(&path).unwrap();
        let mut bytes = saved.clone();
        bytes[3] ^= 0x40;
        std::fs::write(&path, &bytes).unwrap();
        w.run(&["ask", "Who keeps lighthouse number 1?"])
            .fails(4, name);
        std::fs::write(&path, &saved).unwrap();
        w.run(&["ask", "Who keeps lighthouse number 1?"]).ok();
    }
    // Truncated: the next build rebuilds and answers again.
    std::fs::write(dir.join(&files[1].0), b"short").unwrap();
    w.run(&["ask", "Who keeps lighthouse number 1?"])
        .fails(4, &files[1].0);
    w.index_ok();
    w.run(&["ask", "Who keeps lighthouse number 1?"]).ok();
}

/// An update's metadata is the previous generation's `meta.bin`, linked,
/// and a delta over it: what a whole file would hold (the new document's
/// question answered first, every result as before the damage). Damage to
/// either, the delta gone, or a manifest that lists it over metadata not in
/// columns, is reported by name (exit 4); the next `index` reads the corpus
/// again and writes the metadata whole.
#[test]
fn a_damaged_metadata_delta_is_found_and_the_next_index_writes_it_whole() {
    // 23 pairs (passages included), then 2 more: within an eighth.
    let w = Work::seeded();
    for k in 1..=8 {
        w.write(&format!("lighthouse-{k}.txt"), &document(k));
    }
    w.index_ok();
    let inode =
        |name: &str| std::fs::metadata(generation_dir(&w.index()).join(name)).map(|m| m.ino());
    let base = inode("meta.bin").unwrap();
    w.write("lighthouse-9.txt", &document(9));
    w.index_ok();
    assert_eq!(inode("meta.bin").unwrap(), base, "the base is linked");
    let question = "Who keeps lighthouse number 9?";
    let results = || {
        w.run(&["ask", "--json", "--no-update", question])
            .ok()
            .json()["results"]
            .clone()
    };
    let before = results();
    assert_top(
        &serde_json::json!({ "results": before }),
        "question",
        question,
    );
    let dir = generation_dir(&w.index());
    for name in ["meta.delta.bin", "meta.bin"] {
        let path = dir.join(name);
        let saved = std::fs::read(&path).unwrap();
        let mut bytes = saved.clone();
        bytes[saved.len() / 2] ^= 0x40;
        std::fs::write(&path, &bytes).unwrap();
        w.run(&["ask", "--no-update", question]).fails(4, name);
        std::fs::write(&path, &saved).unwrap();
        assert_eq!(results(), before, "{name} restored");
    }
    // Gone; then listed over a meta.bin the manifest says is not in
    // columns (a delta is only ever over columns).
    let path = dir.join("meta.delta.bin");
    let saved = std::fs::read(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    w.run(&["ask", "--no-update", question])
        .fails(4, "meta.delta.bin");
    std::fs::write(&path, &saved).unwrap();
    let manifest = std::fs::read(dir.join("manifest.json")).unwrap();
    rewrite_manifest(&w.index(), |m| m["meta_columns"] = false.into());
    w.run(&["ask", "--no-update", question]).fails(
        4,
        "manifest.json is damaged (lists meta.delta.bin over a meta.bin not in columns)",
    );
    std::fs::write(dir.join("manifest.json"), &manifest).unwrap();
    let name = dir.file_name().unwrap().to_string_lossy().to_string();
    let pointer = format!("{name} {:08x}\n", crc32fast::hash(&manifest));
    std::fs::write(w.index().join("CURRENT"), pointer).unwrap();
    assert_eq!(results(), before, "the manifest restored");
    // Cut short: the next index writes the metadata whole.
    std::fs::write(&path, &saved[..saved.len() / 2]).unwrap();
    w.run(&["ask", "--no-update", question])
        .fails(4, "meta.delta.bin");
    w.index_ok();
    assert!(inode("meta.delta.bin").is_err(), "written whole");
    assert_ne!(inode("meta.bin").unwrap(), base);
    let again = w.run(&["ask", "--json", question]).ok().json();
    assert_top(&again, "question", question);
}

#[test]
fn a_manifest_whose_format_disagrees_with_its_vector_files_is_damage() {
    let w = Work::seeded();
    w.index_ok();
    w.write("lighthouse-1.txt", &document(1));
    w.index_ok();
    rewrite_manifest(&w.index(), |v| v["format_version"] = serde_json::json!(7));
    w.run(&["ask", "Who keeps lighthouse number 1?"])
        .fails(4, "format version disagrees");
    w.index_ok();
    rewrite_manifest(&w.index(), |v| {
        v["vector_files"] = serde_json::json!([{"name": "../vectors.f32", "rows": 1}]);
        v["format_version"] = serde_json::json!(11);
    });
    w.run(&["ask", "Who keeps lighthouse number 1?"])
        .fails(4, "bad vector file");
}

/// A generation whose `meta.bin` an earlier qasearch wrote (serde and
/// bincode: formats 7–10) is read as it was, and the next update writes
/// the metadata in columns (format 11); a manifest that says columns over
/// a file that is not in columns is damage, named.
#[test]
fn metadata_an_earlier_qasearch_wrote_is_read_and_an_update_writes_columns() {
    const Q: &str = "What is the main goal of the Coalition of the Willing?";
    let w = Work::seeded();
    w.index_ok();
    let before = w.run(&["ask", "--json", "--no-update", Q]).ok().json();
    let snap = store::open(&w.index()).unwrap();
    assert!(snap.manifest.meta_columns);
    assert_eq!(snap.manifest.format_version, store::COLUMNS_FORMAT);
    let bytes = store::encode(&snap.meta);
    drop(snap);
    std::fs::write(generation_dir(&w.index()).join("meta.bin"), &bytes).unwrap();
    let sum = serde_json::json!({"len": bytes.len(), "crc32": crc32fast::hash(&bytes)});
    rewrite_manifest(&w.index(), |v| v["files"]["meta.bin"] = sum);
    w.run(&["ask", "--no-update", Q])
        .fails(4, "meta.bin is damaged (not metadata in columns");

    // As an earlier qasearch wrote it: no `meta_columns`, and the format
    // its files need (one vector file, no patch, no delta: 7).
    rewrite_manifest(&w.index(), |v| {
        v.as_object_mut().unwrap().remove("meta_columns");
        v["format_version"] = serde_json::json!(7);
    });
    let old = w.run(&["ask", "--json", "--no-update", Q]).ok().json();
    assert_eq!(old["results"], before["results"]);
    w.write("lighthouse-1.txt", &document(1));
    let v = w.index_ok();
    assert_eq!(
        v["graph"], "extended",
        "the earlier generation is reused: {v}"
    );
    let after = store::open(&w.index()).unwrap();
    assert!(after.manifest.meta_columns);
    assert_eq!(after.manifest.format_version, store::COLUMNS_FORMAT);
    let question = "Who keeps lighthouse number 1?";
    let r = w.run(&["ask", "--json", question]).ok().json();
    assert_top(&r, "question", question);
    let again = w.run(&["ask", "--json", "--no-update", Q]).ok().json();
    assert_eq!(
        again["results"][0]["answer"],
        before["results"][0]["answer"]
    );
}
