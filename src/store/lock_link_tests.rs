//! The writer's links to the previous generation: a file is linked only
//! when it is the base the new generation's files are over, written
//! otherwise.

use super::*;
use crate::index::ann::{tests::random_unit, HnswParams};
use crate::index::hnsw;
use crate::index::lexical_delta::Lexical;
use std::os::unix::fs::MetadataExt;

/// A previous generation's folder holding one file, and the writer's lock.
struct Previous {
    dir: tempfile::TempDir,
    /// The file's name.
    name: &'static str,
    /// Its length and CRC-32.
    sum: FileSum,
    lock: WriterLock,
}

impl Previous {
    /// A previous generation whose `name` holds `bytes`.
    fn holding(name: &'static str, bytes: &[u8]) -> Previous {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("prev")).unwrap();
        std::fs::write(dir.path().join("prev").join(name), bytes).unwrap();
        let sum = FileSum {
            len: bytes.len() as u64,
            crc32: crc32fast::hash(bytes),
        };
        let lock = WriterLock::acquire(&dir.path().join("index")).unwrap();
        Previous {
            dir,
            name,
            sum,
            lock,
        }
    }

    /// The file, as a writer is handed it.
    fn file(&self) -> Option<(PathBuf, FileSum)> {
        Some((self.dir.path().join("prev").join(self.name), self.sum))
    }

    /// What a writer may be handed as the previous file, and whether it is
    /// to be linked: the file itself; the same with another CRC; a file
    /// that is gone; none.
    fn cases(&self) -> [(Option<(PathBuf, FileSum)>, bool); 4] {
        let prev = self.dir.path().join("prev");
        let wrong = FileSum {
            crc32: !self.sum.crc32,
            ..self.sum
        };
        [
            (self.file(), true),
            (Some((prev.join(self.name), wrong)), false),
            (Some((prev.join("gone.bin"), self.sum)), false),
            (None, false),
        ]
    }

    /// Whether the writer's `name` is the previous file, linked.
    fn linked(&self, writer: &GenerationWriter<'_>, name: &str) -> bool {
        let ino = |p: &Path| std::fs::metadata(p).unwrap().ino();
        ino(&writer.tmp.join(name)) == ino(&self.dir.path().join("prev").join(name))
    }
}

/// A patched graph's base is linked from the previous generation only
/// when that file is the base (its length and CRC); written otherwise.
#[test]
fn a_patched_graphs_base_is_linked_only_when_the_previous_file_is_it() {
    let dim = 16;
    let data = random_unit(3005, dim, 8);
    let params = HnswParams::default();
    let base = hnsw::build_with_threads(&data[..3000 * dim], dim, &params, 1, &mut |_| {});
    let grown = hnsw::extend_on(&base, &data, dim, &params, &|_| true, 1, None, &mut |_| {});
    let patch = grown.patch_bytes().expect("5 rows of 3,005: a patch");
    let prev = Previous::holding(GRAPH, base.base_bytes());
    let mut writer = prev.lock.begin().unwrap();
    for (previous, linked) in prev.cases() {
        writer.write_graph(GRAPH, &grown, previous).unwrap();
        let (to, patch_to) = (writer.tmp.join(GRAPH), writer.tmp.join(patch_of(GRAPH)));
        assert_eq!(prev.linked(&writer, GRAPH), linked);
        assert_eq!(std::fs::read(&to).unwrap(), base.base_bytes());
        assert_eq!(std::fs::read(&patch_to).unwrap(), patch);
        let sums = writer.file_sums();
        assert_eq!(sums[GRAPH], prev.sum, "the base's sum, linked or written");
        assert_eq!(sums[&patch_of(GRAPH)].crc32, crc32fast::hash(patch));
    }
    // A graph without a patch is written whole, never linked.
    writer.write_graph(GRAPH, &base, prev.file()).unwrap();
    assert!(!prev.linked(&writer, GRAPH));
}

