//! An update extends the previous generation's graphs where their files
//! lie (`store::open_for_update`), and commits nothing once one changed.

use super::tests::many_pairs;
use super::*;
use crate::model::embed::HashEmbedder;
use crate::progress::NoProgress;

/// The generation an update of `dir/index` makes from `dir/data`, over the
/// current one opened as an update opens it (returned beside it; `opened`
/// runs once it is), not yet written.
fn made_over_the_current(dir: &Path, opened: impl FnOnce()) -> (Snapshot, NewGeneration) {
    let (data, index) = (dir.join("data"), dir.join("index"));
    let mut previous = store::open_for_update(&index).unwrap();
    opened();
    let corpus = crate::corpus::load(&data).unwrap();
    let making = Making {
        graph: GraphMode::Build,
        checkpoint: None,
    };
    let config = IndexConfig::default();
    let mut model = HashEmbedder::new(32);
    let made = make_generation(
        &corpus,
        &data,
        Some(&mut previous),
        &mut model,
        &config,
        making,
        &mut NoProgress,
    );
    (previous, made.unwrap().expect("a pair changed"))
}

/// An index of 1,500 pairs built under `dir`, then one pair changed in
/// its data folder: the index, and the generation built.
fn built_then_changed(dir: &Path) -> (std::path::PathBuf, Snapshot) {
    let (data, index) = (dir.join("data"), dir.join("index"));
    std::fs::create_dir(&data).unwrap();
    many_pairs(&data, 1_500, 0, 0);
    testing::update(dir);
    let first = store::open(&index).unwrap();
    many_pairs(&data, 1_500, 1, 1);
    (index, first)
}

/// Writes `made` over `previous` (the generation it was made from) and
/// asserts that it commits nothing, as damage naming `graph.bin`.
fn commit_fails_naming_the_graph(lock: &WriterLock, previous: &Snapshot, made: &mut NewGeneration) {
    let base = store::segments::VectorBase::of(previous, made.kept_rows);
    let (progress, read) = (&mut NoProgress, Some(previous));
    let e = write_generation(lock, &mut made.snapshot, base.as_ref(), read, progress);
    let e = e.unwrap_err();
    assert!(matches!(e, Error::IndexCorrupt { .. }), "{e:?}");
    assert!(e.to_string().contains("graph.bin"), "{e}");
}

/// One pair changed in a corpus of 1,500: the update's graph is a patch
/// over the previous graph file, read where it lies. That file written to
/// in place before the commit (with the very bytes it held, so only its
/// time tells): the update refuses to commit, naming it, and the
/// generation before stays current; the next update goes on, and links the
/// file into its generation rather than write it again.
#[cfg(unix)]
#[test]
fn an_update_commits_nothing_once_a_graph_file_it_read_in_place_changed() {
    use std::os::unix::fs::{FileExt, MetadataExt};
    let dir = tempfile::tempdir().unwrap();
    let (index, first) = built_then_changed(dir.path());
    let graph_file = first.dir.join(store::GRAPH);
    let file = std::fs::File::options()
        .write(true)
        .open(&graph_file)
        .unwrap();
    // Set back, so that the write below moves it whatever the clock's tick.
    let old = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_600_000_000);
    file.set_modified(old).unwrap();

    let lock = store::WriterLock::acquire(&index).unwrap();
    let (previous, mut made) = made_over_the_current(dir.path(), || {});
    assert!(
        made.snapshot.graph.patch_bytes().is_some(),
        "one pair of 1,500: a patch over the file"
    );
    previous.files_intact().unwrap();
    let head = std::fs::read(&graph_file).unwrap()[..4].to_vec();
    file.write_all_at(&head, 0).unwrap();
    let e = previous.files_intact().unwrap_err();
    assert!(e.to_string().contains("graph.bin"), "{e}");
    commit_fails_naming_the_graph(&lock, &previous, &mut made);
    drop((lock, previous, made));
    let now = store::open(&index).unwrap();
    assert_eq!(now.manifest.generation, first.manifest.generation);

    // The bytes are those checked: the next update extends the graph.
    let inode = |p: &Path| std::fs::metadata(p).unwrap().ino();
    let linked = inode(&graph_file);
    let summary = testing::update(dir.path());
    assert_eq!(summary.graph, "extended");
    let next = store::open(&index).unwrap();
    assert!(next.manifest.generation > first.manifest.generation);
    assert!(next.graph.patch_bytes().is_some());
    assert_eq!(inode(&next.dir.join(store::GRAPH)), linked);
}

/// The previous graph file cut to nothing once the update opened it,
/// before the extension reads it: its lost pages read as zeros (no SIGBUS,
/// no panic), the update commits nothing and names `graph.bin`; the next
/// update finds the file's sum wrong and builds the index again.
#[cfg(unix)]
#[test]
fn an_update_over_a_graph_file_cut_under_it_commits_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (index, first) = built_then_changed(dir.path());
    let graph_file = first.dir.join(store::GRAPH);
    let pointer = store::current_pointer(&index);
    assert!(pointer.is_some());
    let lock = store::WriterLock::acquire(&index).unwrap();
    let cut = || {
        let file = std::fs::File::options().write(true).open(&graph_file);
        file.unwrap().set_len(0).unwrap();
    };
    let (previous, mut made) = made_over_the_current(dir.path(), cut);
    commit_fails_naming_the_graph(&lock, &previous, &mut made);
    drop((lock, previous, made));
    // Still the generation cut: opened, it is damaged.
    assert_eq!(store::current_pointer(&index), pointer);
    let err = store::open(&index).unwrap_err().to_string();
    assert!(err.contains("graph.bin"), "{err}");

    testing::update(dir.path());
    let next = store::open(&index).unwrap();
    assert!(next.manifest.generation > first.manifest.generation);
    assert_eq!(next.graph.rows(), next.meta.row_count());
}
