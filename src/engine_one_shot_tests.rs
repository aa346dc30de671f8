//! A one-shot engine (`ask`): its vectors and graphs mapped, its answers
//! the same as a long-lived engine's, none given from a file changed under
//! it, and its opening begun beside the plan used only where the plan
//! finds that generation ready.

use super::testing::hash;
use super::*;

/// A data folder of 40 pairs under `dir`, built; options for it, and the
/// path of the generation's vector file.
fn built(dir: &Path) -> (EngineOptions, PathBuf) {
    let data = dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    let mut text = String::from("Town services.\n");
    for i in 0..40 {
        text += &format!(
            "What does office {i} handle?\nOffice {i} handles permit {i} and licence {}.\n",
            i * 7
        );
    }
    std::fs::write(data.join("a.txt"), text).unwrap();
    let options = EngineOptions::new(data, dir.join("index"));
    drop(Engine::open(&options, hash).unwrap());
    let vectors = options.index_dir.join("gen-000001").join(store::VECTORS);
    (options, vectors)
}

fn one_shot(options: &EngineOptions) -> Engine {
    let options = EngineOptions {
        one_shot: true,
        ..options.clone()
    };
    Engine::open(&options, hash).unwrap()
}

/// Whether this process maps the file at `path` now.
#[cfg(target_os = "linux")]
fn mapped(path: &Path) -> bool {
    let path = path.canonicalize().unwrap();
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    maps.lines().any(|l| l.ends_with(&*path.to_string_lossy()))
}

#[test]
#[cfg(target_os = "linux")]
fn a_one_shot_engine_maps_its_vectors_and_answers_as_one_that_reads_them() {
    let dir = tempfile::tempdir().unwrap();
    let (options, vectors) = built(dir.path());
    let graph = vectors.with_file_name(store::GRAPH);
    let read = Engine::open(&options, hash).unwrap();
    assert!(!mapped(&vectors), "a long-lived engine reads its vectors");
    assert!(!mapped(&graph), "and copies its graph");
    let asked = one_shot(&options);
    assert!(mapped(&vectors), "a one-shot engine maps them");
    assert!(mapped(&graph), "and searches its graph where it lies");
    let config = SearchConfig::default();
    for q in [
        "What does office 3 handle?",
        "permit 17",
        "licence 70",
        "nothing at all",
    ] {
        let (a, b) = (
            read.ask(q, &config).unwrap(),
            asked.ask(q, &config).unwrap(),
        );
        let of = |a: &Answers| {
            let r = a.results.iter();
            r.map(|r| (r.question.clone(), r.score.to_bits()))
                .collect::<Vec<_>>()
        };
        assert_eq!(of(&a), of(&b), "{q}");
        assert_eq!(a.answered, b.answered, "{q}");
    }
}

#[test]
fn a_one_shot_engine_answers_nothing_from_vectors_damaged_or_changed_under_it() {
    let dir = tempfile::tempdir().unwrap();
    let (options, vectors) = built(dir.path());
    let config = SearchConfig::default();
    let refused = |engine: &Engine| {
        let e = engine
            .ask("What does office 3 handle?", &config)
            .unwrap_err();
        assert_eq!(e.kind(), crate::error::ErrorKind::Index, "{e}");
        assert!(e.to_string().contains(store::VECTORS), "{e}");
    };
    let write_at = |at: u64, bytes: &[u8]| {
        use std::os::unix::fs::FileExt;
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(&vectors)
            .unwrap();
        f.write_all_at(bytes, at).unwrap();
    };
    // Damaged before it was opened: the check, made while the engine opens
    // and answers, refuses the answer, and every later one (a reading
    // engine refuses to open).
    let original = std::fs::read(&vectors).unwrap();
    write_at(8, &[0x5a; 4]);
    let engine = one_shot(&options);
    refused(&engine);
    refused(&engine);
    assert!(Engine::open(&options, hash).is_err());

    // Written to after it was opened and had answered: the same length,
    // a new modification time.
    std::fs::write(&vectors, &original).unwrap();
    let old = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_600_000_000);
    let set_old = || {
        let f = std::fs::File::options().write(true).open(&vectors).unwrap();
        f.set_modified(old).unwrap();
    };
    set_old();
    let engine = one_shot(&options);
    engine.ask("permit 17", &config).unwrap();
    write_at(8, &original[8..12]);
    refused(&engine);

    // Cut short under it: the rows read after it are gone (no SIGBUS).
    set_old();
    let engine = one_shot(&options);
    engine.ask("permit 17", &config).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&vectors)
        .unwrap()
        .set_len(0)
        .unwrap();
    refused(&engine);
}