/// The lexical arm's base is linked only when the previous generation's
/// file is it; its delta is written beside it; a whole arm is written.
#[test]
fn a_lexical_bases_file_is_linked_only_when_it_is_the_previous_file() {
    use crate::index::lexical::LexicalIndex;
    let texts: Vec<String> = (0..40).map(|i| format!("river lamp{i}")).collect();
    let base = LexicalIndex::build(texts.iter().map(String::as_str), true);
    let bytes = encode(&base);
    let prev = Previous::holding(LEXICAL, &bytes);
    let arm = Lexical::read(base.clone(), (prev.sum.len, prev.sum.crc32), None).unwrap();
    let mut reuse: Vec<Option<u32>> = (0..40).map(Some).collect();
    reuse[7] = None;
    let next = Lexical::updated(&arm, &reuse, |_| "ferry".into());
    let delta = next.delta().expect("2 of 40: a delta");
    let mut writer = prev.lock.begin().unwrap();
    for (previous, linked) in prev.cases() {
        writer.write_lexical(&next, previous).unwrap();
        assert_eq!(prev.linked(&writer, LEXICAL), linked);
        assert_eq!(std::fs::read(writer.tmp.join(LEXICAL)).unwrap(), bytes);
        assert_eq!(writer.file_sums()[LEXICAL], prev.sum);
        let written = std::fs::read(writer.tmp.join(LEXICAL_DELTA)).unwrap();
        assert_eq!(written, encode(delta));
    }
    drop(writer);
    // No change: the base alone, linked; an arm written whole: written.
    let same = Lexical::updated(&arm, &reuse.iter().map(|_| None).collect::<Vec<_>>(), |i| {
        texts[i].clone()
    });
    assert!(same.delta().is_none() && same.base_file().is_none());
    let unchanged: Vec<Option<u32>> = (0..40).map(Some).collect();
    let kept = Lexical::updated(&arm, &unchanged, |_| unreachable!());
    for (lexical, linked) in [(&kept, true), (&same, false)] {
        let mut writer = prev.lock.begin().unwrap();
        writer.write_lexical(lexical, prev.file()).unwrap();
        assert_eq!(prev.linked(&writer, LEXICAL), linked);
        assert_eq!(std::fs::read(writer.tmp.join(LEXICAL)).unwrap(), bytes);
        assert!(!writer.tmp.join(LEXICAL_DELTA).exists());
        assert!(!writer.file_sums().contains_key(LEXICAL_DELTA));
    }
}

/// The metadata's `meta.bin` is linked, with `meta.delta.bin` beside it,
/// only when the previous generation's file is the base it was read from
/// and little changed since; written whole otherwise, with no delta.
#[test]
fn a_metadata_base_is_linked_only_when_it_is_the_previous_file() {
    use super::meta_delta::tests::{applied, docs, meta_of, read_whole};
    use super::meta_delta::MetaBase;
    let before = docs(40);
    let (previous, base, bytes) = read_whole(&meta_of(&before, 80));
    // Document 7 changed (2 of 80 pairs: within an eighth); documents 7
    // to 12 changed (12: past it).
    let changed = |n: usize| {
        let mut after = before.clone();
        for doc in &mut after[7..7 + n] {
            doc.1[0].0 = "Changed.";
        }
        let next = meta_of(&after, 80);
        let previous_doc: Vec<u32> = (0..40u32)
            .map(|d| match d as usize {
                d if (7..7 + n).contains(&d) => u32::MAX,
                d => d as u32,
            })
            .collect();
        let carried = MetaBase::carried(&next, &previous, &base, &previous_doc).unwrap();
        (next, carried)
    };
    let (next, carried) = changed(1);
    assert!(carried.worth_a_delta(&next));
    let prev = Previous::holding(META, &bytes);
    for (previous, linked) in prev.cases() {
        let mut writer = prev.lock.begin().unwrap();
        writer.write_meta(&next, Some(&carried), previous).unwrap();
        assert_eq!(prev.linked(&writer, META), linked);
        let (meta, delta) = (writer.tmp.join(META), writer.tmp.join(META_DELTA));
        let sums = writer.file_sums();
        if linked {
            assert_eq!(sums[META], prev.sum);
            let delta = std::fs::read(delta).unwrap();
            assert_eq!(sums[META_DELTA].crc32, crc32fast::hash(&delta));
            assert_eq!(applied(&bytes, &delta).unwrap().0, next);
        } else {
            let whole = super::meta_columns::encode(&next);
            assert_eq!(std::fs::read(meta).unwrap(), whole);
            assert_eq!(sums[META].crc32, crc32fast::hash(&whole));
            assert!(!delta.exists() && !sums.contains_key(META_DELTA));
        }
    }
    // No base (metadata read from bincode, or from the database), or too
    // much changed since it: written whole, even over the very file.
    let (many, far) = changed(6);
    assert!(!far.worth_a_delta(&many));
    for (meta, base) in [(&next, None), (&many, Some(&far))] {
        let mut writer = prev.lock.begin().unwrap();
        writer.write_meta(meta, base, prev.file()).unwrap();
        assert!(!prev.linked(&writer, META));
        assert!(!writer.file_sums().contains_key(META_DELTA));
        let whole = super::meta_columns::encode(meta);
        assert_eq!(std::fs::read(writer.tmp.join(META)).unwrap(), whole);
    }
}
