//! Keras 3 `config.json` (from a `.keras` archive) to a `Sequential` of ours: the same
//! layers, parameter count and output shape as Keras reported, and errors naming what
//! is not implemented. Fixtures: tests/fixtures/make_keras_configs.py.

use std::path::PathBuf;

use recurrent::interop::parse_keras_config;
use recurrent::model::Sequential;
use serde_json::Value;

fn fixture(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/keras_import")
        .join(format!("{name}.json"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

/// Imports the fixture's config; returns the built model and the fixture.
fn import(name: &str) -> (Sequential, Value) {
    let fx = fixture(name);
    let parsed = parse_keras_config(&fx["config"].to_string()).unwrap();
    let mut model = Sequential::from_configs(&parsed.layers).unwrap();
    model.build(&parsed.input_shape.unwrap()).unwrap();
    let want = fx["count_params"].as_u64().unwrap() as usize;
    assert_eq!(model.count_params(), want, "{name}: parameter count");
    let shape: Vec<Option<usize>> = fx["output_shape"].as_array().unwrap()[1..]
        .iter()
        .map(|d| d.as_u64().map(|v| v as usize))
        .collect();
    assert_eq!(model.output_shape().unwrap(), shape.as_slice(), "{name}");
    (model, fx)
}

#[test]
fn imdb_bidirectional_lstm_with_max_pooling() {
    let (model, _) = import("imdb_bidirectional");
    let names: Vec<String> = model.weight_shapes().into_iter().map(|(n, _)| n).collect();
    assert!(
        names.contains(&"bidirectional/forward_lstm/kernel".to_string())
            && names.contains(&"bidirectional/backward_lstm/bias".to_string()),
        "{names:?}"
    );
    let classes: Vec<&str> = model.layers().iter().map(|l| l.class_name()).collect();
    assert_eq!(
        classes,
        ["Embedding", "Bidirectional", "GlobalMaxPooling1D", "Dense"]
    );
}

#[test]
fn float_stack_with_pooling_and_dropout() {
    let (model, _) = import("float_stack");
    let classes: Vec<&str> = model.layers().iter().map(|l| l.class_name()).collect();
    assert_eq!(
        classes,
        [
            "SimpleRNN",
            "GRU",
            "GlobalAveragePooling1D",
            "Dropout",
            "Dense"
        ]
    );
}

#[test]
fn bidirectional_gru_sum() {
    import("bidirectional_gru_sum");
}

#[test]
fn unsupported_layers_and_arguments_are_named() {
    for (name, words) in [
        ("unsupported_go_backwards", ["go_backwards", "lstm"]),
        ("unsupported_conv1d", ["Conv1D", "conv1d"]),
    ] {
        let fx = fixture(name);
        let err = parse_keras_config(&fx["config"].to_string())
            .unwrap_err()
            .to_string();
        for w in words {
            assert!(err.contains(w), "{name}: {err}");
        }
    }
    let err = parse_keras_config(r#"{"class_name": "Functional", "config": {}}"#)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("Sequential") && err.contains("Functional"),
        "{err}"
    );
    let err = parse_keras_config("{not json").unwrap_err().to_string();
    assert!(err.contains("config.json"), "{err}");
}
