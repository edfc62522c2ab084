//! Keras 3 `config.json` (from a `.keras` archive) to a `Sequential` of ours: the same
//! layers, parameter count and output shape as Keras reported, and errors naming what
//! is not implemented. Fixtures: tests/fixtures/make_keras_configs.py.
#![cfg(feature = "keras")]

use std::path::PathBuf;

use ndarray::{Array2, ArrayD, IxDyn};
use recurrent::interop::{load_keras_archive, parse_keras_config};
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

/// go_backwards is imported (it used to be rejected) and kept in the saved config.
#[test]
fn go_backwards_is_imported() {
    let (model, _) = import("go_backwards_stack");
    for layer in model.layers() {
        assert_eq!(layer.config()["go_backwards"], true, "{}", layer.name());
    }
}

/// Embedding -> Conv1D -> MaxPooling1D -> LSTM -> Dense: Keras's parameter count and
/// output shape (the shared `import` checks both).
#[test]
fn conv1d_text_model() {
    let (model, _) = import("conv1d_text");
    let classes: Vec<&str> = model.layers().iter().map(|l| l.class_name()).collect();
    assert_eq!(
        classes,
        ["Embedding", "Conv1D", "MaxPooling1D", "LSTM", "Dense"]
    );
    let summary = model.summary();
    assert!(summary.contains("(None, 36, 32)"), "{summary}");
    assert!(summary.contains("(None, 18, 32)"), "{summary}");
}

/// TimeDistributed(Dense), Conv1D with causal/dilated and strided same padding,
/// MaxPooling1D with overlapping same windows: Keras's count and output shape.
#[test]
fn time_distributed_and_conv_stack() {
    let (model, _) = import("time_distributed_conv_stack");
    let names: Vec<String> = model.weight_shapes().into_iter().map(|(n, _)| n).collect();
    assert!(
        names
            .iter()
            .any(|n| n.starts_with("time_distributed/dense") && n.ends_with("/kernel")),
        "{names:?}"
    );
}

/// `stateful=True` imports (issue 24 part 8; the fixture kept its old name): the
/// batch size comes from the Input's `batch_shape`. A refused argument is named in
/// `interop::keras_config`'s tests (`return_state`).
#[test]
fn stateful_lstm_config_imports() {
    let fx = fixture("unsupported_stateful");
    let parsed = parse_keras_config(&fx["config"].to_string()).unwrap();
    assert_eq!(parsed.layers[0].stateful_batch_size(), Some(2));
    parsed.to_model().unwrap();
}

#[test]
fn unsupported_layers_and_arguments_are_named() {
    for (name, words) in [("unsupported_flatten", ["Flatten", "flatten"])] {
        let fx = fixture(name);
        let err = parse_keras_config(&fx["config"].to_string())
            .unwrap_err()
            .to_string();
        for w in words {
            assert!(err.contains(w), "{name}: {err}");
        }
    }
    let two_inputs = r#"{"class_name": "Functional", "config": {"layers": [],
        "input_layers": [["a", 0, 0], ["b", 0, 0]], "output_layers": [["c", 0, 0]]}}"#;
    let err = parse_keras_config(two_inputs).unwrap_err().to_string();
    assert!(
        err.contains("Functional") && err.contains("2 inputs (a, b)"),
        "{err}"
    );
    let err = parse_keras_config(r#"{"class_name": "MyModel", "config": {}}"#)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("Sequential") && err.contains("MyModel"),
        "{err}"
    );
    let err = parse_keras_config("{not json").unwrap_err().to_string();
    assert!(err.contains("config.json"), "{err}");
}

/// Loads a `.keras` archive and compares `predict` with Keras's predictions.
fn archive_predictions_match(name: &str) -> f64 {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/keras_import");
    let mut model = load_keras_archive(dir.join(format!("{name}.keras"))).unwrap();
    let fx: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join(format!("{name}.predictions.json"))).unwrap(),
    )
    .unwrap();
    let shape: Vec<usize> = fx["input"]["shape"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_u64().unwrap() as usize)
        .collect();
    let data = fx["input"]["data"].as_array().unwrap();
    let y = if fx["input"]["dtype"] == "int32" {
        let ids: Vec<i32> = data.iter().map(|v| v.as_i64().unwrap() as i32).collect();
        let ids = Array2::from_shape_vec((shape[0], shape[1]), ids).unwrap();
        model.predict(&ids, None).unwrap()
    } else {
        let x: Vec<f32> = data.iter().map(|v| v.as_f64().unwrap() as f32).collect();
        let x = ArrayD::from_shape_vec(IxDyn(&shape), x).unwrap();
        model.predict(x.view(), None).unwrap()
    };
    let want: Vec<f64> = fx["output"]["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert_eq!(y.len(), want.len(), "{name}");
    let scale = want.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let err = y
        .iter()
        .zip(&want)
        .fold(0.0f64, |m, (&a, &b)| m.max((a as f64 - b).abs()))
        / scale;
    println!("{name}: largest relative error vs Keras predict {err:.2e}");
    assert!(err < 1e-5, "{name}: relative error {err:.2e}");
    err
}

#[test]
fn keras_archive_float_models_predict_as_keras() {
    archive_predictions_match("archive_rnn_gru_avgpool");
    archive_predictions_match("archive_bigru_sum");
}

#[test]
fn keras_archive_masked_model_predicts_as_keras() {
    archive_predictions_match("archive_embedding_bilstm_maxpool");
}

/// Embedding(mask_zero) -> Conv1D (drops the mask) -> MaxPooling1D -> LSTM(go_backwards).
#[test]
fn keras_archive_conv1d_model_predicts_as_keras() {
    archive_predictions_match("archive_embedding_conv1d_pool_lstm");
}

#[test]
fn keras_archive_errors_name_the_file() {
    let dir = std::env::temp_dir().join(format!("recurrent-keras-import-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("not_a_zip.keras");
    std::fs::write(&bad, b"hello").unwrap();
    let err = load_keras_archive(&bad).unwrap_err().to_string();
    assert!(
        err.contains("not_a_zip.keras") && err.contains("zip"),
        "{err}"
    );
    let missing = dir.join("missing.keras");
    let err = load_keras_archive(&missing).unwrap_err().to_string();
    assert!(err.contains("missing.keras"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A small archive whose `config.json` inflates to 100 MB of spaces (a zip bomb in
/// miniature) is refused from its declared size, before 100 MB are read; a 6 MB one
/// inflating to 6 GB was read whole.
#[test]
fn keras_archive_config_bomb_is_refused() {
    use std::io::Write;
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("bomb.keras");
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .large_file(true);
    zip.start_file("config.json", opts).unwrap();
    let chunk = vec![b' '; 1 << 20];
    for _ in 0..100 {
        zip.write_all(&chunk).unwrap();
    }
    zip.start_file("model.weights.h5", opts).unwrap();
    zip.write_all(b"not read").unwrap();
    zip.finish().unwrap();
    assert!(std::fs::metadata(&path).unwrap().len() < 1 << 20);
    let err = load_keras_archive(&path).unwrap_err().to_string();
    assert!(
        err.contains("bomb.keras") && err.contains("config.json declares 104857600 bytes"),
        "{err}"
    );
}
