//! `recurrent export MODEL --onnx OUT.onnx` end to end: a saved model becomes a valid
//! ONNX file, refused models print one error line and write nothing.
#![cfg(feature = "cli")]

use std::path::Path;
use std::process::{Command, Output};

use prost::Message;
use recurrent::interop::onnx::proto::ModelProto;
use recurrent::{LayerConfig, Sequential};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_recurrent");

fn run(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn save(dir: &Path, name: &str, layers: Value) -> String {
    let configs: Vec<LayerConfig> = serde_json::from_value(layers).unwrap();
    let mut m = Sequential::from_configs(&configs).unwrap();
    m.build(&[Some(12)]).unwrap();
    let p = dir.join(name);
    m.save(&p).unwrap();
    p.to_str().unwrap().to_string()
}

#[test]
fn export_writes_an_onnx_model_and_reports_it() {
    let dir = tempfile::tempdir().unwrap();
    let model = save(
        dir.path(),
        "m.safetensors",
        json!([
            {"type": "embedding", "input_dim": 50, "output_dim": 4},
            {"type": "bidirectional", "layer": {"type": "gru", "units": 3}},
            {"type": "dense", "units": 1, "activation": "sigmoid"},
        ]),
    );
    let out_path = dir.path().join("out").join("m.onnx");
    let out = run(&["export", &model, "--onnx", out_path.to_str().unwrap()]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("opset 17"), "{stdout}");
    assert!(stdout.contains("`input_ids` int64 [batch, 12]"), "{stdout}");
    assert!(stdout.contains("float32 [batch, 1]"), "{stdout}");
    let proto = ModelProto::decode(std::fs::read(&out_path).unwrap().as_slice()).unwrap();
    assert_eq!(proto.opset_import[0].version, Some(17));
    let g = proto.graph.unwrap();
    assert!(g.node.iter().any(|n| n.op_type.as_deref() == Some("GRU")));
}

#[test]
fn refused_export_prints_the_layer_and_argument_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let model = save(
        dir.path(),
        "masked.safetensors",
        json!([
            {"type": "embedding", "input_dim": 50, "output_dim": 4, "mask_zero": true},
            {"type": "lstm", "units": 3},
        ]),
    );
    let out_path = dir.path().join("masked.onnx");
    let out = run(&["export", &model, "--onnx", out_path.to_str().unwrap()]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.starts_with("error: "), "{stderr}");
    assert!(
        stderr.contains("mask_zero=True") && stderr.contains("`lstm`"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(!out_path.exists());
}

#[test]
fn missing_model_or_flag_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.safetensors");
    let out_path = dir.path().join("x.onnx");
    let out = run(&[
        "export",
        missing.to_str().unwrap(),
        "--onnx",
        out_path.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("nope.safetensors"));
    assert!(!out_path.exists());
    // Without --onnx there is nothing to export to: a usage error (clap's status 2).
    let out = run(&["export", missing.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("--onnx"));
}
