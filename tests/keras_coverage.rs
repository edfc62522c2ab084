//! Parity with Keras 3 for the optimizers, schedules and metrics of issue 24, against
//! the fixtures `tests/fixtures/make_coverage.py` wrote with Keras 3.15 / TF 2.21:
//! - every optimizer case's learning rate and weights over five steps;
//! - every metric's running result after each of three batches (stateful over the
//!   epoch: AUC, precision and F1 from the accumulated counts);
//! - the history keys `fit` logs for Keras's metric spellings.
//!
//! Each test prints the largest difference from Keras it saw.

use std::path::Path;

use ndarray::{Array2, ArrayD, IxDyn};
use recurrent::layers::Param;
use recurrent::metrics::AccuracyKind;
use recurrent::{
    Activation, Dense, FitOptions, Loss, Metric, Optimizer, OptimizerConfig, Sequential,
};
use serde_json::Value;

fn fixture(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/coverage")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

fn floats(v: &Value) -> Vec<f32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

fn shape(v: &Value) -> Vec<usize> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as usize)
        .collect()
}

#[test]
fn optimizers_and_schedules_match_keras_over_five_steps() {
    let f = fixture("optimizers.json");
    let w0 = floats(&f["w0"]);
    let grads: Vec<Vec<f32>> = f["grads"].as_array().unwrap().iter().map(floats).collect();
    let mut worst = (0.0f64, String::new());
    for case in f["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let config: OptimizerConfig = serde_json::from_value(case["config"].clone())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        // The config survives a write and a read (model files keep it).
        let again: OptimizerConfig =
            serde_json::from_str(&serde_json::to_string(&config).unwrap()).unwrap();
        assert_eq!(again, config, "{name}");
        let mut opt = Optimizer::new(config).unwrap_or_else(|e| panic!("{name}: {e}"));
        let mut p = Param::new(
            "kernel",
            ArrayD::from_shape_vec(IxDyn(&[6]), w0.clone()).unwrap(),
        );
        let lrs = floats(&case["learning_rates"]);
        for (step, g) in grads.iter().enumerate() {
            let lr = opt.learning_rate();
            assert!(
                (lr - lrs[step] as f64).abs() <= 1e-7 * (1.0 + lrs[step].abs() as f64),
                "{name} step {step}: learning rate {lr}, Keras {}",
                lrs[step]
            );
            p.grad = ArrayD::from_shape_vec(IxDyn(&[6]), g.clone()).unwrap();
            opt.apply(&mut [("dense/kernel".to_string(), &mut p)])
                .unwrap();
            let want = floats(&case["weights"][step]);
            for (i, (got, want)) in p.value.iter().zip(&want).enumerate() {
                let d = (*got as f64 - *want as f64).abs();
                assert!(
                    d <= 2e-6 * (1.0 + want.abs() as f64),
                    "{name} step {step} element {i}: {got}, Keras {want}"
                );
                if d > worst.0 {
                    worst = (d, format!("{name} step {step}"));
                }
            }
        }
    }
    println!(
        "optimizers: largest difference from Keras {:.2e} ({})",
        worst.0, worst.1
    );
}

#[test]
fn metrics_accumulate_as_keras_over_three_batches() {
    let f = fixture("metrics.json");
    let mut worst = (0.0f64, String::new());
    for case in f["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let metric = Metric::from_value(&case["metric"]).unwrap_or_else(|e| panic!("{name}: {e}"));
        let batches = case["batches"].as_array().unwrap();
        let first = &batches[0];
        let kind = AccuracyKind::select(
            &shape(&first["y_true_shape"]),
            &shape(&first["y_pred_shape"]),
        );
        let mut state = metric.state(kind);
        for (b, (batch, want)) in batches.iter().zip(floats(&case["results"])).enumerate() {
            let yt = ArrayD::from_shape_vec(
                IxDyn(&shape(&batch["y_true_shape"])),
                floats(&batch["y_true"]),
            )
            .unwrap();
            let yp = ArrayD::from_shape_vec(
                IxDyn(&shape(&batch["y_pred_shape"])),
                floats(&batch["y_pred"]),
            )
            .unwrap();
            state
                .update(yt.view(), yp.view())
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            let got = state.result();
            let d = (got - want as f64).abs();
            assert!(d <= 2e-6, "{name} after batch {b}: {got}, Keras {want}");
            if d > worst.0 {
                worst = (d, format!("{name} batch {b}"));
            }
        }
    }
    println!(
        "metrics: largest difference from Keras {:.2e} ({})",
        worst.0, worst.1
    );
}

