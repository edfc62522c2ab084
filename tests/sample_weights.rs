//! Sample and class weights against Keras 3.15.1 (TensorFlow 2.21), from the fixtures
//! `tests/fixtures/make_sample_weights.py` wrote:
//! - every loss with per-sample, (N, 1) and per-step weights (`sum_over_batch_size`);
//! - `fit` from fixed initial weights (`shuffle=False`, SGD with momentum, a partial
//!   last batch, two epochs) with `class_weight`, with `sample_weight` (split by
//!   `validation_split`), with `validation_data` weights and with per-step weights on
//!   an LSTM's sequence output: the logged history, the weights after training and
//!   `evaluate` with `sample_weight`;
//! - the bad inputs Keras refuses or should refuse, each a clear error.
//!
//! Each test prints the largest difference from Keras it saw (`--nocapture`).

use std::collections::BTreeMap;
use std::path::Path;

use ndarray::{ArrayD, IxDyn};
use recurrent::{
    ClassWeight, Dense, FitOptions, LayerConfig, Loss, Metric, SampleWeight, Sequential, SgdConfig,
};
use serde_json::{Value, json};

fn fixture(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/sample_weights")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

fn array(v: &Value) -> ArrayD<f32> {
    let shape: Vec<usize> = v["shape"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as usize)
        .collect();
    let data: Vec<f32> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect();
    ArrayD::from_shape_vec(IxDyn(&shape), data).unwrap()
}

/// Largest difference seen, with where.
#[derive(Default)]
struct Worst(f64, String);

impl Worst {
    fn check(&mut self, got: f64, want: f64, tol: f64, what: impl Fn() -> String) {
        let d = (got - want).abs();
        assert!(
            d <= tol * (1.0 + want.abs()),
            "{}: {got}, Keras {want}",
            what()
        );
        if d > self.0 {
            *self = Worst(d, what());
        }
    }
}

#[test]
fn weighted_losses_match_keras() {
    let f = fixture("losses.json");
    let mut worst = Worst::default();
    for case in f["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let loss: Loss = case["loss"].as_str().unwrap().parse().unwrap();
        let (y, p, w) = (array(&case["y"]), array(&case["p"]), array(&case["w"]));
        let pred_shape = p.shape().to_vec();
        let y = loss.align_targets(y, &pred_shape).unwrap();
        let v = loss
            .value_and_grad_weighted(y.view(), p.view(), Some(w.as_slice().unwrap()))
            .unwrap();
        let want = case["value"].as_f64().unwrap();
        worst.check(v.loss, want, 1e-6, || name.to_string());
    }
    println!(
        "weighted losses: largest difference from Keras {:.3e} ({})",
        worst.0, worst.1
    );
}

#[test]
fn weighted_metrics_match_keras() {
    let f = fixture("metrics.json");
    let mut worst = Worst::default();
    for case in f["cases"].as_array().unwrap() {
        let metric = Metric::from_value(&case["metric"]).unwrap();
        let (ys, ps, ws) = (
            case["y"].as_array().unwrap(),
            case["p"].as_array().unwrap(),
            case["w"].as_array().unwrap(),
        );
        let (y0, p0) = (array(&ys[0]), array(&ps[0]));
        let mut state = metric.state(recurrent::metrics::AccuracyKind::select(
            y0.shape(),
            p0.shape(),
        ));
        for (batch, want) in case["results"].as_array().unwrap().iter().enumerate() {
            let (y, p, w) = (array(&ys[batch]), array(&ps[batch]), array(&ws[batch]));
            // Labels as `fit` aligns them (a trailing axis of 1 for one unit).
            let y = if y.ndim() < p.ndim() && p.shape().last() == Some(&1) {
                let axis = ndarray::Axis(y.ndim());
                y.insert_axis(axis)
            } else {
                y
            };
            state
                .update_weighted(y.view(), p.view(), Some(w.as_slice().unwrap()))
                .unwrap();
            worst.check(state.result(), want.as_f64().unwrap(), 2e-6, || {
                format!("{} batch {}", case["metric"], batch + 1)
            });
        }
    }
    println!(
        "weighted metrics: largest difference from Keras {:.3e} ({})",
        worst.0, worst.1
    );
}

fn build(case: &Value) -> Sequential {
    let x_shape: Vec<Option<usize>> = case["x"]["shape"].as_array().unwrap()[1..]
        .iter()
        .map(|v| Some(v.as_u64().unwrap() as usize))
        .collect();
    let configs: Vec<LayerConfig> = case["layers"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let mut c = json!({"type": l[0], "units": l[1]});
            if !l[2].is_null() {
                c["activation"] = l[2].clone();
            }
            if l[3].as_bool().unwrap() {
                c["return_sequences"] = json!(true);
            }
            if i == 0 {
                c["input_shape"] = json!(x_shape);
            }
            serde_json::from_value(c).unwrap()
        })
        .collect();
    let mut model = Sequential::from_configs(&configs).unwrap();
    let names: Vec<String> = model.get_weights().into_iter().map(|(n, _)| n).collect();
    let initial: Vec<(String, ArrayD<f32>)> = names
        .into_iter()
        .zip(case["initial"].as_array().unwrap().iter().map(array))
        .collect();
    model.set_weights(&initial).unwrap();
    model
}

