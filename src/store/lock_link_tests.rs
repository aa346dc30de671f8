//! The writer's links to the previous generation: a file is linked only
//! when it is the base the new generation's files are over, written
//! otherwise.

use super::*;
use crate::index::ann::{tests::random_unit, HnswParams};
use crate::index::hnsw;
use crate::index::lexical_delta::Lexical;
use std::os::unix::fs::MetadataExt;

/// A patched graph's base is linked from the previous generation only
/// when that file is the base (its length and CRC); written otherwise.
#[test]
fn a_patched_graphs_base_is_linked_only_when_the_previous_file_is_it() {
    let dim = 16;
    let data = random_unit(3005, dim, 8);
    let params = HnswParams::default();
    let base = hnsw::build_with_threads(&data[..3000 * dim], dim, &params, 1, &mut |_| {});
    let grown = hnsw::extend_on(&base, &data, dim, &params, &|_| true, 1, &mut |_| {});
    let patch = grown.patch_bytes().expect("5 rows of 3,005: a patch");
    let dir = tempfile::tempdir().unwrap();
    let prev = dir.path().join("prev");
    std::fs::create_dir(&prev).unwrap();
    std::fs::write(prev.join(GRAPH), base.base_bytes()).unwrap();
    let sum = FileSum {
        len: base.base_bytes().len() as u64,
        crc32: crc32fast::hash(base.base_bytes()),
    };
    let lock = WriterLock::acquire(&dir.path().join("index")).unwrap();
    let mut writer = lock.begin().unwrap();
    let ino = |p: &Path| std::fs::metadata(p).unwrap().ino();
    let wrong = FileSum {
        crc32: !sum.crc32,
        ..sum
    };
    for (previous, linked) in [
        (Some((prev.join(GRAPH), sum)), true),
        (Some((prev.join(GRAPH), wrong)), false),
        (Some((prev.join("gone.bin"), sum)), false),
        (None, false),
    ] {
        writer.write_graph(GRAPH, &grown, previous).unwrap();
        let (to, patch_to) = (writer.tmp.join(GRAPH), writer.tmp.join(patch_of(GRAPH)));
        assert_eq!(ino(&to) == ino(&prev.join(GRAPH)), linked);
        assert_eq!(std::fs::read(&to).unwrap(), base.base_bytes());
        assert_eq!(std::fs::read(&patch_to).unwrap(), patch);
        let sums = writer.file_sums();
        assert_eq!(sums[GRAPH], sum, "the base's sum, linked or written");
        assert_eq!(sums[&patch_of(GRAPH)].crc32, crc32fast::hash(patch));
    }
    // A graph without a patch is written whole, never linked.
    writer
        .write_graph(GRAPH, &base, Some((prev.join(GRAPH), sum)))
        .unwrap();
    assert_ne!(ino(&writer.tmp.join(GRAPH)), ino(&prev.join(GRAPH)));
}

/// The lexical arm's base is linked only when the previous generation's
/// file is it; its delta is written beside it; a whole arm is written.
#[test]
fn a_lexical_bases_file_is_linked_only_when_it_is_the_previous_file() {
    use crate::index::lexical::LexicalIndex;
    let texts: Vec<String> = (0..40).map(|i| format!("river lamp{i}")).collect();
    let base = LexicalIndex::build(texts.iter().map(String::as_str), true);
    let bytes = encode(&base);
    let sum = FileSum {
        len: bytes.len() as u64,
        crc32: crc32fast::hash(&bytes),
    };
    let arm = Lexical::read(base.clone(), (sum.len, sum.crc32), None).unwrap();
    let mut reuse: Vec<Option<u32>> = (0..40).map(Some).collect();
    reuse[7] = None;
    let next = Lexical::updated(&arm, &reuse, |_| "ferry".into());
    let delta = next.delta().expect("2 of 40: a delta");
    let dir = tempfile::tempdir().unwrap();
    let prev = dir.path().join("prev");
    std::fs::create_dir(&prev).unwrap();
    std::fs::write(prev.join(LEXICAL), &bytes).unwrap();
    let lock = WriterLock::acquire(&dir.path().join("index")).unwrap();
    let mut writer = lock.begin().unwrap();
    let ino = |p: &Path| std::fs::metadata(p).unwrap().ino();
    let wrong = FileSum {
        crc32: !sum.crc32,
        ..sum
    };
    for (previous, linked) in [
        (Some((prev.join(LEXICAL), sum)), true),
        (Some((prev.join(LEXICAL), wrong)), false),
        (Some((prev.join("gone.bin"), sum)), false),
        (None, false),
    ] {
        writer.write_lexical(&next, previous).unwrap();
        let to = writer.tmp.join(LEXICAL);
        assert_eq!(ino(&to) == ino(&prev.join(LEXICAL)), linked);
        assert_eq!(std::fs::read(&to).unwrap(), bytes);
        assert_eq!(writer.file_sums()[LEXICAL], sum);
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
        let mut writer = lock.begin().unwrap();
        writer
            .write_lexical(lexical, Some((prev.join(LEXICAL), sum)))
            .unwrap();
        let to = writer.tmp.join(LEXICAL);
        assert_eq!(ino(&to) == ino(&prev.join(LEXICAL)), linked);
        assert_eq!(std::fs::read(&to).unwrap(), bytes);
        assert!(!writer.tmp.join(LEXICAL_DELTA).exists());
        assert!(!writer.file_sums().contains_key(LEXICAL_DELTA));
    }
}