#[test]
fn fit_logs_the_names_keras_logs() {
    let f = fixture("metric_names.json");
    for case in f["cases"].as_array().unwrap() {
        let metrics: Vec<Metric> = case["metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| Metric::from_value(m).unwrap())
            .collect();
        let units = case["units"].as_u64().unwrap() as usize;
        let loss: Loss = case["loss"].as_str().unwrap().parse().unwrap();
        let mut model = Sequential::with_seed(1);
        let activation = if units == 1 {
            Activation::Sigmoid
        } else {
            Activation::Softmax
        };
        model.add(Dense::new(units).activation(activation)).unwrap();
        model
            .compile(OptimizerConfig::Sgd(Default::default()), loss, &metrics)
            .unwrap();
        let x = Array2::from_shape_fn((8, 3), |(i, j)| ((i * 3 + j) as f32 * 0.37).sin());
        let y: ndarray::Array1<f32> = if units == 1 {
            ndarray::Array1::from_shape_fn(8, |i| (i % 2) as f32)
        } else {
            ndarray::Array1::from_shape_fn(8, |i| (i % units) as f32)
        };
        let history = model
            .fit(
                &x,
                &y,
                FitOptions {
                    epochs: 1,
                    verbose: 0,
                    validation_split: 0.25,
                    ..Default::default()
                },
            )
            .unwrap();
        let keys: Vec<&str> = history.history.keys().map(String::as_str).collect();
        let want: Vec<&str> = case["history"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k.as_str().unwrap())
            .collect();
        assert_eq!(keys, want, "metrics={}", case["keras"]);
    }
}

/// With frozen weights (SGD at learning rate 0), the metrics `fit` logs for an epoch of
/// eight batches equal the metrics of the whole data at once (`evaluate` with one batch):
/// Keras accumulates AUC, precision and F1 over the epoch. A mean of the batch AUCs
/// differs from that, which the test also checks, so it can tell the two apart.
#[test]
fn fit_metrics_accumulate_over_the_epoch() {
    let n = 64;
    let x = Array2::from_shape_fn((n, 3), |(i, j)| ((i * 7 + j * 3) as f32 * 0.61).sin());
    let y = ndarray::Array1::from_shape_fn(n, |i| f32::from(((i * 5) % 7) < 3));
    let metrics: Vec<Metric> = [
        serde_json::json!("AUC"),
        serde_json::json!({"type": "AUC", "curve": "PR"}),
        serde_json::json!("precision"),
        serde_json::json!("recall"),
        serde_json::json!("acc"),
        serde_json::json!("mse"),
        serde_json::json!({"type": "F1Score", "threshold": 0.5}),
    ]
    .iter()
    .map(|m| Metric::from_value(m).unwrap())
    .collect();
    let mut model = Sequential::with_seed(3);
    model
        .add(Dense::new(1).activation(Activation::Sigmoid))
        .unwrap();
    let frozen = recurrent::SgdConfig {
        learning_rate: 0.0,
        ..Default::default()
    };
    model
        .compile(frozen, Loss::BinaryCrossentropy, &metrics)
        .unwrap();
    let history = model
        .fit(
            &x,
            &y,
            FitOptions {
                epochs: 1,
                batch_size: Some(8),
                shuffle: false,
                verbose: 0,
                ..Default::default()
            },
        )
        .unwrap();
    let whole = model.evaluate(&x, &y, Some(n)).unwrap();
    for m in &metrics {
        let fit = history.get(m.name()).unwrap()[0];
        let all = whole[m.name()];
        assert!(
            (fit - all).abs() < 1e-12,
            "{}: fit {fit}, whole data {all}",
            m.name()
        );
    }
    // The mean of the eight batch AUCs is another number.
    let pred = model.predict(&x, None).unwrap();
    let yy = y.clone().into_shape_with_order((n, 1)).unwrap().into_dyn();
    let mut batch_aucs = 0.0;
    for b in 0..8 {
        let mut s = metrics[0].state(AccuracyKind::Binary);
        let rows = ndarray::s![b * 8..(b + 1) * 8, ..];
        s.update(yy.slice(rows).into_dyn(), pred.slice(rows).into_dyn())
            .unwrap();
        batch_aucs += s.result() / 8.0;
    }
    let auc = history.get("AUC").unwrap()[0];
    assert!(
        (batch_aucs - auc).abs() > 1e-3,
        "epoch AUC {auc}, mean of batches {batch_aucs}"
    );
}

fn tiny_model(
    optimizer: impl Into<OptimizerConfig>,
) -> (Sequential, Array2<f32>, ndarray::Array1<f32>) {
    let x = Array2::from_shape_fn((16, 3), |(i, j)| ((i * 3 + j) as f32 * 0.37).sin());
    let y = ndarray::Array1::from_shape_fn(16, |i| (i % 2) as f32);
    let mut model = Sequential::with_seed(2);
    model
        .add(Dense::new(1).activation(Activation::Sigmoid))
        .unwrap();
    model
        .compile(optimizer, Loss::BinaryCrossentropy, &[Metric::Accuracy])
        .unwrap();
    (model, x, y)
}

/// Keras 3's LearningRateScheduler sets the rate at each epoch's start (epoch 0
/// included) and logs it as `learning_rate`; ReduceLROnPlateau logs it every epoch.
#[test]
fn learning_rate_is_scheduled_and_logged_as_keras() {
    use recurrent::callbacks::{LearningRateScheduler, ReduceLrOnPlateau};
    let sgd = recurrent::SgdConfig {
        learning_rate: 0.1,
        ..Default::default()
    };
    let (mut model, x, y) = tiny_model(sgd.clone());
    let mut halve = LearningRateScheduler::new(|_, lr| lr * 0.5);
    let h = model
        .fit(
            &x,
            &y,
            FitOptions {
                epochs: 3,
                verbose: 0,
                callbacks: vec![&mut halve],
                ..Default::default()
            },
        )
        .unwrap();
    let want: Vec<f64> = [0.05f32, 0.025, 0.0125].iter().map(|&v| v as f64).collect();
    assert_eq!(h.get("learning_rate").unwrap(), want.as_slice());

    let (mut model, x, y) = tiny_model(sgd);
    let mut plateau = ReduceLrOnPlateau::new()
        .monitor("loss")
        .patience(1)
        .factor(0.5)
        .min_delta(10.0);
    let h = model
        .fit(
            &x,
            &y,
            FitOptions {
                epochs: 3,
                verbose: 0,
                callbacks: vec![&mut plateau],
                ..Default::default()
            },
        )
        .unwrap();
    // Epoch 1 is the first without improvement (epoch 0 improves on infinity); each
    // epoch logs the rate it trained with, before its own reduction, as Keras.
    let want: Vec<f64> = [0.1f32, 0.1, 0.05].iter().map(|&v| v as f64).collect();
    assert_eq!(h.get("learning_rate").unwrap(), want.as_slice());

    // A rate given as a schedule cannot be set, as in Keras.
    let scheduled = OptimizerConfig::from(recurrent::SgdConfig::default()).with_schedule(
        recurrent::LearningRateSchedule::ExponentialDecay {
            initial_learning_rate: 0.1,
            decay_steps: 1.0,
            decay_rate: 0.5,
            staircase: false,
        },
    );
    let (mut model, x, y) = tiny_model(scheduled);
    let mut halve = LearningRateScheduler::new(|_, lr| lr * 0.5);
    let e = model
        .fit(
            &x,
            &y,
            FitOptions {
                epochs: 1,
                verbose: 0,
                callbacks: vec![&mut halve],
                ..Default::default()
            },
        )
        .unwrap_err()
        .to_string();
    assert!(e.contains("schedule"), "{e}");
}

/// A Keras compile config's metric instances keep their arguments and names when a
/// Keras model is imported; what we do not compute is reported, not approximated.
#[cfg(feature = "keras")]
#[test]
fn imported_compile_config_metrics_keep_their_arguments() {
    use recurrent::interop::keras_config::parse_training_config;
    let cfg = serde_json::json!({
        "loss": "binary_crossentropy",
        "metrics": [
            {"module": "keras.metrics", "class_name": "AUC", "config": {"name": "pr_auc",
             "dtype": "float32", "num_thresholds": 200, "curve": "PR",
             "summation_method": "interpolation", "multi_label": false, "num_labels": null,
             "label_weights": null, "from_logits": false}, "registered_name": null},
            {"module": "keras.metrics", "class_name": "SparseTopKCategoricalAccuracy",
             "config": {"name": "top2", "dtype": "float32", "k": 2, "from_sorted_ids": false}},
            {"module": "keras.metrics", "class_name": "AUC", "config": {"name": "ml_auc",
             "multi_label": true}},
            "acc"
        ]
    });
    let t = parse_training_config(&cfg, "test").unwrap();
    let names: Vec<&str> = t.metrics.iter().map(|m| m.name()).collect();
    assert_eq!(names, ["pr_auc", "top2", "acc"]);
    assert_eq!(
        t.metrics[0],
        Metric::from_value(&serde_json::json!({"type": "AUC", "curve": "PR", "name": "pr_auc"}))
            .unwrap()
    );
    assert_eq!(t.skipped_metrics, ["ml_auc"]);
}