#[test]
fn weighted_fit_and_evaluate_match_keras() {
    let f = fixture("fit.json");
    let batch = f["batch_size"].as_u64().unwrap() as usize;
    let epochs = f["epochs"].as_u64().unwrap() as usize;
    let sgd = SgdConfig {
        learning_rate: f["sgd"]["learning_rate"].as_f64().unwrap(),
        momentum: f["sgd"]["momentum"].as_f64().unwrap(),
        ..Default::default()
    };
    let (mut worst_loss, mut worst_weights) = (Worst::default(), Worst::default());
    for case in f["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let mut model = build(case);
        let loss: Loss = case["loss"].as_str().unwrap().parse().unwrap();
        let metrics: Vec<Metric> = case["metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| Metric::from_value(m).unwrap())
            .collect();
        let weighted: Vec<Metric> = case["weighted_metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| Metric::from_value(m).unwrap())
            .collect();
        model
            .compile_with_weighted_metrics(sgd.clone(), loss, &metrics, &weighted)
            .unwrap();
        let (x, y) = (array(&case["x"]), array(&case["y"]));
        let class_weight: Option<ClassWeight> = case.get("class_weight").map(|cw| {
            cw.as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.parse().unwrap(), v.as_f64().unwrap() as f32))
                .collect()
        });
        let sample_weight = case.get("sample_weight").map(array);
        let val = case.get("validation_data").map(|v| {
            let v = v.as_array().unwrap();
            (array(&v[0]), array(&v[1]), array(&v[2]))
        });
        let history = model
            .fit(
                &x,
                &y,
                FitOptions {
                    epochs,
                    batch_size: Some(batch),
                    shuffle: false,
                    verbose: 0,
                    validation_split: case
                        .get("validation_split")
                        .map_or(0.0, |v| v.as_f64().unwrap()),
                    validation_data: val.as_ref().map(|(vx, vy, _)| (vx.into(), vy.into())),
                    validation_sample_weight: val.as_ref().map(|(_, _, vw)| vw.into()),
                    class_weight,
                    sample_weight: sample_weight.as_ref().map(SampleWeight::from),
                    ..Default::default()
                },
            )
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let want = case["history"].as_object().unwrap();
        let got_keys: Vec<&String> = history.history.keys().collect();
        let want_keys: Vec<&String> = want.keys().collect();
        assert_eq!(got_keys, want_keys, "{name}");
        for (key, values) in want {
            for (epoch, v) in values.as_array().unwrap().iter().enumerate() {
                let got = history.get(key).unwrap()[epoch];
                worst_loss.check(got, v.as_f64().unwrap(), 2e-6, || {
                    format!("{name} {key} epoch {}", epoch + 1)
                });
            }
        }
        let weights = model.get_weights();
        for ((wname, got), want) in weights.iter().zip(case["weights"].as_array().unwrap()) {
            let want = array(want);
            assert_eq!(got.shape(), want.shape(), "{name} {wname}");
            for (i, (g, w)) in got.iter().zip(want.iter()).enumerate() {
                worst_weights.check(*g as f64, *w as f64, 2e-6, || {
                    format!("{name} {wname}[{i}]")
                });
            }
        }
        let eval_w = array(&case["eval_w"]);
        let logs = model
            .evaluate_weighted(&x, &y, &eval_w, Some(batch))
            .unwrap();
        for (key, v) in case["evaluate"].as_object().unwrap() {
            worst_loss.check(logs[key], v.as_f64().unwrap(), 2e-6, || {
                format!("{name} evaluate {key}")
            });
        }
    }
    println!(
        "weighted fit: largest difference from Keras in logged values {:.3e} ({}), in \
         weights after training {:.3e} ({})",
        worst_loss.0, worst_loss.1, worst_weights.0, worst_weights.1
    );
}

