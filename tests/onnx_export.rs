//! ONNX export: small models with random weights are exported, run by tract (an
//! independent ONNX runtime) and compared with `Sequential::predict`, and what cannot be
//! exported exactly is refused with an error naming the layer and the argument.
#![cfg(feature = "onnx")]

use std::path::Path;

use ndarray::{Array2, Array3, ArrayD};
use recurrent::interop::onnx::{self, OPSET_VERSION, proto};
use recurrent::{LayerConfig, Sequential};
use serde_json::{Value, json};

use prost::Message;
use tract_onnx::pb::NodeProto;
use tract_onnx::prelude::*;
use tract_onnx::tract_hir::internal::{InferenceOp, bail, ensure, expand};
use tract_onnx::tract_hir::tract_core::ops::{math, nn};

const TOLERANCE: f32 = 1e-5;
const BATCH: usize = 3;
const STEPS: usize = 6;

/// Deterministic values in [-0.5, 0.5) (an LCG: no dependency on an RNG crate's API).
fn uniform(seed: u64, n: usize) -> Vec<f32> {
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32) - 0.5
        })
        .collect()
}

/// A built model from JSON layer configs, every weight (biases too, so their placement
/// is checked) replaced by random values.
fn model(layers: Value, input_shape: &[Option<usize>], seed: u64) -> Sequential {
    let configs: Vec<LayerConfig> = serde_json::from_value(layers).unwrap();
    let mut m = Sequential::from_configs_with_seed(&configs, seed).unwrap();
    m.build(input_shape).unwrap();
    let weights: Vec<(String, ArrayD<f32>)> = m
        .get_weights()
        .into_iter()
        .enumerate()
        .map(|(i, (name, w))| {
            let v = uniform(seed * 1000 + i as u64, w.len());
            (name, ArrayD::from_shape_vec(w.raw_dim(), v).unwrap())
        })
        .collect();
    m.set_weights(&weights).unwrap();
    m
}

enum Input {
    Ids(Array2<i32>),
    Floats(ArrayD<f32>),
}

fn ids(vocab: usize, seed: u64) -> Input {
    let v = uniform(seed, BATCH * STEPS);
    let ids = v
        .iter()
        .map(|x| (((x + 0.5) * vocab as f32) as i32).min(vocab as i32 - 1))
        .collect();
    Input::Ids(Array2::from_shape_vec((BATCH, STEPS), ids).unwrap())
}

fn floats(features: usize, seed: u64) -> Input {
    let v = uniform(seed, BATCH * STEPS * features)
        .into_iter()
        .map(|x| 2.0 * x)
        .collect();
    Input::Floats(
        Array3::from_shape_vec((BATCH, STEPS, features), v)
            .unwrap()
            .into_dyn(),
    )
}

/// tract's own RNN/LSTM/GRU parsers always use the default activations and ignore the
/// `activations` attribute; these read it, so non-default activations (SimpleRNN relu)
/// are checked too. Everything else is tract's stock ONNX support.
fn activation(name: &str) -> TractResult<Box<dyn TypedOp>> {
    Ok(match name {
        "Tanh" => Box::new(math::tanh()),
        "Sigmoid" => Box::new(nn::sigmoid()),
        "Relu" => Box::new(nn::leaky_relu(0.0)),
        other => bail!("test runtime: activation {other} not mapped"),
    })
}

fn activations(pb: &NodeProto, n: usize) -> TractResult<Vec<Box<dyn TypedOp>>> {
    let names: Vec<String> = pb.get_attr_opt_vec("activations")?.unwrap_or_default();
    ensure!(
        names.len() >= n,
        "activations attribute has {} entries",
        names.len()
    );
    // Bidirectional nodes list both directions; the exporter writes them equal.
    ensure!(names.len() == n || names[..n] == names[n..2 * n]);
    names[..n].iter().map(|s| activation(s)).collect()
}

type Parsed = TractResult<(Box<dyn InferenceOp>, Vec<String>)>;

