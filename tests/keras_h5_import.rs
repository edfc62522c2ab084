//! Legacy Keras `.h5` full-model files (Keras 3.15 `model.save("x.h5")`, a
//! `ModelCheckpoint("best-lstm-model.h5")`, tf.keras 2.21) loaded into our `Sequential`
//! predict what Keras predicted; bad files fail naming the file and what is wrong.
//! Fixtures: tests/fixtures/make_keras_h5.py.
#![cfg(feature = "keras")]

use std::path::{Path, PathBuf};

use ndarray::{Array2, ArrayD, IxDyn};
use recurrent::interop::{KerasFormat, import_keras_model, load_keras_h5, load_keras_model};
use recurrent::model::Sequential;
use serde_json::Value;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/keras_h5")
}

/// Largest difference between our `predict` and Keras's, relative to the largest output.
fn max_relative_error(model: &mut Sequential, predictions: &Path) -> f64 {
    let fx: Value = serde_json::from_str(&std::fs::read_to_string(predictions).unwrap()).unwrap();
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
    let want_shape: Vec<usize> = fx["output"]["shape"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_u64().unwrap() as usize)
        .collect();
    assert_eq!(
        y.shape(),
        want_shape.as_slice(),
        "{}",
        predictions.display()
    );
    let scale = want.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    y.iter()
        .zip(&want)
        .fold(0.0f64, |m, (&a, &b)| m.max((a as f64 - b).abs()))
        / scale
}

/// Loads `name.h5` through the content-dispatching entry point and checks `predict`.
fn predicts_as_keras(name: &str, classes: &[&str]) {
    let path = dir().join(format!("{name}.h5"));
    let imported = import_keras_model(&path).unwrap();
    assert_eq!(imported.format, KerasFormat::Hdf5);
    let mut model = imported.model;
    let got: Vec<&str> = model.layers().iter().map(|l| l.class_name()).collect();
    assert_eq!(got, classes, "{name}");
    let err = max_relative_error(&mut model, &dir().join(format!("{name}.predictions.json")));
    println!("{name}: largest relative error vs Keras predict {err:.2e}");
    assert!(err < 1e-5, "{name}: relative error {err:.2e}");
}

#[test]
fn keras3_embedding_lstm_dense() {
    predicts_as_keras("k3_embedding_lstm_dense", &["Embedding", "LSTM", "Dense"]);
}

#[test]
fn keras3_masked_gru_softmax() {
    predicts_as_keras("k3_masked_gru_softmax", &["Embedding", "GRU", "Dense"]);
}

#[test]
fn keras3_simple_rnn_on_floats() {
    predicts_as_keras("k3_simple_rnn_float", &["SimpleRNN", "Dense"]);
}

#[test]
fn keras3_bidirectional_lstm_max_pooling() {
    predicts_as_keras(
        "k3_bilstm_maxpool",
        &["Embedding", "Bidirectional", "GlobalMaxPooling1D", "Dense"],
    );
}

#[test]
fn keras3_stacked_lstm_with_dropout() {
    predicts_as_keras(
        "k3_stacked_lstm_dropout",
        &["Embedding", "LSTM", "Dropout", "LSTM", "Dropout", "Dense"],
    );
}

#[test]
fn keras3_model_checkpoint_file() {
    predicts_as_keras("k3_checkpoint_best_lstm", &["Embedding", "LSTM", "Dense"]);
}

#[test]
fn keras3_functional_chain() {
    predicts_as_keras("k3_functional_chain", &["Embedding", "LSTM", "Dense"]);
}

#[test]
fn tf_keras2_tutorial_model_without_input_layer() {
    predicts_as_keras("tfk_embedding_lstm_dense", &["Embedding", "LSTM", "Dense"]);
    // Keras 2's `batch_input_shape` on the Embedding gave the fixed input length.
    let model = load_keras_h5(dir().join("tfk_embedding_lstm_dense.h5")).unwrap();
    assert_eq!(model.input_shape(), Some(&[Some(9)][..]));
}

#[test]
fn tf_keras2_masked_bidirectional_gru() {
    predicts_as_keras(
        "tfk_masked_bigru_avgpool",
        &[
            "Embedding",
            "Bidirectional",
            "GlobalAveragePooling1D",
            "Dense",
        ],
    );
}

#[test]
fn tf_keras2_model_checkpoint_file() {
    predicts_as_keras("tfk_checkpoint_best_lstm", &["Embedding", "LSTM", "Dense"]);
}

#[test]
fn tf_keras2_functional_chain() {
    predicts_as_keras("tfk_functional_chain", &["Embedding", "GRU", "Dense"]);
}

#[test]
fn keras_archives_load_through_the_same_entry_point() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/keras_import/archive_bigru_sum.keras");
    let imported = import_keras_model(&path).unwrap();
    assert_eq!(imported.format, KerasFormat::Archive);
    assert_eq!(imported.model.layers().len(), 2);
}

