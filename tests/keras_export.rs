//! Export to Keras (`Sequential::save_keras`, `.keras` archives and legacy `.h5`):
//! - round trip: every layer kind we import, written by us and read back by our
//!   importer, predicts bit for bit what the model did;
//! - structure: a model imported from a Keras-written fixture and written again has the
//!   same HDF5 groups, attribute names and datasets (names, shapes, dtypes) as Keras's
//!   file, and the same archive members;
//! - the committed files in tests/fixtures/keras_export (written by this test with
//!   `RECURRENT_WRITE_EXPORT_FIXTURES=1`) still import and predict what we recorded;
//!   tests/fixtures/check_keras_export.py loads them with Keras itself and writes the
//!   largest difference per model to tests/fixtures/keras_export/report.json.
#![cfg(feature = "keras")]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use hdf5_reader::Hdf5File;
use hdf5_reader::group::Group;
use ndarray::{Array2, ArrayD, IxDyn};
use recurrent::interop::{
    KerasFormat, import_keras_model, keras_archive_bytes, keras_h5_bytes, load_keras_model,
};
use recurrent::layers::LayerConfig;
use recurrent::metrics::Metric;
use recurrent::model::Sequential;
use recurrent::optimizers::OptimizerConfig;
use serde_json::{Value, json};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// A test model: its layers (our config JSON), input shape and input data.
struct Case {
    name: &'static str,
    layers: Value,
    input_shape: Vec<Option<usize>>,
    /// Token ids below this (with padding zeros) when set; floats otherwise.
    vocab: Option<i32>,
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "embedding_masked_lstm_softmax",
            layers: json!([
                {"type": "embedding", "input_dim": 30, "output_dim": 6, "mask_zero": true},
                {"type": "lstm", "units": 5},
                {"type": "dense", "units": 3, "activation": "softmax"}
            ]),
            input_shape: vec![Some(9)],
            vocab: Some(30),
        },
        Case {
            name: "simple_rnn_backwards_dropout_gru_v1",
            layers: json!([
                {"type": "simple_rnn", "units": 4, "return_sequences": true,
                 "go_backwards": true},
                {"type": "dropout", "rate": 0.3},
                {"type": "gru", "units": 5, "reset_after": false},
                {"type": "dense", "units": 1, "activation": "sigmoid"}
            ]),
            input_shape: vec![Some(7), Some(3)],
            vocab: None,
        },
        Case {
            name: "gru_sequences_average_pool",
            layers: json!([
                {"type": "gru", "units": 6, "return_sequences": true},
                {"type": "gru", "units": 4, "return_sequences": true, "go_backwards": true},
                {"type": "global_average_pooling1d"},
                {"type": "dense", "units": 2, "activation": "relu"}
            ]),
            input_shape: vec![Some(8), Some(2)],
            vocab: None,
        },
        Case {
            name: "embedding_bilstm_max_pool",
            layers: json!([
                {"type": "embedding", "input_dim": 25, "output_dim": 5, "mask_zero": true},
                {"type": "bidirectional",
                 "layer": {"type": "lstm", "units": 4, "return_sequences": true}},
                {"type": "global_max_pooling1d"},
                {"type": "dense", "units": 1, "activation": "sigmoid"}
            ]),
            input_shape: vec![Some(10)],
            vocab: Some(25),
        },
        Case {
            name: "bigru_sum_birnn_ave",
            layers: json!([
                {"type": "bidirectional", "merge_mode": "sum",
                 "layer": {"type": "gru", "units": 4, "return_sequences": true,
                           "reset_after": false}},
                {"type": "bidirectional", "merge_mode": "ave",
                 "layer": {"type": "simple_rnn", "units": 3}},
                {"type": "dense", "units": 2}
            ]),
            input_shape: vec![Some(6), Some(3)],
            vocab: None,
        },
        Case {
            name: "embedding_conv1d_pool_lstm",
            layers: json!([
                {"type": "embedding", "input_dim": 40, "output_dim": 6},
                {"type": "conv1d", "filters": 5, "kernel_size": 3, "activation": "relu",
                 "padding": "same"},
                {"type": "max_pooling1d", "pool_size": 2},
                {"type": "conv1d", "filters": 3, "kernel_size": 2, "strides": 2,
                 "dilation_rate": 1, "padding": "causal"},
                {"type": "lstm", "units": 3, "go_backwards": true},
                {"type": "dense", "units": 1}
            ]),
            input_shape: vec![Some(12)],
            vocab: Some(40),
        },
        Case {
            name: "lstm_time_distributed",
            layers: json!([
                {"type": "lstm", "units": 4, "return_sequences": true},
                {"type": "time_distributed",
                 "layer": {"type": "dense", "units": 3, "activation": "tanh"}},
                {"type": "time_distributed", "layer": {"type": "dropout", "rate": 0.5}},
                {"type": "global_max_pooling1d"},
                {"type": "dense", "units": 2, "activation": "softmax"}
            ]),
            input_shape: vec![Some(5), Some(2)],
            vocab: None,
        },
    ]
}