fn rnn_op(_: &tract_onnx::model::ParsingContext, pb: &NodeProto) -> Parsed {
    use tract_onnx::ops::rec::{common::CommonRec, rnn::RNN};
    let mut a = activations(pb, 1)?;
    let f = a.remove(0);
    let body = RNN {
        fore: f.clone(),
        back: f,
    };
    let common = CommonRec::from_node_and_options(pb, 3, 0, Box::new(body))?;
    Ok((expand(common), vec![]))
}

fn gru_op(_: &tract_onnx::model::ParsingContext, pb: &NodeProto) -> Parsed {
    use tract_onnx::ops::rec::{common::CommonRec, gru::GRU};
    let mut a = activations(pb, 2)?;
    let (f, g) = (a.remove(0), a.remove(0));
    let body = GRU {
        f,
        g,
        linear_before_reset: pb.get_attr("linear_before_reset").unwrap_or(false),
    };
    let common = CommonRec::from_node_and_options(pb, 3, 0, Box::new(body))?;
    Ok((expand(common), vec![]))
}

fn lstm_op(_: &tract_onnx::model::ParsingContext, pb: &NodeProto) -> Parsed {
    use tract_onnx::ops::rec::{common::CommonRec, lstm::LSTM};
    let mut a = activations(pb, 3)?;
    let (f, g, h) = (a.remove(0), a.remove(0), a.remove(0));
    let common = CommonRec::from_node_and_options(pb, 3, 0, Box::new(LSTM { f, g, h }))?;
    Ok((expand(common), vec![]))
}

fn run_tract(bytes: &[u8], input: &Input) -> ArrayD<f32> {
    let mut framework = tract_onnx::onnx();
    framework.op_register.insert("RNN", rnn_op);
    framework.op_register.insert("GRU", gru_op);
    framework.op_register.insert("LSTM", lstm_op);
    let (fact, value): (InferenceFact, Tensor) = match input {
        Input::Ids(x) => (
            InferenceFact::dt_shape(i64::datum_type(), x.shape()),
            x.mapv(i64::from).into_dyn().into(),
        ),
        Input::Floats(x) => (
            InferenceFact::dt_shape(f32::datum_type(), x.shape()),
            x.clone().into(),
        ),
    };
    let plan = framework
        .model_for_read(&mut &bytes[..])
        .expect("tract parses the export")
        .with_input_fact(0, fact)
        .unwrap()
        .into_optimized()
        .expect("tract optimizes the export")
        .into_runnable()
        .unwrap();
    let out = plan
        .run(tvec!(value.into()))
        .expect("tract runs the export");
    out[0].to_plain_array_view::<f32>().unwrap().to_owned()
}

/// Export, run with tract, compare with predict; returns the largest difference.
fn check(case: &str, mut m: Sequential, input: Input) -> f32 {
    let bytes = onnx::to_onnx_bytes(&m).unwrap();
    let ours = match &input {
        Input::Ids(x) => m.predict(x, None).unwrap(),
        Input::Floats(x) => m.predict(x, None).unwrap(),
    };
    if let Ok(dir) = std::env::var("RECURRENT_ONNX_DUMP") {
        dump(Path::new(&dir), case, &bytes, &input, &ours);
    }
    let theirs = run_tract(&bytes, &input);
    assert_eq!(ours.shape(), theirs.shape(), "{case}: output shapes differ");
    let diff = ours
        .iter()
        .zip(theirs.iter())
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    let scale = ours.iter().map(|v| v.abs()).fold(0.0f32, f32::max);
    println!("{case}: largest |predict - onnx| = {diff:e} (outputs up to {scale:.3})");
    assert!(
        scale > 1e-3,
        "{case}: degenerate outputs would hide a mismatch"
    );
    assert!(diff <= TOLERANCE, "{case}: largest difference {diff:e}");
    diff
}

