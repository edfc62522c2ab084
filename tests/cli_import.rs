//! The `recurrent` binary on Keras model files: `import` to our model file, and
//! `predict`, `evaluate`, `summary` taking `.h5` / `.keras` files directly. Fixtures:
//! tests/fixtures/make_keras_h5.py.
#![cfg(feature = "cli")]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_recurrent");

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn run(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "stdout: {}\nstderr: {}",
        text(&o.stdout),
        text(&o.stderr)
    );
    text(&o.stdout)
}

fn failed(o: &Output) -> String {
    assert_eq!(o.status.code(), Some(1), "stdout: {}", text(&o.stdout));
    text(&o.stderr)
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Keras's first-row input and output of a predictions fixture.
fn first_row(name: &str) -> (String, f64) {
    let fx: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(fixture(&format!("keras_h5/{name}.predictions.json"))).unwrap(),
    )
    .unwrap();
    let steps = fx["input"]["shape"][1].as_u64().unwrap() as usize;
    let ids: Vec<String> = fx["input"]["data"].as_array().unwrap()[..steps]
        .iter()
        .map(|v| v.to_string())
        .collect();
    (ids.join(" "), fx["output"]["data"][0].as_f64().unwrap())
}

/// `predict --json` of one id sequence: the probability of class 1.
fn predicted_probability(model: &Path, ids: &str) -> f64 {
    let out = ok(&run(&["predict", s(model), ids, "--json"]));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let p = v[0]["probability"].as_f64().unwrap();
    if v[0]["class"] == 1 { p } else { 1.0 - p }
}

#[test]
fn import_writes_a_model_that_predicts_as_keras() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("best.safetensors");
    let h5 = fixture("keras_h5/tfk_checkpoint_best_lstm.h5");
    let stdout = ok(&run(&["import", s(&h5), "--output", s(&out)]));
    for w in [
        "Total params: 613",
        "Keras 2.21.0",
        "written to",
        "best.safetensors",
    ] {
        assert!(stdout.contains(w), "`{w}` not in {stdout}");
    }
    let (ids, want) = first_row("tfk_checkpoint_best_lstm");
    let from_h5 = predicted_probability(&h5, &ids);
    let from_ours = predicted_probability(&out, &ids);
    assert_eq!(from_h5, from_ours);
    assert!((from_h5 - want).abs() < 1e-5, "{from_h5} vs Keras {want}");
    let summary = ok(&run(&["summary", s(&out)]));
    assert!(summary.contains("Saved "), "{summary}");
}

#[test]
fn predict_takes_h5_and_keras_files_directly() {
    let h5 = fixture("keras_h5/k3_embedding_lstm_dense.h5");
    let (ids, want) = first_row("k3_embedding_lstm_dense");
    let got = predicted_probability(&h5, &ids);
    assert!((got - want).abs() < 1e-5, "{got} vs Keras {want}");
    // Float input: 7 steps x 3 features, comma-separated.
    let rnn = fixture("keras_h5/k3_simple_rnn_float.h5");
    let values: Vec<String> = (0..21).map(|i| format!("{}", i as f32 / 10.0)).collect();
    let out = ok(&run(&["predict", s(&rnn), &values.join(",")]));
    assert_eq!(out.lines().count(), 1, "{out}");
    let err = failed(&run(&["predict", s(&rnn), "1,2,3"]));
    assert!(err.contains("7 steps x 3 features"), "{err}");
    let archive = fixture("keras_import/archive_embedding_bilstm_maxpool.keras");
    let out = ok(&run(&["predict", s(&archive), "1 2 3", "4 5 6 7"]));
    assert_eq!(out.lines().count(), 2, "{out}");
}

#[test]
fn raw_text_into_a_keras_model_says_it_takes_token_ids() {
    let h5 = fixture("keras_h5/k3_embedding_lstm_dense.h5");
    let err = failed(&run(&["predict", s(&h5), "what a great movie"]));
    for w in [
        "`what` is not a token id",
        "token ids",
        "not raw text",
        "k3_embedding_lstm_dense.h5",
    ] {
        assert!(err.contains(w), "`{w}` not in {err}");
    }
}

#[test]
fn summary_names_the_keras_file() {
    let out = ok(&run(&[
        "summary",
        s(&fixture("keras_h5/tfk_masked_bigru_avgpool.h5")),
    ]));
    assert!(
        out.contains("Total params: 441") && out.contains("Keras 2.21.0"),
        "{out}"
    );
    let out = ok(&run(&[
        "summary",
        s(&fixture("keras_import/archive_bigru_sum.keras")),
    ]));
    assert!(out.contains("Keras .keras archive"), "{out}");
}

#[test]
fn evaluate_uses_the_keras_loss_and_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("data.toml");
    std::fs::write(
        &cfg,
        r#"
[data]
source = "generated"
task = "sentiment"
samples = 200
num_words = 50
maxlen = 10
seed = 7

[model]
layers = [{ type = "dense", units = 1 }]

[compile]
optimizer = "rmsprop"
loss = "binary_crossentropy"
"#,
    )
    .unwrap();
    let h5 = fixture("keras_h5/k3_checkpoint_best_lstm.h5");
    let out = ok(&run(&["evaluate", s(&h5), "--data", s(&cfg), "--json"]));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(
        v["loss"].as_f64().unwrap() > 0.0 && v["accuracy"].is_number(),
        "{out}"
    );
    // Saved before compile: no loss to evaluate with.
    let plain = fixture("keras_h5/k3_embedding_lstm_dense.h5");
    let err = failed(&run(&["evaluate", s(&plain), "--data", s(&cfg)]));
    assert!(err.contains("before `compile`"), "{err}");
}

#[test]
fn import_errors_name_the_file_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("m.safetensors");
    let err = failed(&run(&[
        "import",
        s(&fixture("keras_h5/bad_flatten.h5")),
        "-o",
        s(&out),
    ]));
    assert!(
        err.contains("bad_flatten.h5")
            && err.contains("layer Flatten (`flatten`) is not supported"),
        "{err}"
    );
    assert!(!out.exists());
    let err = failed(&run(&[
        "import",
        s(&fixture("keras_h5/k3_simple_rnn_float.h5")),
        "-o",
        s(&dir.path().join("m.h5")),
    ]));
    assert!(
        err.contains("--output") && err.contains(".safetensors"),
        "{err}"
    );
    let notes = dir.path().join("notes.txt");
    std::fs::write(&notes, "hello").unwrap();
    let err = failed(&run(&["import", s(&notes), "-o", s(&out)]));
    assert!(
        err.contains("notes.txt") && err.contains("not a Keras model file"),
        "{err}"
    );
}