/// The error loading fixture `name` (or a path), which must name the file.
fn error_of(path: &Path) -> String {
    let err = load_keras_model(path).unwrap_err().to_string();
    let file = path.file_name().unwrap().to_str().unwrap();
    assert!(err.contains(file), "error does not name {file}: {err}");
    println!("{err}");
    err
}

fn assert_mentions(err: &str, words: &[&str]) {
    for w in words {
        assert!(err.contains(w), "`{w}` not in: {err}");
    }
}

#[test]
fn unsupported_layer_is_named() {
    let err = error_of(&dir().join("bad_flatten.h5"));
    assert_mentions(
        &err,
        &["layer Flatten (`flatten`) is not supported", "model_config"],
    );
}

/// `stateful=True` imports now (issue 24 part 8): the batch size comes from the
/// InputLayer's `batch_shape`, the states start at zero and carry between batches. (The
/// file kept the name it had when stateful models were refused; the refusal of an
/// argument we lack is checked on `return_state` in `interop::keras_config`'s tests.)
#[test]
fn keras3_stateful_lstm_imports_with_zero_states() {
    let mut model = load_keras_h5(dir().join("bad_stateful.h5")).unwrap();
    let config = &model.layer_configs()[0];
    assert_eq!(config["stateful"], true, "{config}");
    assert_eq!(config["batch_size"], 2, "{config}");
    let x = ArrayD::from_shape_fn(IxDyn(&[2, 5, 2]), |d| (d[0] + d[1] + d[2]) as f32 * 0.1);
    let first = model.predict(x.view(), Some(2)).unwrap();
    let second = model.predict(x.view(), Some(2)).unwrap();
    assert_ne!(first, second, "the states carry over to the next batch");
    model.reset_states();
    assert_eq!(model.predict(x.view(), Some(2)).unwrap(), first);
    let e = model.predict(x.view(), Some(1)).unwrap_err().to_string();
    assert!(
        e.contains("batch_size 2") && e.contains("batch of 1"),
        "{e}"
    );
}

#[test]
fn keras3_conv1d_and_max_pooling() {
    predicts_as_keras("k3_conv1d_pool", &["Conv1D", "GlobalMaxPooling1D", "Dense"]);
}

#[test]
fn keras3_lstm_go_backwards() {
    predicts_as_keras("k3_lstm_go_backwards", &["LSTM"]);
}

#[test]
fn functional_model_with_two_inputs_is_rejected() {
    let err = error_of(&dir().join("bad_two_inputs.h5"));
    assert_mentions(&err, &["Functional", "2 inputs", "left", "right"]);
}

#[test]
fn weight_shape_mismatch_names_the_weight() {
    let err = error_of(&dir().join("bad_shape.h5"));
    assert_mentions(&err, &["dense/kernel", "[5, 1]", "[5, 2]"]);
}

#[test]
fn foreign_hdf5_file_is_not_a_model() {
    let err = error_of(&dir().join("bad_foreign.h5"));
    assert_mentions(&err, &["model_config", "not a Keras model"]);
}

#[test]
fn weights_only_file_is_explained() {
    let err = error_of(&dir().join("bad_weights_only.h5"));
    assert_mentions(&err, &["weights-only", "model.save"]);
    let err = error_of(&dir().join("bad_weights_only_k3.weights.h5"));
    assert_mentions(&err, &["Keras 3 weights-only", ".keras"]);
}

#[test]
fn truncated_and_corrupted_files_are_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let good = std::fs::read(dir().join("k3_embedding_lstm_dense.h5")).unwrap();
    for cut in [9, 100, 1000, good.len() / 2, good.len() - 10] {
        let p = tmp.path().join(format!("cut_{cut}.h5"));
        std::fs::write(&p, &good[..cut]).unwrap();
        let err = error_of(&p);
        // Past the superblock, the recorded end of file tells what is missing.
        if cut >= 100 {
            assert_mentions(&err, &["truncated", &format!("has {cut} bytes")]);
        }
    }
    // Flipped bytes all over the file: an error or (where only unused bytes changed) a
    // model, never a panic.
    for start in (64..good.len()).step_by(997) {
        let mut bad = good.clone();
        for b in &mut bad[start..(start + 8).min(good.len())] {
            *b ^= 0xA5;
        }
        let p = tmp.path().join("flipped.h5");
        std::fs::write(&p, &bad).unwrap();
        if let Err(e) = load_keras_model(&p) {
            assert!(e.to_string().contains("flipped.h5"), "{e}");
        }
    }
    let p = tmp.path().join("text.h5");
    std::fs::write(&p, b"hello, not a model").unwrap();
    assert_mentions(&error_of(&p), &["not a Keras model file"]);
    let missing = tmp.path().join("missing.h5");
    error_of(&missing);
}