/// For tests/fixtures/check_onnx_export.py (run by hand, with
/// `RECURRENT_ONNX_DUMP=DIR cargo test --release --test onnx_export`): the exported file
/// and a JSON with the input and `predict`'s output, to check with the ONNX checker and
/// onnxruntime.
fn dump(dir: &Path, case: &str, bytes: &[u8], input: &Input, ours: &ArrayD<f32>) {
    let stem: String = case
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join(format!("{stem}.onnx")), bytes).unwrap();
    let (dtype, shape, values): (&str, Vec<usize>, Vec<f64>) = match input {
        Input::Ids(x) => (
            "int64",
            x.shape().to_vec(),
            x.iter().map(|&v| v as f64).collect(),
        ),
        Input::Floats(x) => (
            "float32",
            x.shape().to_vec(),
            x.iter().map(|&v| v as f64).collect(),
        ),
    };
    let j = json!({
        "case": case,
        "input_dtype": dtype,
        "input_shape": shape,
        "input": values,
        "expected_shape": ours.shape(),
        "expected": ours.iter().copied().collect::<Vec<f32>>(),
    });
    std::fs::write(dir.join(format!("{stem}.json")), j.to_string()).unwrap();
}

fn decode(m: &Sequential) -> proto::ModelProto {
    proto::ModelProto::decode(onnx::to_onnx_bytes(m).unwrap().as_slice()).unwrap()
}

fn ops(m: &proto::ModelProto) -> Vec<String> {
    let g = m.graph.as_ref().unwrap();
    g.node.iter().map(|n| n.op_type.clone().unwrap()).collect()
}

#[test]
fn embedding_lstm_dense_sigmoid() {
    let m = model(
        json!([
            {"type": "embedding", "input_dim": 20, "output_dim": 5},
            {"type": "lstm", "units": 4},
            {"type": "dense", "units": 1, "activation": "sigmoid"},
        ]),
        &[None],
        1,
    );
    let p = decode(&m);
    assert_eq!(p.opset_import[0].version, Some(OPSET_VERSION));
    let g = p.graph.as_ref().unwrap();
    assert_eq!(g.input[0].name.as_deref(), Some("input_ids"));
    assert_eq!(g.output[0].name.as_deref(), Some("output"));
    assert_eq!(
        ops(&p),
        [
            "Gather",
            "Transpose",
            "LSTM",
            "Squeeze",
            "MatMul",
            "Add",
            "Sigmoid"
        ]
    );
    check("Embedding+LSTM+Dense(sigmoid)", m, ids(20, 11));
}

#[test]
fn embedding_gru_reset_after_dense_softmax() {
    let m = model(
        json!([
            {"type": "embedding", "input_dim": 30, "output_dim": 6},
            {"type": "gru", "units": 5},
            {"type": "dense", "units": 3, "activation": "softmax"},
        ]),
        &[Some(STEPS)],
        2,
    );
    check("Embedding+GRU(reset_after)+Dense(softmax)", m, ids(30, 12));
}

#[test]
fn gru_reset_before() {
    let m = model(
        json!([
            {"type": "gru", "units": 4, "reset_after": false},
            {"type": "dense", "units": 2},
        ]),
        &[None, Some(3)],
        3,
    );
    check("GRU(reset_after=false) on floats", m, floats(3, 13));
}

#[test]
fn simple_rnn_tanh_and_relu_on_floats() {
    for (act, seed) in [("tanh", 4), ("relu", 5)] {
        let m = model(
            json!([
                {"type": "simple_rnn", "units": 5, "activation": act},
                {"type": "dense", "units": 2, "activation": "tanh"},
            ]),
            &[None, Some(3)],
            seed,
        );
        check(
            &format!("SimpleRNN({act}) on floats"),
            m,
            floats(3, seed + 10),
        );
    }
}

