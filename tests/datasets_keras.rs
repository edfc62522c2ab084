//! The dataset loaders against Keras's own outputs on synthetic Keras-format files
//! (tests/fixtures/make_keras_datasets.py ran Keras 3's `imdb.load_data` /
//! `reuters.load_data` on them with each argument combination below).
#![cfg(feature = "download")]

use std::path::{Path, PathBuf};

use recurrent::datasets::mt19937::RandomState;
use recurrent::datasets::{
    FileOptions, ImdbOptions, ReutersOptions, SequenceDataset, WordIndex, imdb, reuters,
};
use serde_json::Value;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/datasets")
        .join(name)
}

fn outputs() -> Value {
    let text = std::fs::read_to_string(fixture("keras_outputs.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// Keras kwargs -> (num_words, skip_top, maxlen, seed, start_char, oov_char, index_from).
struct Args {
    num_words: Option<usize>,
    skip_top: usize,
    maxlen: Option<usize>,
    seed: u32,
    start_char: Option<i32>,
    oov_char: Option<i32>,
    index_from: i32,
    test_split: f64,
}

fn args(kwargs: &Value) -> Args {
    let obj = kwargs.as_object().unwrap();
    for key in obj.keys() {
        assert!(
            [
                "num_words",
                "skip_top",
                "maxlen",
                "seed",
                "start_char",
                "oov_char",
                "index_from",
                "test_split"
            ]
            .contains(&key.as_str()),
            "unmapped kwarg {key}"
        );
    }
    let opt_int = |k: &str, default: Option<i64>| match obj.get(k) {
        None => default,
        Some(Value::Null) => None,
        Some(v) => Some(v.as_i64().unwrap()),
    };
    Args {
        num_words: opt_int("num_words", None).map(|v| v as usize),
        skip_top: opt_int("skip_top", Some(0)).unwrap() as usize,
        maxlen: opt_int("maxlen", None).map(|v| v as usize),
        seed: opt_int("seed", Some(113)).unwrap() as u32,
        start_char: opt_int("start_char", Some(1)).map(|v| v as i32),
        oov_char: opt_int("oov_char", Some(2)).map(|v| v as i32),
        index_from: opt_int("index_from", Some(3)).unwrap() as i32,
        test_split: obj.get("test_split").map_or(0.2, |v| v.as_f64().unwrap()),
    }
}

fn seqs(v: &Value) -> Vec<Vec<i32>> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| {
            s.as_array()
                .unwrap()
                .iter()
                .map(|w| w.as_i64().unwrap() as i32)
                .collect()
        })
        .collect()
}

fn labels(v: &Value) -> Vec<i64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_i64().unwrap())
        .collect()
}

fn check_case(what: &str, case: &Value, got: recurrent::Result<SequenceDataset>) {
    let ctx = format!("{what} {}", case["kwargs"]);
    if let Some(err) = case.get("error") {
        let e = got.expect_err(&format!("{ctx}: Keras failed with {err}, we did not"));
        assert!(!e.to_string().is_empty());
        return;
    }
    let got = got.unwrap_or_else(|e| panic!("{ctx}: {e}"));
    let ((xtr, ytr), (xte, yte)) = got.into_tuples();
    assert_eq!(xtr, seqs(&case["x_train"]), "{ctx}: x_train");
    assert_eq!(ytr, labels(&case["y_train"]), "{ctx}: y_train");
    assert_eq!(xte, seqs(&case["x_test"]), "{ctx}: x_test");
    assert_eq!(yte, labels(&case["y_test"]), "{ctx}: y_test");
}

fn imdb_opts(a: &Args, file: &str) -> ImdbOptions {
    ImdbOptions {
        num_words: a.num_words,
        skip_top: a.skip_top,
        maxlen: a.maxlen,
        seed: a.seed,
        start_char: a.start_char,
        oov_char: a.oov_char,
        index_from: a.index_from,
        path: Some(fixture(file)),
        ..ImdbOptions::default()
    }
}

