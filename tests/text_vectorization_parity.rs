//! TextVectorization against keras.layers.TextVectorization (Keras 3.15.1, TensorFlow
//! backend): vocabularies and outputs stored by tests/fixtures/make_preprocessing.py.

use recurrent::text::{Standardize, TextVectorization, TextVectorizationConfig};
use serde_json::Value;

fn fixture() -> Value {
    let path = format!(
        "{}/tests/fixtures/preprocessing/text_vectorization.json",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

fn rows(v: &Value) -> Vec<Vec<i32>> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r.as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_i64().unwrap() as i32)
                .collect()
        })
        .collect()
}

fn dense(a: &ndarray::Array2<i32>) -> Vec<Vec<i32>> {
    a.rows().into_iter().map(|r| r.to_vec()).collect()
}

#[test]
fn vocabularies_and_outputs_match_keras() {
    let f = fixture();
    let sentences = strings(&f["sentences"]);
    let test_texts = strings(&f["test_texts"]);
    let cases = f["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 8);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let standardize: Standardize = if case["standardize"].is_null() {
            Standardize::None
        } else {
            serde_json::from_value(case["standardize"].clone()).unwrap()
        };
        let config = TextVectorizationConfig {
            max_tokens: case["max_tokens"].as_u64().map(|m| m as usize),
            standardize,
            strip_html_breaks: case["strip_html_breaks"].as_bool().unwrap(),
            output_sequence_length: case["output_sequence_length"].as_u64().map(|m| m as usize),
        };
        let mut tv = TextVectorization::new(config).unwrap();
        tv.adapt(&sentences);
        assert_eq!(
            tv.get_vocabulary(),
            strings(&case["vocabulary"]).as_slice(),
            "vocabulary of case {name}"
        );
        assert_eq!(
            dense(&tv.vectorize(&sentences)),
            rows(&case["train_output"]),
            "train output of case {name}"
        );
        assert_eq!(
            dense(&tv.vectorize(&test_texts)),
            rows(&case["test_output"]),
            "test output of case {name}"
        );
        // Ragged output is the dense one without the trailing padding.
        let ragged = tv.vectorize_ragged(&test_texts);
        for (r, d) in ragged.iter().zip(rows(&case["test_output"])) {
            assert_eq!(r.as_slice(), &d[..r.len()], "ragged row of case {name}");
            assert!(d[r.len()..].iter().all(|&x| x == 0));
        }
        // A saved and reloaded layer gives the same ids.
        let back = TextVectorization::from_json(&tv.to_json().unwrap()).unwrap();
        assert_eq!(back.vectorize(&test_texts), tv.vectorize(&test_texts));
    }
}