#[test]
fn return_sequences_with_dense_on_3d() {
    for (kind, extra, seed) in [
        ("simple_rnn", json!({}), 6),
        ("lstm", json!({}), 7),
        ("gru", json!({}), 8),
        ("gru", json!({"reset_after": false}), 9),
    ] {
        let mut rnn = json!({"type": kind, "units": 4, "return_sequences": true});
        for (k, v) in extra.as_object().unwrap() {
            rnn[k] = v.clone();
        }
        let m = model(
            json!([rnn, {"type": "dense", "units": 3, "activation": "relu"}]),
            &[None, Some(2)],
            seed,
        );
        check(
            &format!("{kind} {extra} return_sequences + Dense(relu) on 3-D"),
            m,
            floats(2, seed + 10),
        );
    }
}

#[test]
fn dense_only_on_2d_floats() {
    let m = model(
        json!([
            {"type": "dense", "units": 5, "activation": "relu"},
            {"type": "dropout", "rate": 0.3},
            {"type": "dense", "units": 3, "activation": "softmax"},
        ]),
        &[Some(4)],
        23,
    );
    let x = ndarray::Array2::from_shape_vec((BATCH, 4), uniform(24, BATCH * 4)).unwrap();
    check(
        "Dense+Dropout+Dense(softmax) on 2-D",
        m,
        Input::Floats(x.into_dyn()),
    );
}

#[test]
fn layers_without_bias() {
    let m = model(
        json!([
            {"type": "embedding", "input_dim": 9, "output_dim": 3},
            {"type": "bidirectional", "merge_mode": "concat",
             "layer": {"type": "gru", "units": 3, "use_bias": false, "return_sequences": true}},
            {"type": "lstm", "units": 3, "use_bias": false},
            {"type": "dense", "units": 2, "use_bias": false, "activation": "tanh"},
        ]),
        &[None],
        25,
    );
    assert!(!ops(&decode(&m)).contains(&"Add".to_string()));
    check("use_bias=false GRU/LSTM/Dense", m, ids(9, 26));
}

#[test]
fn stacked_lstm_with_dropout() {
    let m = model(
        json!([
            {"type": "embedding", "input_dim": 15, "output_dim": 4},
            {"type": "lstm", "units": 6, "return_sequences": true, "dropout": 0.2},
            {"type": "dropout", "rate": 0.5},
            {"type": "lstm", "units": 3},
            {"type": "dense", "units": 1, "activation": "sigmoid"},
        ]),
        &[None],
        10,
    );
    check("stacked LSTM+Dropout+LSTM", m, ids(15, 20));
}

#[test]
fn bidirectional_merge_modes() {
    let cases = [
        ("lstm", "concat", false, 11),
        ("lstm", "concat", true, 12),
        ("gru", "sum", false, 13),
        ("gru", "mul", true, 14),
        ("gru", "ave", false, 15),
        ("simple_rnn", "ave", true, 16),
    ];
    for (kind, merge, seq, seed) in cases {
        let m = model(
            json!([
                {"type": "embedding", "input_dim": 12, "output_dim": 3},
                {"type": "bidirectional", "merge_mode": merge,
                 "layer": {"type": kind, "units": 4, "return_sequences": seq}},
                {"type": "dense", "units": 2},
            ]),
            &[None],
            seed,
        );
        check(
            &format!("Bidirectional({kind}, {merge}, return_sequences={seq})"),
            m,
            ids(12, seed + 10),
        );
    }
}

#[test]
fn global_pooling() {
    for (pool, keepdims, seed) in [
        ("global_average_pooling1d", false, 17),
        ("global_max_pooling1d", false, 18),
        ("global_average_pooling1d", true, 19),
    ] {
        let m = model(
            json!([
                {"type": "embedding", "input_dim": 10, "output_dim": 4},
                {"type": "gru", "units": 4, "return_sequences": true},
                {"type": pool, "keepdims": keepdims},
                {"type": "dense", "units": 2, "activation": "softmax"},
            ]),
            &[None],
            seed,
        );
        check(
            &format!("{pool}(keepdims={keepdims})"),
            m,
            ids(10, seed + 10),
        );
    }
}

