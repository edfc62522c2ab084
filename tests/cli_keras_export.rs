//! `recurrent export MODEL --output OUT.keras|OUT.h5 [--format keras|h5]` end to end: a
//! model trained or saved by us becomes a Keras file that our importer reads back with
//! the same predictions (Keras itself loads these files:
//! tests/fixtures/check_keras_export.py); a format that cannot be told is a clear error.
#![cfg(feature = "cli")]

use std::path::Path;
use std::process::{Command, Output};

use ndarray::Array2;
use recurrent::interop::{KerasFormat, import_keras_model};
use recurrent::{LayerConfig, Sequential};
use serde_json::json;

const BIN: &str = env!("CARGO_BIN_EXE_recurrent");

fn run(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn model() -> Sequential {
    let configs: Vec<LayerConfig> = serde_json::from_value(json!([
        {"type": "embedding", "input_dim": 50, "output_dim": 4, "mask_zero": true},
        {"type": "bidirectional", "layer": {"type": "gru", "units": 3}},
        {"type": "dense", "units": 1, "activation": "sigmoid"},
    ]))
    .unwrap();
    let mut m = Sequential::from_configs(&configs).unwrap();
    m.build(&[Some(12)]).unwrap();
    m
}

fn ids() -> Array2<i32> {
    Array2::from_shape_fn((3, 12), |(i, t)| {
        if t < i * 2 {
            0
        } else {
            (i * 7 + t * 3) as i32 % 49 + 1
        }
    })
}

#[test]
fn export_writes_keras_files_by_format_or_extension() {
    let dir = tempfile::tempdir().unwrap();
    let mut m = model();
    let src = dir.path().join("m.safetensors");
    m.save(&src).unwrap();
    let want = m.predict(ids(), None).unwrap();
    let src = src.to_str().unwrap();
    for (args, file, format) in [
        (vec!["--format", "keras"], "a.bin", KerasFormat::Archive),
        (vec!["--format", "h5"], "b.bin", KerasFormat::Hdf5),
        (vec![], "c.keras", KerasFormat::Archive),
        (vec![], "sub/d.h5", KerasFormat::Hdf5),
    ] {
        let out_path = dir.path().join(file);
        let out_s = out_path.to_str().unwrap();
        let mut all = vec!["export", src, "--output", out_s];
        all.extend(args);
        let out = run(&all);
        let stdout = text(&out.stdout);
        assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
        assert!(stdout.contains(format.describe()), "{stdout}");
        assert!(stdout.contains("keras.models.load_model"), "{stdout}");
        let imported = import_keras_model(&out_path).unwrap();
        assert_eq!(imported.format, format, "{file}");
        let mut back = imported.model;
        let got = back.predict(ids(), None).unwrap();
        assert_eq!(got, want, "{file}");
    }
}

#[test]
fn library_save_picks_the_format_by_extension_and_load_reads_it_back() {
    let dir = tempfile::tempdir().unwrap();
    let mut m = model();
    let want = m.predict(ids(), None).unwrap();
    for (file, format) in [
        ("m.keras", KerasFormat::Archive),
        ("m.h5", KerasFormat::Hdf5),
    ] {
        let path = dir.path().join(file);
        m.save(&path).unwrap();
        assert_eq!(import_keras_model(&path).unwrap().format, format);
        let mut back = Sequential::load(&path).unwrap();
        assert_eq!(back.predict(ids(), None).unwrap(), want, "{file}");
    }
}

#[test]
fn an_output_whose_format_cannot_be_told_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("m.safetensors");
    model().save(&src).unwrap();
    let out_path = dir.path().join("m.bin");
    let out = run(&[
        "export",
        src.to_str().unwrap(),
        "--output",
        out_path.to_str().unwrap(),
    ]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("m.bin") && stderr.contains("--format"),
        "{stderr}"
    );
    assert!(!out_path.exists());
    // --onnx and --output together are a usage error.
    let out = run(&[
        "export",
        src.to_str().unwrap(),
        "--onnx",
        "x.onnx",
        "--output",
        "y.keras",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(!Path::new("x.onnx").exists());
}
