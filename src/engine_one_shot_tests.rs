//! A one-shot engine (`ask`): its vectors mapped, its answers the same as a
//! long-lived engine's, and none given from a file changed under it.

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
    let read = Engine::open(&options, hash).unwrap();
    assert!(!mapped(&vectors), "a long-lived engine reads its vectors");
    let asked = one_shot(&options);
    assert!(mapped(&vectors), "a one-shot engine maps them");
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