#[test]
fn activations_are_listed_per_gate_and_direction() {
    // tract's stock parsers would ignore the attribute; the ones above read it.
    let m = model(
        json!([
            {"type": "simple_rnn", "units": 3, "activation": "sigmoid", "return_sequences": true},
            {"type": "bidirectional", "merge_mode": "sum",
             "layer": {"type": "lstm", "units": 3, "return_sequences": true}},
            {"type": "gru", "units": 3},
        ]),
        &[None, Some(2)],
        21,
    );
    let p = decode(&m);
    let g = p.graph.unwrap();
    let acts = |op: &str| -> Vec<String> {
        let n = g
            .node
            .iter()
            .find(|n| n.op_type.as_deref() == Some(op))
            .unwrap();
        let a = n
            .attribute
            .iter()
            .find(|a| a.name.as_deref() == Some("activations"))
            .unwrap();
        a.strings
            .iter()
            .map(|s| String::from_utf8(s.clone()).unwrap())
            .collect()
    };
    assert_eq!(acts("RNN"), ["Sigmoid"]);
    assert_eq!(
        acts("LSTM"),
        ["Sigmoid", "Tanh", "Tanh", "Sigmoid", "Tanh", "Tanh"]
    );
    assert_eq!(acts("GRU"), ["Sigmoid", "Tanh"]);
    check(
        "SimpleRNN(sigmoid)+Bidirectional(LSTM, sum)+GRU",
        m,
        floats(2, 31),
    );
}

#[test]
fn file_is_written_atomically_and_parses() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sub").join("model.onnx");
    let m = model(
        json!([
            {"type": "embedding", "input_dim": 8, "output_dim": 2},
            {"type": "simple_rnn", "units": 2},
        ]),
        &[None],
        22,
    );
    let s = onnx::export_onnx(&m, &path).unwrap();
    assert_eq!(s.input_shape, ["batch", "time_steps"]);
    assert_eq!(s.output_shape, ["batch", "2"]);
    assert_eq!(s.opset, OPSET_VERSION);
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(bytes, onnx::to_onnx_bytes(&m).unwrap());
    let names: Vec<_> = std::fs::read_dir(path.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["model.onnx"]);
}

fn export_error(layers: Value, input_shape: &[Option<usize>]) -> String {
    let m = model(layers, input_shape, 30);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("refused.onnx");
    let e = onnx::export_onnx(&m, &path).unwrap_err().to_string();
    assert!(!path.exists(), "a refused export must not write a file");
    e
}

#[test]
fn mask_zero_is_refused_when_a_layer_uses_the_mask() {
    let e = export_error(
        json!([
            {"type": "embedding", "input_dim": 8, "output_dim": 2, "mask_zero": true},
            {"type": "lstm", "units": 2, "name": "encoder"},
        ]),
        &[None],
    );
    assert!(
        e.contains("mask_zero=True") && e.contains("`embedding`") && e.contains("`encoder`"),
        "{e}"
    );
    // Nothing reads the mask: the model is the same without it, so it exports.
    let mut m = model(
        json!([
            {"type": "embedding", "input_dim": 8, "output_dim": 2, "mask_zero": true},
            {"type": "dense", "units": 2},
        ]),
        &[None],
        31,
    );
    let x = Array2::from_shape_vec((1, 3), vec![0, 3, 0]).unwrap();
    let ours = m.predict(&x, None).unwrap();
    let theirs = run_tract(&onnx::to_onnx_bytes(&m).unwrap(), &Input::Ids(x));
    assert_eq!(ours, theirs);
}