/// Sets the modification time of the file at `path` back, so that a write
/// within the same clock tick still moves it.
fn set_old(path: &Path) {
    let old = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_600_000_000);
    let f = std::fs::File::options().write(true).open(path).unwrap();
    f.set_modified(old).unwrap();
}

#[test]
fn a_one_shot_engine_answers_nothing_from_a_graph_damaged_or_changed_under_it() {
    let dir = tempfile::tempdir().unwrap();
    let (options, vectors) = built(dir.path());
    let graph = vectors.with_file_name(store::GRAPH);
    let original = std::fs::read(&graph).unwrap();
    let config = SearchConfig::default();
    let told = |e: crate::Error| {
        assert_eq!(e.kind(), crate::error::ErrorKind::Index, "{e}");
        assert!(e.to_string().contains(store::GRAPH), "{e}");
    };
    let refused = |engine: &Engine| told(engine.ask("permit 17", &config).unwrap_err());

    // Damaged before it was opened: its sum is taken as it is mapped.
    let mut damaged = original.clone();
    damaged[40] ^= 0x10;
    std::fs::write(&graph, &damaged).unwrap();
    let e = Engine::open(
        &EngineOptions {
            one_shot: true,
            ..options.clone()
        },
        hash,
    )
    .unwrap_err();
    told(e);

    // Written over in place once it had answered: layer 0's links to rows
    // past the graph (its offsets as they were), then every word after
    // the header. The walk meets links and offsets out of every bound and
    // passes them over rather than panic; the answer is refused.
    let words: Vec<u32> = original
        .chunks_exact(4)
        .map(|w| u32::from_le_bytes(w.try_into().unwrap()))
        .collect();
    let (rows, count) = (words[2], words[5] as usize);
    let links = 6 + count + 1;
    let mut far = words.clone();
    far[links..links + words[6 + count] as usize].fill(rows + 3);
    let mut garbage = original.clone();
    garbage[20..].fill(0xff);
    let far: Vec<u8> = far.iter().flat_map(|w| w.to_le_bytes()).collect();
    for written in [&far, &garbage] {
        std::fs::write(&graph, &original).unwrap();
        set_old(&graph);
        let engine = one_shot(&options);
        engine.ask("permit 17", &config).unwrap();
        use std::os::unix::fs::FileExt;
        let f = std::fs::File::options().write(true).open(&graph).unwrap();
        f.write_all_at(written, 0).unwrap();
        refused(&engine);
        refused(&engine);
    }

    // Cut short under it: its pages read as zeros (no SIGBUS), the answer
    // is refused.
    std::fs::write(&graph, &original).unwrap();
    let engine = one_shot(&options);
    engine.ask("permit 17", &config).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&graph)
        .unwrap()
        .set_len(0)
        .unwrap();
    refused(&engine);
}

#[test]
fn an_opening_begun_beside_the_plan_is_used_only_for_the_generation_found_ready() {
    let dir = tempfile::tempdir().unwrap();
    let (options, _) = built(dir.path());
    let store = options.open_store().unwrap();
    let ahead = |opened: Result<Snapshot>| {
        Some(plan::Ahead {
            thread: std::thread::spawn(move || opened),
            abandon: store::Abandon::default(),
        })
    };
    let opened = store.open_mapped().unwrap();
    assert_eq!(opened.manifest.generation, 1);
    let used = opened_ahead(ahead(Ok(opened)), 1).expect("the generation found ready");
    assert_eq!(used.unwrap().manifest.generation, 1);
    // Another generation committed between the opening and the plan, or
    // an opening that failed: opened again, as without the thread.
    assert!(opened_ahead(ahead(store.open_mapped()), 2).is_none());
    let failed = Err(crate::Error::corrupt(store.path(), "told by the opening"));
    assert!(opened_ahead(ahead(failed), 1).is_none());
    assert!(opened_ahead(None, 1).is_none());

    // Abandoned (the plan updates first), the opening gives up at its next
    // step rather than finish beside the update.
    let abandon = store::Abandon::default();
    abandon.set();
    let e = store.open_mapped_unless(&abandon).unwrap_err();
    assert!(e.to_string().contains("not wanted"), "{e}");

    // The data changed since the build: the plan updates first, and the
    // answer comes from the new generation, not from the one opened beside
    // the plan.
    let data = options.data_dir.join("a.txt");
    let text = std::fs::read_to_string(&data).unwrap();
    std::fs::write(
        &data,
        text + "Who repairs the fountain?\nThe fountain is repaired by the guild of masons.\n",
    )
    .unwrap();
    let engine = one_shot(&options);
    assert_eq!(engine.snapshot().manifest.generation, 2);
    let a = engine
        .ask("Who repairs the fountain?", &SearchConfig::default())
        .unwrap();
    assert!(a.results[0].answer.contains("masons"), "{:?}", a.results[0]);
}