#[test]
fn imdb_matches_keras_for_every_argument_combination() {
    let out = outputs();
    for (key, file) in [
        ("imdb", "imdb_synth.npz"),
        ("imdb_empty_seqs", "imdb_empty_seqs.npz"),
        ("imdb_ndarray_items", "imdb_ndarray_items.npz"),
        ("imdb_numpy_core", "imdb_numpy_core.npz"),
    ] {
        let cases = out[key].as_array().unwrap();
        assert!(!cases.is_empty());
        for case in cases {
            let a = args(&case["kwargs"]);
            check_case(key, case, imdb::load_data(&imdb_opts(&a, file)));
        }
    }
}

#[test]
fn reuters_matches_keras_for_every_argument_combination() {
    let out = outputs();
    let cases = out["reuters"].as_array().unwrap();
    assert!(cases.len() > 10);
    for case in cases {
        let a = args(&case["kwargs"]);
        let opts = ReutersOptions {
            num_words: a.num_words,
            skip_top: a.skip_top,
            maxlen: a.maxlen,
            test_split: a.test_split,
            seed: a.seed,
            start_char: a.start_char,
            oov_char: a.oov_char,
            index_from: a.index_from,
            path: Some(fixture("reuters_synth.npz")),
            ..ReutersOptions::default()
        };
        check_case("reuters", case, reuters::load_data(&opts));
    }
}

#[test]
fn defaults_are_keras_defaults() {
    let i = ImdbOptions::default();
    assert_eq!(
        (
            i.num_words,
            i.skip_top,
            i.maxlen,
            i.seed,
            i.start_char,
            i.oov_char,
            i.index_from
        ),
        (None, 0, None, 113, Some(1), Some(2), 3)
    );
    let r = ReutersOptions::default();
    assert_eq!(r.test_split, 0.2);
    assert_eq!(
        (r.seed, r.start_char, r.oov_char, r.index_from),
        (113, Some(1), Some(2), 3)
    );
    assert_eq!(reuters::get_label_names().len(), 46);
    assert_eq!(reuters::get_label_names()[3], "earn");
}

#[test]
fn numpy_random_state_shuffles_match_numpy() {
    let out = outputs();
    for case in out["shuffles"].as_array().unwrap() {
        let seed = case["seed"].as_u64().unwrap() as u32;
        let n = case["n"].as_u64().unwrap() as usize;
        let want: Vec<usize> = case["perm"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as usize)
            .collect();
        assert_eq!(
            RandomState::new(seed).shuffled_indices(n),
            want,
            "seed {seed} n {n}"
        );
    }
    // IMDB-sized: train then test indices from the same generator.
    let sized = &out["imdb_sized"];
    let mut rng = RandomState::new(113);
    let a = rng.shuffled_indices(25_000);
    let b = rng.shuffled_indices(25_000);
    let as_vec = |v: &Value| -> Vec<usize> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_u64().unwrap() as usize)
            .collect()
    };
    assert_eq!(a[..50], as_vec(&sized["train_head"])[..]);
    assert_eq!(a[25_000 - 50..], as_vec(&sized["train_tail"])[..]);
    assert_eq!(b[..50], as_vec(&sized["test_head"])[..]);
    assert_eq!(b[25_000 - 50..], as_vec(&sized["test_tail"])[..]);
}

#[test]
fn word_index_and_decode_match_the_tutorial() {
    let out = outputs();
    let d = &out["decode"];
    let opts = FileOptions {
        path: Some(fixture("word_index_synth.json")),
        ..FileOptions::default()
    };
    let wi: WordIndex = imdb::get_word_index(&opts).unwrap();
    assert_eq!(wi.len() as u64, d["word_index_len"].as_u64().unwrap());
    assert_eq!(wi.get("the"), d["the"].as_i64());
    assert!(wi.get("caf\u{e9}").is_some());
    let ids: Vec<i32> = d["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_i64().unwrap() as i32)
        .collect();
    assert_eq!(wi.reverse(3).decode(&ids), d["text"].as_str().unwrap());
    assert_eq!(
        recurrent::datasets::decode_review(&ids, &wi, 3),
        d["text"].as_str().unwrap()
    );
    // The same file read through reuters' entry point.
    assert_eq!(reuters::get_word_index(&opts).unwrap(), wi);
}