#[test]
fn inexpressible_recurrent_activations_are_refused() {
    // ONNX has no identity activation (softmax the layers refuse themselves; LSTM and
    // GRU only implement tanh with a sigmoid recurrent activation).
    let e = export_error(
        json!([{"type": "simple_rnn", "units": 2, "activation": "linear"}]),
        &[None, Some(2)],
    );
    assert!(
        e.contains("`simple_rnn`") && e.contains("activation='linear'"),
        "{e}"
    );
    let e = export_error(
        json!([{"type": "bidirectional", "layer":
            {"type": "simple_rnn", "units": 2, "activation": "linear"}}]),
        &[None, Some(2)],
    );
    assert!(
        e.contains("`bidirectional`") && e.contains("activation='linear'"),
        "{e}"
    );
}

#[test]
fn unbuilt_model_is_an_error() {
    let configs: Vec<LayerConfig> =
        serde_json::from_value(json!([{"type": "lstm", "units": 2}])).unwrap();
    let m = Sequential::from_configs(&configs).unwrap();
    let e = onnx::to_onnx_bytes(&m).unwrap_err().to_string();
    assert!(e.contains("not built"), "{e}");
}

/// `floats` with a chosen number of steps, shifted by `offset` (all negative with
/// offset -1: a max pooling that let a zero pad win would show).
fn floats_steps(features: usize, steps: usize, offset: f32, seed: u64) -> Input {
    let v = uniform(seed, BATCH * steps * features)
        .into_iter()
        .map(|x| 2.0 * x + offset)
        .collect();
    Input::Floats(
        Array3::from_shape_vec((BATCH, steps, features), v)
            .unwrap()
            .into_dyn(),
    )
}

fn ids_steps(vocab: usize, steps: usize, seed: u64) -> Input {
    let v = uniform(seed, BATCH * steps);
    let ids = v
        .iter()
        .map(|x| (((x + 0.5) * vocab as f32) as i32).min(vocab as i32 - 1))
        .collect();
    Input::Ids(Array2::from_shape_vec((BATCH, steps), ids).unwrap())
}

/// The attribute `name` of the first node of type `op`.
fn node_attr(p: &proto::ModelProto, op: &str, name: &str) -> Option<proto::AttributeProto> {
    let g = p.graph.as_ref().unwrap();
    let n = g.node.iter().find(|n| n.op_type.as_deref() == Some(op))?;
    n.attribute
        .iter()
        .find(|a| a.name.as_deref() == Some(name))
        .cloned()
}

#[test]
fn conv1d_paddings_strides_and_dilations() {
    // (padding, kernel_size, strides, dilation_rate, steps): lengths 6 and 7 put the odd
    // "same" pad on either side of the rule; known and unknown lengths take explicit
    // pads and (same, strides > 1, unknown length) auto_pad.
    let cases = [
        ("valid", 3, 1, 1, 6),
        ("valid", 2, 2, 1, 7),
        ("valid", 2, 1, 3, 7),
        ("same", 3, 1, 1, 6),
        ("same", 4, 1, 1, 7),
        ("same", 3, 1, 2, 6),
        ("same", 3, 2, 1, 6),
        ("same", 4, 2, 1, 6),
        ("same", 4, 3, 1, 7),
        ("same", 2, 1, 3, 7),
        ("causal", 3, 1, 1, 6),
        ("causal", 3, 1, 2, 7),
        ("causal", 2, 2, 1, 7),
    ];
    for (i, (padding, k, s, d, steps)) in cases.into_iter().enumerate() {
        for known in [true, false] {
            let seed = 40 + i as u64;
            let m = model(
                json!([
                    {"type": "conv1d", "filters": 4, "kernel_size": k, "strides": s,
                     "dilation_rate": d, "padding": padding, "activation": "tanh"},
                    {"type": "dense", "units": 2},
                ]),
                &[known.then_some(steps), Some(3)],
                seed,
            );
            let p = decode(&m);
            assert_eq!(ops(&p)[..3], ["Transpose", "Conv", "Transpose"]);
            let auto = node_attr(&p, "Conv", "auto_pad").is_some();
            assert_eq!(auto, padding == "same" && s > 1 && !known, "{padding} {s}");
            check(
                &format!(
                    "Conv1D(padding={padding}, kernel_size={k}, strides={s}, \
                     dilation_rate={d}) on {steps} steps, length known={known}"
                ),
                m,
                floats_steps(3, steps, 0.0, seed + 10),
            );
        }
    }
}