/// Deterministic values in [-1, 1) (a 64-bit LCG).
fn values(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

/// The case's model, built, with every weight set to random values (zeros biases
/// would hide a bias written to the wrong place).
fn model(case: &Case) -> Sequential {
    let configs: Vec<LayerConfig> = serde_json::from_value(case.layers.clone()).unwrap();
    let mut m = Sequential::from_configs(&configs).unwrap();
    m.build(&case.input_shape).unwrap();
    let weights: Vec<(String, ArrayD<f32>)> = m
        .get_weights()
        .into_iter()
        .enumerate()
        .map(|(i, (n, a))| {
            let v = values(a.len(), i as u64 + 1).into_iter().map(|v| v * 0.6);
            (n, ArrayD::from_shape_vec(a.raw_dim(), v.collect()).unwrap())
        })
        .collect();
    m.set_weights(&weights).unwrap();
    // Two models compiled (written as Keras's compile settings, restored on load).
    let compile = match case.name {
        "embedding_masked_lstm_softmax" => Some((
            json!({"type": "adam", "learning_rate": 0.01, "amsgrad": true}),
            "sparse_categorical_crossentropy",
            vec!["accuracy"],
        )),
        "simple_rnn_backwards_dropout_gru_v1" => Some((
            json!({"type": "rmsprop", "rho": 0.8}),
            "binary_crossentropy",
            vec!["acc", "mae"],
        )),
        _ => None,
    };
    if let Some((opt, loss, metrics)) = compile {
        let opt: OptimizerConfig = serde_json::from_value(opt).unwrap();
        let metrics: Vec<Metric> = metrics.iter().map(|m| m.parse().unwrap()).collect();
        m.compile(opt, loss.parse().unwrap(), &metrics).unwrap();
    }
    m
}

enum Input {
    Ids(Array2<i32>),
    Floats(ArrayD<f32>),
}

fn input(case: &Case) -> Input {
    let batch = 4;
    let steps = case.input_shape[0].unwrap();
    match case.vocab {
        Some(vocab) => {
            let v = values(batch * steps, 99);
            let mut ids: Vec<i32> = v
                .iter()
                .map(|x| ((x + 1.0) / 2.0 * (vocab - 1) as f32) as i32 + 1)
                .collect();
            // Padding at the start of row 1 and the end of row 2 (masked steps).
            for t in 0..3 {
                ids[steps + t] = 0;
                ids[3 * steps - 1 - t] = 0;
            }
            Input::Ids(Array2::from_shape_vec((batch, steps), ids).unwrap())
        }
        None => {
            let mut shape = vec![batch];
            shape.extend(case.input_shape.iter().map(|d| d.unwrap()));
            let n = shape.iter().product();
            Input::Floats(ArrayD::from_shape_vec(IxDyn(&shape), values(n, 7)).unwrap())
        }
    }
}

fn predict(m: &mut Sequential, x: &Input) -> ArrayD<f32> {
    match x {
        Input::Ids(ids) => m.predict(ids, None).unwrap(),
        Input::Floats(f) => m.predict(f.view(), None).unwrap(),
    }
}

fn bits(a: &ArrayD<f32>) -> Vec<u32> {
    a.iter().map(|v| v.to_bits()).collect()
}

#[test]
fn every_layer_kind_round_trips_bit_for_bit_in_both_formats() {
    let dir = tempfile::tempdir().unwrap();
    for case in cases() {
        let mut m = model(&case);
        let x = input(&case);
        let want = predict(&mut m, &x);
        for (ext, format) in [("keras", KerasFormat::Archive), ("h5", KerasFormat::Hdf5)] {
            let path = dir.path().join(format!("{}.{ext}", case.name));
            m.save_keras(&path).unwrap();
            let imported = import_keras_model(&path).unwrap();
            assert_eq!(imported.format, format, "{}", case.name);
            let mut back = Sequential::load(&path).unwrap();
            assert_eq!(back.name(), m.name());
            let names = |s: &Sequential| -> Vec<String> {
                s.layers().iter().map(|l| l.name().to_string()).collect()
            };
            assert_eq!(names(&back), names(&m), "{}.{ext}", case.name);
            assert_eq!(
                wrapped_names_dropped(back.layer_configs()),
                wrapped_names_dropped(m.layer_configs()),
                "{}.{ext}",
                case.name
            );
            for ((n1, a), (n2, b)) in m.get_weights().iter().zip(back.get_weights().iter()) {
                assert_eq!(n1, n2);
                assert_eq!(bits(a), bits(b), "{}.{ext}: weight {n1}", case.name);
            }
            assert_eq!(back.loss(), m.loss(), "{}.{ext}", case.name);
            assert_eq!(back.metrics(), m.metrics(), "{}.{ext}", case.name);
            assert_eq!(
                back.optimizer().map(|o| o.config().clone()),
                m.optimizer().map(|o| o.config().clone()),
                "{}.{ext}",
                case.name
            );
            let got = predict(&mut back, &x);
            assert_eq!(got.shape(), want.shape());
            assert_eq!(bits(&got), bits(&want), "{}.{ext}: predictions", case.name);
        }
    }
}

/// Layer configs without the name of a wrapped layer: Keras names a Bidirectional's
/// `forward_lstm` where ours may have none; both build the same layer.
fn wrapped_names_dropped(mut configs: Vec<Value>) -> Vec<Value> {
    for c in &mut configs {
        if let Some(inner) = c.get_mut("layer").and_then(Value::as_object_mut) {
            inner.remove("name");
        }
    }
    configs
}

#[test]
fn save_keras_refuses_other_extensions_and_unbuilt_models() {
    let dir = tempfile::tempdir().unwrap();
    let case = &cases()[0];
    let m = model(case);
    let e = m
        .save_keras(dir.path().join("m.safetensors"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("m.safetensors") && e.contains(".keras"), "{e}");
    let configs: Vec<LayerConfig> = serde_json::from_value(case.layers.clone()).unwrap();
    let unbuilt = Sequential::from_configs(&configs[1..]).unwrap();
    let e = unbuilt
        .save_keras(dir.path().join("m.h5"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("not built"), "{e}");
    assert!(!dir.path().join("m.h5").exists());
}

/// Everything under an HDF5 group: `path -> description` of each group (its attribute
/// names) and dataset (shape and datatype).
fn tree(h5: &Hdf5File, group: &Group, path: &str, out: &mut BTreeMap<String, String>) {
    let mut attrs: Vec<String> = group
        .attributes()
        .unwrap()
        .iter()
        .map(|a| a.name.clone())
        .collect();
    attrs.sort();
    out.insert(format!("{path}/"), format!("attrs {attrs:?}"));
    let (groups, datasets) = group.member_names().unwrap();
    for d in datasets {
        let at = format!("{path}/{d}");
        let ds = h5.dataset(&at).unwrap();
        out.insert(at, format!("{:?} {:?}", ds.shape(), ds.dtype()));
    }
    for g in groups {
        let at = format!("{path}/{g}");
        tree(h5, &h5.group(&at).unwrap(), &at, out);
    }
}

fn h5_tree(bytes: &[u8]) -> BTreeMap<String, String> {
    let h5 = Hdf5File::from_bytes(bytes).unwrap();
    let mut out = BTreeMap::new();
    tree(&h5, &h5.group("/").unwrap(), "", &mut out);
    out
}

fn string_attr(bytes: &[u8], group: &str, name: &str) -> Vec<String> {
    let h5 = Hdf5File::from_bytes(bytes).unwrap();
    let g = h5.group(group).unwrap();
    let a = g.attribute(name).unwrap();
    if a.num_elements().unwrap() == 0 {
        return Vec::new();
    }
    a.read_strings().unwrap_or_else(|_| {
        a.read_vlen_strings(&g.file_data().unwrap(), g.offset_size())
            .unwrap()
    })
}

fn assert_same_tree(ours: &[u8], keras: &[u8], what: &str) {
    let (a, b) = (h5_tree(ours), h5_tree(keras));
    let only_ours: Vec<_> = a.iter().filter(|(k, v)| b.get(*k) != Some(v)).collect();
    let only_keras: Vec<_> = b.iter().filter(|(k, v)| a.get(*k) != Some(v)).collect();
    assert!(
        only_ours.is_empty() && only_keras.is_empty(),
        "{what}: the HDF5 trees differ\nours only: {only_ours:#?}\nKeras's only: {only_keras:#?}"
    );
}

#[test]
fn legacy_h5_has_the_structure_keras_writes() {
    for name in [
        "k3_embedding_lstm_dense",
        "k3_masked_gru_softmax",
        "k3_conv1d_pool",
        "k3_lstm_go_backwards",
        "k3_simple_rnn_float",
        "k3_stacked_lstm_dropout",
    ] {
        let path = fixtures().join(format!("keras_h5/{name}.h5"));
        let keras = std::fs::read(&path).unwrap();
        let model = load_keras_model(&path).unwrap();
        let ours = keras_h5_bytes(&model).unwrap();
        assert_same_tree(&ours, &keras, name);
        for (group, attr) in [
            ("model_weights", "layer_names"),
            ("model_weights/top_level_model_weights", "weight_names"),
        ] {
            assert_eq!(
                string_attr(&ours, group, attr),
                string_attr(&keras, group, attr),
                "{name}: {group} @{attr}"
            );
        }
        for layer in model.layers() {
            let group = format!("model_weights/{}", layer.name());
            assert_eq!(
                string_attr(&ours, &group, "weight_names"),
                string_attr(&keras, &group, "weight_names"),
                "{name}: {group} @weight_names"
            );
        }
        let config = |b: &[u8]| -> Value {
            serde_json::from_str(&string_attr(b, "/", "model_config")[0]).unwrap()
        };
        assert_same_layers(&config(&ours), &config(&keras), name);
    }
}

/// The same layer classes, names and (for the arguments we write) values.
fn assert_same_layers(ours: &Value, keras: &Value, what: &str) {
    assert_eq!(ours["class_name"], keras["class_name"], "{what}");
    let (a, b) = (
        ours["config"]["layers"].as_array().unwrap(),
        keras["config"]["layers"].as_array().unwrap(),
    );
    assert_eq!(a.len(), b.len(), "{what}: layer count");
    for (x, y) in a.iter().zip(b) {
        assert_eq!(x["class_name"], y["class_name"], "{what}");
        assert_eq!(x.get("module"), y.get("module"), "{what}");
        let (cx, cy) = (
            x["config"].as_object().unwrap(),
            y["config"].as_object().unwrap(),
        );
        for (k, v) in cx {
            if k == "name" && x["class_name"] == "InputLayer" {
                continue;
            }
            if k.ends_with("_initializer") {
                assert_eq!(v["class_name"], cy[k]["class_name"], "{what}: {k}");
                continue;
            }
            if matches!(k.as_str(), "layer" | "dtype") {
                continue;
            }
            // Keras writes 1-D sizes as lists (`[3]`), we as numbers; both load.
            let same = Some(v) == cy.get(k)
                || cy
                    .get(k)
                    .and_then(Value::as_array)
                    .is_some_and(|l| l.len() == 1 && &l[0] == v);
            assert!(
                same,
                "{what}: {} `{k}`: ours {v}, Keras's {:?}",
                x["class_name"],
                cy.get(k)
            );
        }
    }
}

fn member(zip_bytes: &[u8], name: &str) -> Vec<u8> {
    use std::io::Read;
    let mut z = zip::ZipArchive::new(std::io::Cursor::new(zip_bytes)).unwrap();
    let mut out = Vec::new();
    z.by_name(name).unwrap().read_to_end(&mut out).unwrap();
    out
}

fn members(zip_bytes: &[u8]) -> Vec<String> {
    let z = zip::ZipArchive::new(std::io::Cursor::new(zip_bytes)).unwrap();
    let mut v: Vec<String> = z.file_names().map(|n| n.unwrap().to_string()).collect();
    v.sort();
    v
}

#[test]
fn keras_archive_has_the_structure_keras_writes() {
    for name in [
        "archive_bigru_sum",
        "archive_embedding_bilstm_maxpool",
        "archive_embedding_conv1d_pool_lstm",
        "archive_rnn_gru_avgpool",
    ] {
        let path = fixtures().join(format!("keras_import/{name}.keras"));
        let keras = std::fs::read(&path).unwrap();
        let model = load_keras_model(&path).unwrap();
        let ours = keras_archive_bytes(&model).unwrap();
        assert_eq!(members(&ours), members(&keras), "{name}");
        assert_same_tree(
            &member(&ours, "model.weights.h5"),
            &member(&keras, "model.weights.h5"),
            name,
        );
        let json = |b: &[u8], m: &str| -> Value { serde_json::from_slice(&member(b, m)).unwrap() };
        assert_same_layers(
            &json(&ours, "config.json"),
            &json(&keras, "config.json"),
            name,
        );
        let meta = json(&ours, "metadata.json");
        let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
        assert_eq!(keys(&meta), keys(&json(&keras, "metadata.json")), "{name}");
    }
}

fn prediction_json(x: &Input, y: &ArrayD<f32>) -> Value {
    let (dtype, shape, data): (&str, Vec<usize>, Vec<Value>) = match x {
        Input::Ids(ids) => (
            "int32",
            ids.shape().to_vec(),
            ids.iter().map(|&v| json!(v)).collect(),
        ),
        Input::Floats(f) => (
            "float32",
            f.shape().to_vec(),
            f.iter().map(|&v| json!(v)).collect(),
        ),
    };
    json!({
        "input": {"dtype": dtype, "shape": shape, "data": data},
        "output": {"shape": y.shape(), "data": y.iter().map(|&v| json!(v)).collect::<Vec<_>>()},
    })
}

/// The committed exported files: rewritten with `RECURRENT_WRITE_EXPORT_FIXTURES=1`,
/// otherwise read back and checked against the predictions recorded with them.
#[test]
fn committed_export_fixtures_import_and_predict_as_recorded() {
    let dir = fixtures().join("keras_export");
    let write = std::env::var_os("RECURRENT_WRITE_EXPORT_FIXTURES").is_some();
    for case in cases() {
        let x = input(&case);
        let preds = dir.join(format!("{}.predictions.json", case.name));
        if write {
            let mut m = model(&case);
            let y = predict(&mut m, &x);
            m.save_keras(dir.join(format!("{}.keras", case.name)))
                .unwrap();
            m.save_keras(dir.join(format!("{}.h5", case.name))).unwrap();
            let text = serde_json::to_string(&prediction_json(&x, &y)).unwrap();
            std::fs::write(&preds, text).unwrap();
        }
        let recorded: Value =
            serde_json::from_str(&std::fs::read_to_string(&preds).unwrap()).unwrap();
        let want: Vec<f64> = recorded["output"]["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        for ext in ["keras", "h5"] {
            let path = dir.join(format!("{}.{ext}", case.name));
            let mut m = load_keras_model(&path).unwrap();
            let y = predict(&mut m, &x);
            let err = y
                .iter()
                .zip(&want)
                .fold(0.0f64, |e, (&a, &b)| e.max((a as f64 - b).abs()));
            assert!(
                err <= 1e-6,
                "{}: largest difference {err:.2e}",
                path.display()
            );
        }
    }
}

#[test]
fn files_are_written_atomically_over_an_old_one() {
    let dir = tempfile::tempdir().unwrap();
    let path: &Path = &dir.path().join("m.keras");
    std::fs::write(path, b"old").unwrap();
    let case = &cases()[1];
    model(case).save_keras(path).unwrap();
    assert!(load_keras_model(path).is_ok());
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(leftovers.len(), 1, "{leftovers:?}");
}

/// A stateful layer's fixed batch size goes to the InputLayer's `batch_shape[0]`, where
/// Keras needs it to build a stateful RNN and where the importer reads it back.
#[test]
fn stateful_layers_export_their_batch_size_on_the_input() {
    let case = Case {
        name: "stateful_lstm",
        layers: json!([
            {"type": "lstm", "units": 4, "stateful": true, "batch_size": 4,
             "return_sequences": true},
            {"type": "bidirectional", "layer": {"type": "gru", "units": 3, "stateful": true,
             "batch_size": 4}},
            {"type": "dense", "units": 1}
        ]),
        input_shape: vec![Some(5), Some(2)],
        vocab: None,
    };
    let dir = std::env::var_os("RECURRENT_KEEP_STATEFUL_EXPORT")
        .map(PathBuf::from)
        .unwrap_or_else(|| tempfile::tempdir().unwrap().keep());
    let x = input(&case);
    let mut m = model(&case);
    let want = predict(&mut m, &x);
    for ext in ["keras", "h5"] {
        let path = dir.join(format!("stateful_lstm.{ext}"));
        m.save_keras(&path).unwrap();
        let config = recurrent::interop::keras_export::keras_model_config(&m, ext == "h5").unwrap();
        let input_layer = &config["config"]["layers"][0]["config"];
        assert_eq!(input_layer["batch_shape"][0], json!(4), "{ext}");
        let lstm = &config["config"]["layers"][1];
        assert_eq!(lstm["config"]["stateful"], json!(true), "{ext}");
        assert!(lstm["config"].get("batch_size").is_none(), "{ext}");
        let mut back = Sequential::load(&path).unwrap();
        assert_eq!(
            wrapped_names_dropped(back.layer_configs()),
            wrapped_names_dropped(m.layer_configs()),
            "{ext}"
        );
        let got = predict(&mut back, &x);
        assert_eq!(
            bits(&got),
            bits(&want),
            "{ext}: predictions from zero states"
        );
    }
    if std::env::var_os("RECURRENT_KEEP_STATEFUL_EXPORT").is_some() {
        let text = serde_json::to_string(&prediction_json(&x, &want)).unwrap();
        std::fs::write(dir.join("stateful_lstm.predictions.json"), text).unwrap();
    }
}