/// A small binary model and its data, for the error cases.
fn binary() -> (Sequential, ndarray::Array2<f32>, ndarray::Array1<f32>) {
    let mut m = Sequential::with_seed(2);
    m.add(
        Dense::new(1)
            .activation(recurrent::Activation::Sigmoid)
            .input_shape(vec![Some(2)]),
    )
    .unwrap();
    m.compile(SgdConfig::default(), Loss::BinaryCrossentropy, &[])
        .unwrap();
    let x = ndarray::Array2::from_shape_fn((6, 2), |(i, j)| (i + j) as f32 * 0.1);
    let y = ndarray::Array1::from_shape_fn(6, |i| (i % 2) as f32);
    (m, x, y)
}

fn fit_error(options: FitOptions<'_>) -> String {
    let (mut m, x, y) = binary();
    let before = m.get_weights();
    let e = m
        .fit(
            &x,
            &y,
            FitOptions {
                verbose: 0,
                ..options
            },
        )
        .unwrap_err()
        .to_string();
    // Refused before any step: the weights are untouched.
    assert_eq!(m.get_weights(), before);
    e
}

#[test]
fn bad_weights_are_clear_errors() {
    let short = ndarray::Array1::from_elem(5, 1.0f32);
    let e = fit_error(FitOptions {
        sample_weight: Some((&short).into()),
        ..Default::default()
    });
    assert!(
        e.contains("sample_weight") && e.contains("5 weights for 6 samples"),
        "{e}"
    );

    for (bad, shown) in [(-1.0f32, "-1"), (f32::NAN, "NaN"), (f32::INFINITY, "inf")] {
        let mut w = ndarray::Array1::from_elem(6, 1.0f32);
        w[3] = bad;
        let e = fit_error(FitOptions {
            sample_weight: Some(w.into()),
            ..Default::default()
        });
        assert!(
            e.contains("sample_weight[3]") && e.contains(shown) && e.contains(">= 0"),
            "{e}"
        );
    }

    let cw: ClassWeight = BTreeMap::from([(0, 1.0), (2, 3.0)]);
    let e = fit_error(FitOptions {
        class_weight: Some(cw),
        ..Default::default()
    });
    assert!(e.contains("class_weight") && e.contains("class 2"), "{e}");

    let cw: ClassWeight = BTreeMap::from([(1, -2.0)]);
    let e = fit_error(FitOptions {
        class_weight: Some(cw),
        ..Default::default()
    });
    assert!(e.contains("class 1") && e.contains("-2"), "{e}");

    let w = ndarray::Array1::from_elem(6, 1.0f32);
    let e = fit_error(FitOptions {
        class_weight: Some(BTreeMap::from([(1, 2.0)])),
        sample_weight: Some(w.into()),
        ..Default::default()
    });
    assert!(
        e.contains("class_weight") && e.contains("sample_weight"),
        "{e}"
    );

    let w = ndarray::Array1::from_elem(6, 1.0f32);
    let e = fit_error(FitOptions {
        validation_sample_weight: Some(w.into()),
        ..Default::default()
    });
    assert!(e.contains("validation_sample_weight"), "{e}");

    // evaluate: wrong length and a negative weight.
    let (mut m, x, y) = binary();
    let e = m
        .evaluate_weighted(&x, &y, &short, None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("5 weights for 6 samples"), "{e}");

    // Per-step targets: class_weight has no class per sample; per-sample weights on a
    // per-step output are refused as Keras refuses them, with the shape to give.
    let mut m = Sequential::with_seed(1);
    m.add(
        recurrent::LSTM::new(2)
            .return_sequences(true)
            .input_shape(vec![Some(3), Some(2)]),
    )
    .unwrap();
    m.add(Dense::new(3).activation(recurrent::Activation::Softmax))
        .unwrap();
    m.compile(
        SgdConfig::default(),
        Loss::SparseCategoricalCrossentropy,
        &[],
    )
    .unwrap();
    let x = ndarray::Array3::from_shape_fn((4, 3, 2), |(i, t, j)| (i + t + j) as f32 * 0.1);
    let y = ndarray::Array2::from_shape_fn((4, 3), |(i, t)| ((i + t) % 3) as f32).into_dyn();
    let e = m
        .fit(
            &x,
            &y,
            FitOptions {
                verbose: 0,
                class_weight: Some(BTreeMap::from([(1, 2.0)])),
                ..Default::default()
            },
        )
        .unwrap_err()
        .to_string();
    assert!(e.contains("class_weight") && e.contains("[4, 3]"), "{e}");
    let per_sample = ndarray::Array1::from_elem(4, 1.0f32);
    let e = m
        .fit(
            &x,
            &y,
            FitOptions {
                verbose: 0,
                sample_weight: Some((&per_sample).into()),
                ..Default::default()
            },
        )
        .unwrap_err()
        .to_string();
    assert!(e.contains("[4, 3]") && e.contains("per step"), "{e}");
}