#[test]
fn conv1d_without_bias_and_softmax_over_filters() {
    let m = model(
        json!([
            {"type": "embedding", "input_dim": 11, "output_dim": 3},
            {"type": "conv1d", "filters": 5, "kernel_size": 2, "use_bias": false,
             "activation": "softmax"},
        ]),
        &[None],
        60,
    );
    assert_eq!(
        ops(&decode(&m)),
        ["Gather", "Transpose", "Conv", "Transpose", "Softmax"]
    );
    check("Conv1D(use_bias=false, softmax)", m, ids(11, 61));
}

#[test]
fn max_pooling1d_valid_and_same() {
    // (padding, pool_size, strides, steps); inputs all negative, so a pad that could win
    // the maximum (zeros) would show.
    let cases = [
        ("valid", 2, None, 6),
        ("valid", 2, None, 7),
        ("valid", 3, Some(2), 7),
        ("valid", 2, Some(1), 6),
        ("same", 2, None, 7),
        ("same", 4, None, 6),
        ("same", 3, Some(1), 6),
        ("same", 3, Some(2), 6),
        ("same", 4, Some(3), 7),
    ];
    for (i, (padding, pool, strides, steps)) in cases.into_iter().enumerate() {
        for known in [true, false] {
            let seed = 70 + i as u64;
            let mut pool_layer = json!({"type": "max_pooling1d", "pool_size": pool,
                                        "padding": padding});
            if let Some(s) = strides {
                pool_layer["strides"] = json!(s);
            }
            let m = model(
                json!([pool_layer]),
                &[known.then_some(steps), Some(3)],
                seed,
            );
            check(
                &format!(
                    "MaxPooling1D(padding={padding}, pool_size={pool}, strides={strides:?}) \
                     on {steps} steps, length known={known}"
                ),
                m,
                floats_steps(3, steps, -1.0, seed + 10),
            );
        }
    }
}

#[test]
fn time_distributed_dense_and_dropout() {
    let m = model(
        json!([
            {"type": "embedding", "input_dim": 13, "output_dim": 4},
            {"type": "lstm", "units": 5, "return_sequences": true},
            {"type": "time_distributed", "layer": {"type": "dropout", "rate": 0.4}},
            {"type": "time_distributed",
             "layer": {"type": "dense", "units": 3, "activation": "softmax"}},
        ]),
        &[None],
        80,
    );
    check(
        "TimeDistributed(Dropout)+TimeDistributed(Dense)",
        m,
        ids(13, 81),
    );
    // A named wrapped layer (its weights are `proj/kernel`), on floats, no bias.
    let m = model(
        json!([
            {"type": "time_distributed",
             "layer": {"type": "dense", "units": 2, "name": "proj", "use_bias": false,
                       "activation": "relu"}},
            {"type": "time_distributed", "layer": {"type": "dense", "units": 3}},
        ]),
        &[None, Some(4)],
        82,
    );
    check(
        "TimeDistributed(Dense named, no bias, relu)",
        m,
        floats(4, 83),
    );
}

