use super::*;

#[test]
fn builtin_pins_parse_and_cover_every_file() {
    let pins = Pins::builtin();
    assert_eq!(pins.model.dimension, 384);
    assert_eq!(pins.model.pooling, "mean");
    for name in TOKENIZER_FILES.iter().chain(["model.onnx"].iter()) {
        let pin = pins.files.iter().find(|f| &f.file == name).unwrap();
        assert_eq!(pin.sha256.len(), 64);
    }
    assert!(pins.runtime.min_minor >= 24);
    assert!(pins.runtime.platforms.iter().all(|p| p.sha256.len() == 64));
}

#[test]
fn integer_maths_is_found_by_its_operators_wherever_they_lie() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, at: usize, op: &[u8]| {
        let mut bytes = vec![b'x'; (3 << 20) + 77];
        bytes[at..at + op.len()].copy_from_slice(op);
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    };
    // Straddling the scan's 1 MiB reads, at the start and at the end.
    for (i, at) in [0, (1 << 20) - 5, (2 << 20) - 1, (3 << 20) + 77 - 13]
        .into_iter()
        .enumerate()
    {
        let op: &[u8] = [b"MatMulInteger".as_slice(), b"DynamicQuantizeLinear"][i % 2];
        let at = at.min((3 << 20) + 77 - op.len());
        assert!(integer_maths(&write("int.onnx", at, op)).unwrap(), "{at}");
    }
    // Weights dequantized to floats before the maths are not integer maths.
    for op in [b"DequantizeLinear".as_slice(), b"MatMulNBits", b"MatMul"] {
        assert!(!integer_maths(&write("float.onnx", 1 << 20, op)).unwrap());
    }
}

#[test]
fn the_runtime_is_part_of_an_integer_models_identity_only() {
    let mut identity = ModelIdentity {
        settings: Pins::builtin().model,
        onnx_sha256: "a".repeat(64),
        tokenizer_sha256: "b".repeat(64),
        int8_runtime_sha256: String::new(),
        int8_cpu: String::new(),
    };
    let float = identity.id();
    assert!(!identity.integer_maths() && !float.contains("int8-rt"));
    identity.int8_runtime_sha256 = "c".repeat(64);
    identity.int8_cpu = "x86_64-avx2".into();
    let one = identity.clone();
    assert_eq!(
        identity.id(),
        format!("{float}:int8-rt-{}-x86_64-avx2", "c".repeat(12))
    );
    identity.int8_runtime_sha256 = "d".repeat(64);
    assert_ne!(identity, one);
    identity.int8_runtime_sha256 = one.int8_runtime_sha256.clone();
    identity.int8_cpu = "x86_64-avx512".into();
    assert_ne!(identity, one);
    assert_ne!(identity.id(), one.id());
    // An older manifest (no runtime recorded) reads as a float model.
    let mut json = serde_json::to_value(&one).unwrap();
    json.as_object_mut().unwrap().remove("int8_runtime_sha256");
    json.as_object_mut().unwrap().remove("int8_cpu");
    let old: ModelIdentity = serde_json::from_value(json).unwrap();
    assert_eq!(old.id(), float);
}