/// Weights of 1 everywhere train exactly as no weights (same bits), and a zero weight
/// removes a sample from the gradient: training on the other samples alone with
/// their weights scaled by n / (n - 1) gives the same steps.
#[test]
fn unit_and_zero_weights() {
    let run = |w: Option<ndarray::Array1<f32>>, keep: Option<&[usize]>| {
        let (mut m, x, y) = binary();
        let (x, y) = match keep {
            Some(k) => (x.select(ndarray::Axis(0), k), y.select(ndarray::Axis(0), k)),
            None => (x, y),
        };
        let n = x.nrows();
        m.fit(
            &x,
            &y,
            FitOptions {
                epochs: 3,
                batch_size: Some(n),
                shuffle: false,
                verbose: 0,
                sample_weight: w.map(SampleWeight::from),
                ..Default::default()
            },
        )
        .unwrap();
        m.get_weights()
    };
    assert_eq!(run(None, None), run(Some(ndarray::Array1::ones(6)), None));
    let mut w = ndarray::Array1::ones(6);
    w[4] = 0.0;
    let zeroed = run(Some(w), None);
    let scaled = run(
        Some(ndarray::Array1::from_elem(5, 5.0 / 6.0)),
        Some(&[0, 1, 2, 3, 5]),
    );
    for ((n, a), (_, b)) in zeroed.iter().zip(&scaled) {
        for (p, q) in a.iter().zip(b) {
            assert!((p - q).abs() < 1e-6, "{n}: {p} vs {q}");
        }
    }
}

/// `[fit] class_weight` through the binary: it changes training (a run that weighs
/// class 1 at 0 logs another loss than the unweighted run), and a bad key or value (at config time) or a class the model cannot output
/// (once the model is built) is one `error:` line naming `class_weight`.
#[cfg(feature = "cli")]
#[test]
fn cli_class_weight() {
    use std::process::Command;
    let bin = env!("CARGO_BIN_EXE_recurrent");
    let dir = tempfile::tempdir().unwrap();
    let config = |extra: &str| {
        format!(
            r#"
[data]
source = "generated"
task = "sentiment"
samples = 200
num_words = 50
maxlen = 20
seed = 3

[model]
layers = [
  {{ type = "embedding", input_dim = 50, output_dim = 4 }},
  {{ type = "lstm", units = 4 }},
  {{ type = "dense", units = 1, activation = "sigmoid" }},
]

[compile]
optimizer = "adam"
loss = "binary_crossentropy"
metrics = ["accuracy"]

[fit]
epochs = 1
verbose = 0
{extra}
"#
        )
    };
    let train = |name: &str, extra: &str| {
        let cfg = dir.path().join(format!("{name}.toml"));
        std::fs::write(&cfg, config(extra)).unwrap();
        let out = dir.path().join(name);
        let o = Command::new(bin)
            .args(["train", cfg.to_str().unwrap(), "-o", out.to_str().unwrap()])
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        (o.status.success(), text, out)
    };
    let loss = |out: &Path| -> f64 {
        let h: Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("history.json")).unwrap())
                .unwrap();
        h["history"]["loss"][0].as_f64().unwrap()
    };
    let (ok, text, plain) = train("plain", "");
    assert!(ok, "{text}");
    let (ok, text, weighted) = train("weighted", r#"class_weight = { "0" = 1.0, "1" = 0.0 }"#);
    assert!(ok, "{text}");
    let (a, b) = (loss(&plain), loss(&weighted));
    assert!(
        (a - b).abs() > 1e-3,
        "class_weight had no effect: {a} vs {b}"
    );
    for (extra, want) in [
        (
            r#"class_weight = { "one" = 2.0 }"#,
            "[fit] class_weight: key \"one\"",
        ),
        (
            r#"class_weight = { "1" = -1.0 }"#,
            "[fit] class_weight: the weight of class 1",
        ),
        (r#"class_weight = { "2" = 1.0 }"#, "names class 2"),
    ] {
        let (ok, text, _) = train("bad", extra);
        let errors: Vec<&str> = text.lines().filter(|l| l.starts_with("error:")).collect();
        assert!(
            !ok && errors.len() == 1 && errors[0].contains(want),
            "{extra}: {text}"
        );
    }
}