#[test]
fn go_backwards_matches_predict_in_keras_order() {
    for (i, kind) in ["simple_rnn", "lstm", "gru"].into_iter().enumerate() {
        for seq in [false, true] {
            let seed = 90 + 2 * i as u64 + u64::from(seq);
            let layers = json!([
                {"type": kind, "units": 4, "go_backwards": true, "return_sequences": seq},
                {"type": "dense", "units": 2, "activation": "tanh"},
            ]);
            let mut m = model(layers.clone(), &[None, Some(3)], seed);
            let p = decode(&m);
            // The input reversed, then a forward node (tract ignores direction="reverse").
            assert_eq!(
                ops(&p)[..3],
                ["Slice", "Transpose", ["RNN", "LSTM", "GRU"][i]]
            );
            let dir = node_attr(&p, ["RNN", "LSTM", "GRU"][i], "direction").unwrap();
            assert_eq!(dir.s.as_deref(), Some(&b"forward"[..]));
            // Keras's order: go_backwards is the forward layer on the reversed input
            // (a sequence output stays in that reversed order), so the export must
            // match it, not ONNX's input-aligned Y.
            let Input::Floats(x) = floats(3, seed + 10) else {
                unreachable!()
            };
            let ours = m.predict(&x, None).unwrap();
            let mut reversed = x.clone();
            reversed.invert_axis(ndarray::Axis(1));
            let fwd_layers: Vec<LayerConfig> = {
                let mut l = layers.clone();
                l[0]["go_backwards"] = json!(false);
                serde_json::from_value(l).unwrap()
            };
            let mut f = Sequential::from_configs_with_seed(&fwd_layers, seed).unwrap();
            f.build(&[None, Some(3)]).unwrap();
            f.set_weights(&m.get_weights()).unwrap();
            assert_eq!(ours, f.predict(&reversed, None).unwrap(), "{kind} {seq}");
            check(
                &format!("{kind}(go_backwards=True, return_sequences={seq})"),
                m,
                Input::Floats(x),
            );
        }
    }
}

/// The shipped example's model (Embedding -> Conv1D(same, relu) -> MaxPooling1D(4) ->
/// LSTM -> Dense(sigmoid)), from examples/generated_sentiment_conv1d.toml itself, on
/// its 80-token sequences and on sequences of unknown length.
#[test]
fn generated_sentiment_conv1d_example_exports() {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/generated_sentiment_conv1d.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let config: toml::Value = toml::from_str(&text).unwrap();
    let layers = serde_json::to_value(&config["model"]["layers"]).unwrap();
    let maxlen = config["data"]["maxlen"].as_integer().unwrap() as usize;
    let vocab = config["data"]["num_words"].as_integer().unwrap() as usize;
    for shape in [Some(maxlen), None] {
        let m = model(layers.clone(), &[shape], 100);
        assert_eq!(
            ops(&decode(&m)),
            [
                "Gather",
                "Transpose",
                "Conv",
                "Transpose",
                "Relu",
                "Transpose",
                "MaxPool",
                "Transpose",
                "Transpose",
                "LSTM",
                "Squeeze",
                "MatMul",
                "Add",
                "Sigmoid"
            ]
        );
        check(
            &format!("generated_sentiment_conv1d.toml model, input length {shape:?}"),
            m,
            ids_steps(vocab, maxlen, 101),
        );
    }
}

#[test]
fn mask_zero_before_conv1d_is_dropped_and_exports() {
    // Keras's Conv1D drops the mask, so the LSTM after it reads every step: exact.
    let m = model(
        json!([
            {"type": "embedding", "input_dim": 8, "output_dim": 3, "mask_zero": true},
            {"type": "conv1d", "filters": 3, "kernel_size": 2, "padding": "causal"},
            {"type": "lstm", "units": 3},
            {"type": "dense", "units": 1, "activation": "sigmoid"},
        ]),
        &[None],
        110,
    );
    let x = Array2::from_shape_vec(
        (BATCH, 5),
        vec![0, 3, 5, 0, 0, 1, 2, 0, 7, 0, 0, 0, 4, 4, 6],
    )
    .unwrap();
    check("Embedding(mask_zero)+Conv1D+LSTM", m, Input::Ids(x));
}

#[test]
fn stateful_layers_are_refused() {
    let e = export_error(
        json!([{"type": "lstm", "units": 2, "name": "carry", "stateful": true, "batch_size": 4}]),
        &[None, Some(2)],
    );
    assert!(e.contains("`carry`") && e.contains("stateful"), "{e}");
}