#[test]
fn every_catalogued_model_is_pinned_and_recognised_by_its_file() {
    let pins = Pins::builtin();
    for m in MODELS {
        if !m.parts.is_empty() {
            // A mix is recognised by its name and tag, whatever its models' files.
            let part = ModelIdentity {
                settings: pins.model.clone(),
                onnx_sha256: "ab".repeat(32),
                tokenizer_sha256: String::new(),
                int8_runtime_sha256: String::new(),
                int8_cpu: String::new(),
            };
            let parts: Vec<_> = m.parts.iter().map(|&(_, w)| (&part, w)).collect();
            let identity = crate::model::mix::identity(&m, &parts);
            assert_eq!(catalogued(&identity).map(|c| c.name), Some(m.name));
            let (fusion, abstention) = crate::index::settings::model_defaults(&identity);
            assert_eq!(fusion.view_agreement, m.defaults.view_agreement);
            assert_eq!(abstention.min_score, m.defaults.min_score);
            let sum: f32 = m.parts.iter().map(|p| p.1).sum();
            assert!((sum - 1.0).abs() < 1e-6, "{}", m.name);
            for (name, _) in m.parts {
                assert!(MODELS.iter().any(|x| x.name == *name && x.parts.is_empty()));
            }
            continue;
        }
        let sha = if let Some(v) = pins.variants.get(m.name) {
            v.sha256.clone()
        } else if let Some(c) = pins.converted.get(m.name) {
            assert!(script_text(&c.script).is_some(), "{}", c.script);
            assert_eq!(c.settings.query_prefix, m.query_prefix);
            assert_eq!(c.settings.passage_prefix, m.passage_prefix);
            for name in TOKENIZER_FILES.iter().chain(["model.onnx"].iter()) {
                let out = c.outputs.iter().find(|o| &o.file == name).unwrap();
                assert_eq!(out.sha256.len(), 64);
            }
            let model = c.outputs.iter().find(|o| o.file == "model.onnx");
            model.unwrap().sha256.clone()
        } else {
            assert_eq!(m.name, PINNED_MODEL);
            let model = pins.files.iter().find(|f| f.file == "model.onnx");
            model.unwrap().sha256.clone()
        };
        let identity = ModelIdentity {
            settings: pins.model.clone(),
            onnx_sha256: sha,
            tokenizer_sha256: String::new(),
            int8_runtime_sha256: String::new(),
            int8_cpu: String::new(),
        };
        assert_eq!(catalogued(&identity).map(|c| c.name), Some(m.name));
        let (fusion, abstention) = crate::index::settings::model_defaults(&identity);
        assert_eq!(fusion.lexical_weight, m.defaults.lexical_weight);
        assert_eq!(abstention.min_score, m.defaults.min_score);
        assert!(fusion.source.contains(m.name), "{fusion:?}");
    }
    assert_eq!(canonical_model(Some("multilingual")), Some("e5-small"));
    assert!(!reads_only_english(&ModelIdentity {
        settings: pins.model.clone(),
        onnx_sha256: pins.converted["e5-small"].outputs[0].sha256.clone(),
        tokenizer_sha256: String::new(),
        int8_runtime_sha256: String::new(),
        int8_cpu: String::new(),
    }));
}

#[test]
fn catalogued_models_take_no_conventions_by_hand() {
    let opts = ModelOptions {
        variant: Some("e5-small".into()),
        query_prefix: Some("q: ".into()),
        ..ModelOptions::default()
    };
    let err = chosen_model(&opts).unwrap_err();
    assert_eq!(err.kind(), crate::error::ErrorKind::Usage);
    let opts = ModelOptions {
        variant: Some("e5-large".into()),
        ..ModelOptions::default()
    };
    let err = chosen_model(&opts).unwrap_err().to_string();
    assert!(
        err.contains("e5-small") && err.contains("minilm-int8"),
        "{err}"
    );
}

#[test]
fn user_file_must_exist() {
    let err = user_file(Path::new("/no/such/model.onnx"), "model file").unwrap_err();
    assert!(err.to_string().contains("/no/such/model.onnx"));
    assert_eq!(err.kind(), crate::error::ErrorKind::Model);
}

#[test]
fn stamp_cache_rehashes_after_change() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("x.bin");
    std::fs::write(&f, b"one").unwrap();
    let mut c = StampCache::open(dir.path());
    let a = c.sha256(&f).unwrap().unwrap();
    assert_eq!(a, crate::corpus::sha256_hex(b"one"));
    c.save();
    std::fs::write(&f, b"two!").unwrap();
    let mut c = StampCache::open(dir.path());
    assert_eq!(
        c.sha256(&f).unwrap().unwrap(),
        crate::corpus::sha256_hex(b"two!")
    );
    assert_eq!(c.sha256(&dir.path().join("none")).unwrap(), None);
}

#[test]
fn the_user_cache_follows_xdg_then_home() {
    use std::ffi::OsStr;
    let at = |xdg: Option<&str>, home: Option<&str>| {
        user_cache_dir(xdg.map(OsStr::new), home.map(OsStr::new))
    };
    assert_eq!(
        at(Some("/c"), Some("/h")),
        Some(PathBuf::from("/c/qasearch"))
    );
    // A relative XDG_CACHE_HOME is invalid by the XDG rules: ignored.
    assert_eq!(
        at(Some("rel"), Some("/h")),
        Some(PathBuf::from("/h/.cache/qasearch"))
    );
    assert_eq!(
        at(None, Some("/h")),
        Some(PathBuf::from("/h/.cache/qasearch"))
    );
    assert_eq!(at(Some(""), Some("")), None);
    assert_eq!(at(None, None), None);
}
