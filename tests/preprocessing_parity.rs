//! pad_sequences, to_categorical and length statistics against outputs of Keras 3.15.1
//! and numpy stored by tests/fixtures/make_preprocessing.py.

use recurrent::preprocessing::{
    LengthStats, PadOptions, Padding, Truncating, pad_sequences, pad_sequences_with, to_categorical,
};
use serde_json::Value;

fn fixture(name: &str) -> Value {
    let path = format!(
        "{}/tests/fixtures/preprocessing/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

fn int_rows(v: &Value) -> Vec<Vec<i64>> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r.as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_i64().unwrap())
                .collect()
        })
        .collect()
}

fn to_rows<T: Copy + Into<f64>>(a: &ndarray::Array2<T>) -> Vec<Vec<f64>> {
    a.rows()
        .into_iter()
        .map(|r| r.iter().map(|&x| x.into()).collect())
        .collect()
}

#[test]
fn pad_sequences_matches_keras_for_every_combination() {
    let f = fixture("pad_sequences.json");
    let seqs: Vec<Vec<i32>> = int_rows(&f["sequences"])
        .into_iter()
        .map(|r| r.into_iter().map(|x| x as i32).collect())
        .collect();
    let cases = f["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 48);
    for case in cases {
        let maxlen = case["maxlen"].as_u64().map(|m| m as usize);
        let padding: Padding = case["padding"].as_str().unwrap().parse().unwrap();
        let truncating: Truncating = case["truncating"].as_str().unwrap().parse().unwrap();
        let value = case["value"].as_i64().unwrap() as i32;
        let out = pad_sequences(&seqs, maxlen, padding, truncating, value).unwrap();
        let want: Vec<Vec<f64>> = int_rows(&case["output"])
            .into_iter()
            .map(|r| r.into_iter().map(|x| x as f64).collect())
            .collect();
        assert_eq!(to_rows(&out), want, "case {case}");
    }
    let out = pad_sequences_with(&seqs, &PadOptions::default()).unwrap();
    let want: Vec<Vec<f64>> = int_rows(&f["default_output"])
        .into_iter()
        .map(|r| r.into_iter().map(|x| x as f64).collect())
        .collect();
    assert_eq!(to_rows(&out), want);
}

#[test]
fn to_categorical_matches_keras() {
    let f = fixture("to_categorical.json");
    for case in f["cases"].as_array().unwrap() {
        let labels: Vec<i64> = case["labels"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_i64().unwrap())
            .collect();
        let num_classes = case["num_classes"].as_u64().map(|n| n as usize);
        let out = to_categorical(&labels, num_classes).unwrap();
        let want: Vec<Vec<f64>> = case["output"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                r.as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x.as_f64().unwrap())
                    .collect()
            })
            .collect();
        assert_eq!(to_rows(&out), want, "case {case}");
    }
}

#[test]
fn length_stats_match_numpy() {
    let f = fixture("length_stats.json");
    for case in f["cases"].as_array().unwrap() {
        let lengths: Vec<usize> = case["lengths"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_u64().unwrap() as usize)
            .collect();
        let s = LengthStats::from_lengths(&lengths).unwrap();
        assert_eq!(s.mean, case["mean"].as_f64().unwrap(), "mean {lengths:?}");
        assert_eq!(
            s.median,
            case["median"].as_f64().unwrap(),
            "median {lengths:?}"
        );
        let std = case["std"].as_f64().unwrap();
        assert!(
            (s.std - std).abs() <= 1e-12 * std.max(1.0),
            "std {lengths:?}"
        );
        assert_eq!(s.min, *lengths.iter().min().unwrap());
        assert_eq!(s.max, *lengths.iter().max().unwrap());
        for (q, want) in case["percentiles"].as_object().unwrap() {
            let q: f64 = q.parse().unwrap();
            assert_eq!(
                s.percentile(q).unwrap(),
                want.as_f64().unwrap(),
                "percentile {q} of {lengths:?}"
            );
        }
        for (bins, want) in case["histograms"].as_object().unwrap() {
            let h = s.histogram(bins.parse().unwrap()).unwrap();
            let counts: Vec<usize> = want["counts"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_u64().unwrap() as usize)
                .collect();
            let edges: Vec<f64> = want["edges"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap())
                .collect();
            assert_eq!(h.counts, counts, "{bins} bins of {lengths:?}");
            assert_eq!(h.edges, edges, "{bins} edges of {lengths:?}");
        }
        for (m, want) in case["fraction_at_most"].as_object().unwrap() {
            assert_eq!(
                s.fraction_at_most(m.parse().unwrap()),
                want.as_f64().unwrap(),
                "fraction <= {m} of {lengths:?}"
            );
        }
    }
}
