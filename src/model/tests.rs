//! Model-level tests: learning, determinism, summary, weights, callbacks, bad input.

use ndarray::{Array1, Array2, Array3, ArrayD, IxDyn, arr1, arr2};

use super::*;
use crate::callbacks::{Callback, Control, Logs};
use crate::layers::{Activation, Dense, Dropout, LayerConfig};
use crate::losses::Loss;
use crate::metrics::Metric;
use crate::optimizers::{AdamConfig, SgdConfig};
use crate::rng::SeededRng;
use crate::{Error, Result};

/// Two Gaussian-ish blobs in 4-D, linearly separable by the sign of x0 + x1.
fn separable(n: usize, seed: u64) -> (Array2<f32>, Array1<f32>) {
    let mut rng = SeededRng::new(seed);
    let x = Array2::from_shape_simple_fn((n, 4), || rng.uniform(-1.0, 1.0));
    let y = x
        .rows()
        .into_iter()
        .map(|r| (r[0] + r[1] > 0.0) as u8 as f32)
        .collect();
    (x, y)
}

fn binary_model(seed: u64) -> Sequential {
    let mut m = Sequential::with_seed(seed);
    m.add(
        Dense::new(8)
            .activation(Activation::Relu)
            .input_shape(vec![Some(4)]),
    )
    .unwrap();
    m.add(Dropout::new(0.1)).unwrap();
    m.add(Dense::new(1).activation(Activation::Sigmoid))
        .unwrap();
    m.compile(
        AdamConfig {
            learning_rate: 0.01,
            ..AdamConfig::default()
        },
        Loss::BinaryCrossentropy,
        &[Metric::Accuracy],
    )
    .unwrap();
    m
}

fn quiet(epochs: usize) -> FitOptions<'static> {
    FitOptions {
        epochs,
        verbose: 0,
        ..FitOptions::default()
    }
}

#[test]
fn dense_model_learns_a_separable_problem() {
    let (x, y) = separable(512, 1);
    let mut m = binary_model(3);
    let h = m
        .fit(
            &x,
            &y,
            FitOptions {
                validation_split: 0.25,
                ..quiet(30)
            },
        )
        .unwrap();
    assert_eq!(
        h.history.keys().collect::<Vec<_>>(),
        ["accuracy", "loss", "val_accuracy", "val_loss"]
    );
    assert_eq!(h.len(), 30);
    let loss = h.loss();
    assert!(loss[29] < loss[0] * 0.5, "loss {loss:?}");
    let val_acc = h.get("val_accuracy").unwrap()[29];
    assert!(val_acc > 0.95, "val_accuracy {val_acc}");
    let (xt, yt) = separable(256, 2);
    let logs = m.evaluate(&xt, &yt, None).unwrap();
    assert!(logs["accuracy"] > 0.95, "{logs:?}");
}

#[test]
fn same_seed_same_run_and_other_seed_differs() {
    let (x, y) = separable(100, 1);
    let run = |seed| {
        let mut m = binary_model(seed);
        let h = m.fit(&x, &y, quiet(3)).unwrap();
        (h, m.get_weights())
    };
    let (h1, w1) = run(5);
    let (h2, w2) = run(5);
    assert_eq!(h1, h2);
    assert_eq!(w1, w2);
    let (h3, _) = run(6);
    assert_ne!(h1, h3);
    // The default seed is fixed too.
    let a = Sequential::new();
    let b = Sequential::new();
    assert_eq!(a.seed(), b.seed());
}

#[test]
fn summary_matches_keras_layout() {
    // Keras 3.15.1 prints exactly this for the same model after one fit with Adam.
    let want = "\
Model: \"sequential\"
┏━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━┓
┃ Layer (type)                    ┃ Output Shape           ┃       Param # ┃
┡━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━┩
│ dense (Dense)                   │ (None, 4)              │            24 │
├─────────────────────────────────┼────────────────────────┼───────────────┤
│ dense_1 (Dense)                 │ (None, 1)              │             5 │
└─────────────────────────────────┴────────────────────────┴───────────────┘
 Total params: 89 (360.00 B)
 Trainable params: 29 (116.00 B)
 Non-trainable params: 0 (0.00 B)
 Optimizer params: 60 (244.00 B)
";
    let mut m = Sequential::new();
    m.add(
        Dense::new(4)
            .activation(Activation::Relu)
            .input_shape(vec![Some(5)]),
    )
    .unwrap();
    m.add(Dense::new(1).activation(Activation::Sigmoid))
        .unwrap();
    m.compile(
        AdamConfig::default(),
        Loss::BinaryCrossentropy,
        &[Metric::Accuracy],
    )
    .unwrap();
    let before = m.summary();
    assert!(!before.contains("Optimizer params"), "{before}");
    assert!(
        before.contains(" Total params: 29 (116.00 B)\n"),
        "{before}"
    );
    let (x, _) = separable(10, 1);
    let y = Array1::<f32>::zeros(10);
    let x5 =
        ndarray::concatenate(ndarray::Axis(1), &[x.view(), x.slice(ndarray::s![.., ..1])]).unwrap();
    m.fit(&x5, &y, quiet(1)).unwrap();
    assert_eq!(m.summary(), want);
}

#[test]
fn unbuilt_summary_shows_question_marks() {
    let mut m = Sequential::new();
    m.add(Dense::new(3)).unwrap();
    let s = m.summary();
    assert!(
        s.contains("│ dense (Dense)                   │ ?                      │   0 (unbuilt) │"),
        "{s}"
    );
    assert!(s.contains(" Total params: 0 (0.00 B)"), "{s}");
}

#[test]
fn keras_default_names_and_uniqueness() {
    let mut m = Sequential::new();
    m.add(Dense::new(3).input_shape(vec![Some(2)])).unwrap();
    m.add(Dropout::new(0.5)).unwrap();
    m.add(Dense::new(3)).unwrap();
    m.add(Dense::new(1).name("out")).unwrap();
    let names: Vec<&str> = m.layers().iter().map(|l| l.name()).collect();
    assert_eq!(names, ["dense", "dropout", "dense_1", "out"]);
    let e = m.add(Dense::new(1).name("out")).unwrap_err();
    assert!(e.to_string().contains("`out`"), "{e}");
    assert_eq!(m.layers().len(), 4);
    // Counters are per model.
    let mut other = Sequential::new();
    other.add(Dense::new(1)).unwrap();
    assert_eq!(other.layers()[0].name(), "dense");
}

#[test]
fn build_errors_name_the_layers() {
    let mut m = Sequential::new();
    m.add(Dense::new(3)).unwrap();
    let e = m.build(&[None]).unwrap_err();
    assert!(matches!(e, Error::Shape(_)));
    assert!(e.to_string().contains("`dense` (Dense)"), "{e}");
    assert!(!m.is_built());
    // Adding a layer that does not fit a built model is refused and leaves it intact.
    m.build(&[Some(2)]).unwrap();
    let e = m.add(Dropout::new(2.0)).unwrap_err();
    assert!(e.to_string().contains("rate"), "{e}");
    assert_eq!(m.layers().len(), 1);
    assert!(m.is_built());
    m.add(Dropout::new(0.2)).unwrap();
    assert_eq!(m.output_shape().unwrap(), &[Some(3)]);
}

#[test]
fn from_configs_builds_when_the_input_is_known() {
    let configs: Vec<LayerConfig> = serde_json::from_str(
        r#"[{"type": "dense", "units": 4, "activation": "relu", "input_shape": [6]},
            {"type": "dropout", "rate": 0.2},
            {"type": "dense", "units": 2, "activation": "softmax"}]"#,
    )
    .unwrap();
    let m = Sequential::from_configs(&configs).unwrap();
    assert!(m.is_built());
    assert_eq!(m.count_params(), 6 * 4 + 4 + 4 * 2 + 2);
    assert_eq!(m.output_shape().unwrap(), &[Some(2)]);
}

#[test]
fn fit_and_evaluate_use_keras_logits_for_sigmoid() {
    // Keras 3.15.1 `evaluate` of Dense(1, sigmoid), kernel 1, bias 0, on these inputs.
    let mut m = Sequential::new();
    m.add(
        Dense::new(1)
            .activation(Activation::Sigmoid)
            .input_shape(vec![Some(1)]),
    )
    .unwrap();
    m.set_weights(&[
        (
            "dense/kernel".into(),
            ArrayD::from_elem(IxDyn(&[1, 1]), 1.0),
        ),
        ("dense/bias".into(), ArrayD::zeros(IxDyn(&[1]))),
    ])
    .unwrap();
    m.compile(SgdConfig::default(), Loss::BinaryCrossentropy, &[])
        .unwrap();
    let x = arr2(&[[-40.0f32], [40.0], [3.0], [-0.5]]);
    let y = arr1(&[1.0f32, 0.0, 1.0, 0.0]);
    let logs = m.evaluate(&x, &y, Some(4)).unwrap();
    assert!((logs["loss"] - 20.130664825439453).abs() < 1e-5, "{logs:?}");
    assert_eq!(logs.keys().collect::<Vec<_>>(), ["loss"]);
    // One SGD step: the gradient w.r.t. the logits is p - y, finite despite saturation.
    m.fit(
        &x,
        &y,
        FitOptions {
            batch_size: Some(4),
            shuffle: false,
            ..quiet(1)
        },
    )
    .unwrap();
    let w = m.get_weights();
    let p: Vec<f32> = [-40.0f32, 40.0, 3.0, -0.5]
        .iter()
        .map(|&z| crate::layers::activation::sigmoid(z))
        .collect();
    let grad_k: f32 = [-40.0f32, 40.0, 3.0, -0.5]
        .iter()
        .zip(&p)
        .zip([1.0f32, 0.0, 1.0, 0.0])
        .map(|((x, p), y)| x * (p - y) / 4.0)
        .sum();
    let k = w[0].1.iter().next().copied().unwrap();
    assert!(
        (k - (1.0 - 0.01 * grad_k)).abs() < 1e-5,
        "{k} vs {}",
        1.0 - 0.01 * grad_k
    );
}

#[test]
fn sequence_output_with_sparse_labels_per_time_step() {
    let mut rng = SeededRng::new(9);
    let x = Array3::from_shape_simple_fn((16, 5, 3), || rng.uniform(-1.0, 1.0));
    // Class = index of the largest feature at each step.
    let y = Array2::from_shape_fn((16, 5), |(i, t)| {
        let r = x.slice(ndarray::s![i, t, ..]);
        (0..3).max_by(|&a, &b| r[a].total_cmp(&r[b])).unwrap() as f32
    });
    let mut m = Sequential::with_seed(1);
    m.add(
        Dense::new(3)
            .activation(Activation::Softmax)
            .input_shape(vec![None, Some(3)]),
    )
    .unwrap();
    m.compile(
        AdamConfig {
            learning_rate: 0.05,
            ..AdamConfig::default()
        },
        Loss::SparseCategoricalCrossentropy,
        &[Metric::Accuracy],
    )
    .unwrap();
    let h = m.fit(&x, &y, quiet(60)).unwrap();
    assert!(h.get("accuracy").unwrap()[59] > 0.9, "{h:?}");
    let p = m.predict(&x, Some(5)).unwrap();
    assert_eq!(p.shape(), &[16, 5, 3]);
    assert_eq!(p, m.predict(&x, Some(64)).unwrap());
}

#[test]
fn weights_round_trip_and_reject_bad_sets() {
    let (x, _) = separable(8, 1);
    let mut a = binary_model(1);
    let b_w = binary_model(2).get_weights();
    assert_ne!(a.get_weights(), b_w);
    let names: Vec<&str> = b_w.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "dense/kernel",
            "dense/bias",
            "dense_1/kernel",
            "dense_1/bias"
        ]
    );
    a.set_weights(&b_w).unwrap();
    assert_eq!(a.get_weights(), b_w);
    let mut b = binary_model(2);
    assert_eq!(a.predict(&x, None).unwrap(), b.predict(&x, None).unwrap());

    let before = a.get_weights();
    let mut wrong = b_w.clone();
    wrong[1].1 = ArrayD::zeros(IxDyn(&[9]));
    assert!(matches!(a.set_weights(&wrong), Err(Error::Shape(_))));
    assert!(
        a.set_weights(&b_w[..3])
            .unwrap_err()
            .to_string()
            .contains("dense_1/bias")
    );
    let mut extra = b_w.clone();
    extra.push(("nope/kernel".into(), ArrayD::zeros(IxDyn(&[1]))));
    assert!(
        a.set_weights(&extra)
            .unwrap_err()
            .to_string()
            .contains("nope/kernel")
    );
    let mut nan = b_w.clone();
    nan[0].1[[0, 0]] = f32::NAN;
    assert!(a.set_weights(&nan).is_err());
    assert_eq!(a.get_weights(), before);
}

#[derive(Default)]
struct Recorder {
    events: Vec<String>,
    stop_after: usize,
    weights_seen: usize,
}

impl Callback for Recorder {
    fn on_train_begin(&mut self, _model: &mut Sequential) -> Result<()> {
        self.events.push("begin".into());
        Ok(())
    }
    fn on_epoch_begin(&mut self, epoch: usize) -> Result<()> {
        self.events.push(format!("epoch_begin {epoch}"));
        Ok(())
    }
    fn on_train_batch_end(&mut self, batch: usize, logs: &Logs) -> Result<()> {
        assert!(logs.contains_key("loss"));
        self.events.push(format!("batch {batch}"));
        Ok(())
    }
    fn on_epoch_end(
        &mut self,
        epoch: usize,
        logs: &Logs,
        model: &mut Sequential,
    ) -> Result<Control> {
        assert!(logs.contains_key("val_loss"));
        self.weights_seen = model.get_weights().len();
        self.events.push(format!("epoch_end {epoch}"));
        Ok(if epoch + 1 >= self.stop_after {
            Control::Stop
        } else {
            Control::Continue
        })
    }
    fn on_train_end(&mut self, _logs: &Logs, _model: &mut Sequential) -> Result<()> {
        self.events.push("end".into());
        Ok(())
    }
}

#[test]
fn callbacks_are_called_in_order_and_can_stop() {
    let (x, y) = separable(40, 1);
    let (vx, vy) = separable(10, 2);
    let mut m = binary_model(1);
    let mut rec = Recorder {
        stop_after: 3,
        ..Recorder::default()
    };
    let h = m
        .fit(
            &x,
            &y,
            FitOptions {
                epochs: 10,
                initial_epoch: 1,
                batch_size: Some(16),
                validation_data: Some(((&vx).into(), (&vy).into())),
                callbacks: vec![&mut rec],
                ..quiet(10)
            },
        )
        .unwrap();
    assert_eq!(h.epoch, [1, 2]);
    assert_eq!(rec.weights_seen, 4);
    assert_eq!(
        rec.events,
        [
            "begin",
            "epoch_begin 1",
            "batch 0",
            "batch 1",
            "batch 2",
            "epoch_end 1",
            "epoch_begin 2",
            "batch 0",
            "batch 1",
            "batch 2",
            "epoch_end 2",
            "end"
        ]
    );
}

#[test]
fn validation_split_holds_out_the_last_samples() {
    let (x, y) = separable(40, 1);
    let mut m = binary_model(1);
    // 0.25 of 40: the last 10 samples, never trained on.
    let h = m
        .fit(
            &x,
            &y,
            FitOptions {
                validation_split: 0.25,
                ..quiet(1)
            },
        )
        .unwrap();
    let tail = m
        .evaluate(
            x.slice(ndarray::s![30.., ..]).to_owned(),
            y.slice(ndarray::s![30..]).to_owned(),
            None,
        )
        .unwrap();
    assert!((h.get("val_loss").unwrap()[0] - tail["loss"]).abs() < 1e-9);
    let e = m
        .fit(
            &x,
            &y,
            FitOptions {
                validation_split: 0.99,
                ..quiet(1)
            },
        )
        .unwrap_err();
    assert!(e.to_string().contains("validation_split"), "{e}");
}

#[test]
fn bad_input_is_reported_with_what_and_where() {
    let (x, y) = separable(20, 1);
    let msg = |r: Result<History>| r.unwrap_err().to_string();

    let mut uncompiled = Sequential::new();
    uncompiled
        .add(Dense::new(1).input_shape(vec![Some(4)]))
        .unwrap();
    assert!(msg(uncompiled.fit(&x, &y, quiet(1))).contains("compile"));

    let mut m = binary_model(1);
    // Label shape vs output shape.
    let y2 = Array2::<f32>::zeros((20, 3));
    assert!(msg(m.fit(&x, &y2, quiet(1))).contains("[20, 3]"));
    // Sample counts.
    let y_short = Array1::<f32>::zeros(19);
    assert!(msg(m.fit(&x, &y_short, quiet(1))).contains("19"));
    // Empty dataset.
    let x0 = Array2::<f32>::zeros((0, 4));
    let y0 = Array1::<f32>::zeros(0);
    assert!(msg(m.fit(&x0, &y0, quiet(1))).contains("no samples"));
    // NaN label / input, naming the sample.
    let mut yn = y.clone();
    yn[7] = f32::NAN;
    assert!(msg(m.fit(&x, &yn, quiet(1))).contains("sample 7"));
    let mut xn = x.clone();
    xn[[12, 2]] = f32::INFINITY;
    assert!(msg(m.fit(&xn, &y, quiet(1))).contains("sample 12"));
    assert!(
        m.predict(&xn, None)
            .unwrap_err()
            .to_string()
            .contains("sample 12")
    );
    // batch_size 0, validation_split out of range.
    let e = msg(m.fit(
        &x,
        &y,
        FitOptions {
            batch_size: Some(0),
            ..quiet(1)
        },
    ));
    assert!(e.contains("batch_size"), "{e}");
    for vs in [1.0, -0.1, f64::NAN] {
        let e = msg(m.fit(
            &x,
            &y,
            FitOptions {
                validation_split: vs,
                ..quiet(1)
            },
        ));
        assert!(e.contains("validation_split"), "{e}");
    }
    // Token ids into a Dense model; wrong feature width.
    let ids = Array2::<i32>::zeros((20, 4));
    let e = msg(m.fit(&ids, &y, quiet(1)));
    assert!(
        e.contains("`dense` (Dense)") && e.contains("token ids"),
        "{e}"
    );
    let x3 = Array2::<f32>::zeros((20, 3));
    assert!(matches!(m.fit(&x3, &y, quiet(1)), Err(Error::Shape(_))));

    // Sparse labels: out of range, not integers.
    let mut s = Sequential::new();
    s.add(
        Dense::new(3)
            .activation(Activation::Softmax)
            .input_shape(vec![Some(4)]),
    )
    .unwrap();
    s.compile(
        SgdConfig::default(),
        Loss::SparseCategoricalCrossentropy,
        &[Metric::Accuracy],
    )
    .unwrap();
    let mut labels = Array1::<i32>::zeros(20);
    labels[4] = 3;
    let e = msg(s.fit(&x, labels, quiet(1)));
    assert!(e.contains("sample 4") && e.contains("[0, 3)"), "{e}");
    let mut frac = Array1::<f32>::zeros(20);
    frac[5] = 1.5;
    assert!(msg(s.fit(&x, &frac, quiet(1))).contains("sample 5"));
    // Nothing above changed the weights of the failed fits' model.
    let w = m.get_weights();
    let _ = m.fit(&xn, &y, quiet(1));
    assert_eq!(w, m.get_weights());
}

#[test]
fn integer_label_types_convert() {
    let (x, y) = separable(20, 1);
    let mut m = binary_model(1);
    let y8: Array1<u8> = y.mapv(|v| v as u8);
    let y64: Array1<i64> = y.mapv(|v| v as i64);
    let a = m.evaluate(&x, y8, None).unwrap();
    let b = m.evaluate(&x, y64, None).unwrap();
    let c = m.evaluate(&x, &y, None).unwrap();
    assert_eq!(a, c);
    assert_eq!(b, c);
}

mod recurrent_models {
    use super::*;
    use crate::layers::{Embedding, GRU, LSTM, SimpleRNN};

    fn text_model(
        vocab: usize,
        dim: usize,
        rnn: Box<dyn crate::layers::Layer>,
        out: usize,
    ) -> Sequential {
        let mut m = Sequential::new();
        m.add(Embedding::new(vocab, dim)).unwrap();
        m.add_boxed(rnn).unwrap();
        m.add(Dense::new(out)).unwrap();
        m.build(&[None]).unwrap();
        m
    }

    #[test]
    fn parameter_totals_match_keras() {
        let cases: Vec<(Sequential, usize)> = vec![
            (text_model(500, 16, Box::new(LSTM::new(8)), 1), 8_809),
            (text_model(500, 16, Box::new(SimpleRNN::new(8)), 1), 8_209),
            (text_model(1000, 100, Box::new(LSTM::new(100)), 46), 185_046),
            (text_model(10000, 32, Box::new(LSTM::new(32)), 1), 328_353),
            (
                text_model(10000, 128, Box::new(LSTM::new(128)), 1),
                1_411_713,
            ),
            (text_model(10000, 32, Box::new(GRU::new(32)), 1), 326_369),
        ];
        for (m, want) in cases {
            // Printed so the totals can be read off a test run (`--nocapture`).
            println!("{}", m.summary());
            assert_eq!(m.count_params(), want, "{}", m.summary());
            assert!(
                m.summary()
                    .contains(&format!(" Total params: {} (", summary::thousands(want)))
            );
        }
        let mut m = Sequential::new();
        m.add(SimpleRNN::new(8).input_shape(vec![Some(100), Some(500)]))
            .unwrap();
        m.add(Dense::new(1).activation(Activation::Sigmoid))
            .unwrap();
        assert!(m.is_built());
        println!("{}", m.summary());
        assert_eq!(m.count_params(), 4_081);
    }

    #[test]
    fn summary_of_embedding_lstm_dense_matches_keras() {
        let want = "\
Model: \"sequential\"
┏━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━┓
┃ Layer (type)                    ┃ Output Shape           ┃       Param # ┃
┡━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━┩
│ embedding (Embedding)           │ (None, 100, 16)        │         8,000 │
├─────────────────────────────────┼────────────────────────┼───────────────┤
│ lstm (LSTM)                     │ (None, 8)              │           800 │
├─────────────────────────────────┼────────────────────────┼───────────────┤
│ dense (Dense)                   │ (None, 1)              │             9 │
└─────────────────────────────────┴────────────────────────┴───────────────┘
 Total params: 8,809 (34.41 KB)
 Trainable params: 8,809 (34.41 KB)
 Non-trainable params: 0 (0.00 B)
";
        let mut m = Sequential::new();
        m.add(Embedding::new(500, 16)).unwrap();
        m.add(LSTM::new(8)).unwrap();
        m.add(Dense::new(1).activation(Activation::Sigmoid))
            .unwrap();
        m.build(&[Some(100)]).unwrap();
        assert_eq!(m.summary(), want);
    }

    #[test]
    fn stacked_names_and_shapes() {
        let mut m = Sequential::new();
        m.add(Embedding::new(100, 8)).unwrap();
        m.add(LSTM::new(4).return_sequences(true)).unwrap();
        m.add(Dropout::new(0.5)).unwrap();
        m.add(LSTM::new(4)).unwrap();
        m.add(Dense::new(1)).unwrap();
        m.build(&[None]).unwrap();
        let names: Vec<&str> = m.layers().iter().map(|l| l.name()).collect();
        assert_eq!(names, ["embedding", "lstm", "dropout", "lstm_1", "dense"]);
        let s = m.summary();
        assert!(
            s.contains("│ lstm_1 (LSTM)                   │ (None, 4)              │"),
            "{s}"
        );
        assert!(
            s.contains("│ dropout (Dropout)               │ (None, None, 4)        │"),
            "{s}"
        );
    }

    #[test]
    fn shape_mismatch_names_both_layers() {
        let mut m = Sequential::new();
        m.add(Dense::new(4).input_shape(vec![Some(3)])).unwrap();
        let e = m.add(LSTM::new(2)).unwrap_err().to_string();
        assert!(
            e.contains("`lstm` (LSTM)") && e.contains("`dense` (Dense)"),
            "{e}"
        );
        assert_eq!(m.layers().len(), 1);
    }

    #[test]
    fn floats_into_embedding_are_rejected() {
        let mut m = Sequential::new();
        m.add(Embedding::new(10, 4)).unwrap();
        m.add(LSTM::new(2)).unwrap();
        m.add(Dense::new(1).activation(Activation::Sigmoid))
            .unwrap();
        m.compile(
            SgdConfig::default(),
            Loss::BinaryCrossentropy,
            &[Metric::Accuracy],
        )
        .unwrap();
        let x = Array2::<f32>::zeros((4, 5));
        let y = Array1::<f32>::zeros(4);
        let e = m.fit(&x, &y, quiet(1)).unwrap_err().to_string();
        assert!(
            e.contains("`embedding` (Embedding)") && e.contains("token ids"),
            "{e}"
        );
    }

    /// With Embedding(mask_zero=True), pre-padding changes nothing: the stack (a
    /// sequence LSTM into a GRU) gives the same output as on the unpadded sequence.
    #[test]
    fn masked_padding_is_invisible_through_the_stack() {
        let mut m = Sequential::with_seed(5);
        m.add(Embedding::new(20, 6).mask_zero(true)).unwrap();
        m.add(LSTM::new(5).return_sequences(true)).unwrap();
        m.add(GRU::new(4)).unwrap();
        m.add(Dense::new(1).activation(Activation::Sigmoid))
            .unwrap();
        m.build(&[None]).unwrap();
        let short = arr2(&[[3, 7, 1, 9]]);
        let padded = arr2(&[[0, 0, 0, 3, 7, 1, 9]]);
        let a = m.predict(&short, None).unwrap();
        let b = m.predict(&padded, None).unwrap();
        assert!((a[[0, 0]] - b[[0, 0]]).abs() < 1e-6, "{a} vs {b}");
        let unmasked = arr2(&[[5, 5, 5, 3, 7, 1, 9]]);
        let c = m.predict(&unmasked, None).unwrap();
        assert!(
            (a[[0, 0]] - c[[0, 0]]).abs() > 1e-6,
            "real tokens must count"
        );
    }

    /// A mask reaching a per-step output would mask the loss in Keras: refused clearly
    /// in fit and evaluate (predict is fine).
    #[test]
    fn masked_sequence_output_loss_is_refused() {
        let mut m = Sequential::new();
        m.add(Embedding::new(10, 4).mask_zero(true)).unwrap();
        m.add(LSTM::new(3).return_sequences(true)).unwrap();
        m.add(Dense::new(1)).unwrap();
        m.build(&[None]).unwrap();
        m.compile(SgdConfig::default(), Loss::MeanSquaredError, &[])
            .unwrap();
        let x = arr2(&[[0, 1, 2], [3, 4, 5]]);
        let y = Array3::<f32>::zeros((2, 3, 1)).into_dyn();
        let before = m.get_weights();
        let e = m.fit(&x, &y, quiet(1)).unwrap_err();
        assert!(matches!(e, Error::Unsupported(_)), "{e}");
        assert!(e.to_string().contains("mask"), "{e}");
        assert_eq!(m.get_weights(), before);
        assert_eq!(m.predict(&x, None).unwrap().shape(), [2, 3, 1]);
    }

    /// Remember the first token of a sequence of 8 (an LSTM must carry it to the end).
    #[test]
    fn lstm_learns_a_memory_task() {
        let mut rng = SeededRng::new(4);
        let n = 512;
        let x = Array2::from_shape_simple_fn((n, 8), || 1 + rng.below(9) as i32);
        let y: Array1<f32> = x.column(0).mapv(|t| (t > 5) as u8 as f32);
        let mut m = Sequential::with_seed(2);
        m.add(Embedding::new(10, 8)).unwrap();
        m.add(LSTM::new(16)).unwrap();
        m.add(Dense::new(1).activation(Activation::Sigmoid))
            .unwrap();
        m.compile(
            AdamConfig {
                learning_rate: 0.01,
                ..AdamConfig::default()
            },
            Loss::BinaryCrossentropy,
            &[Metric::Accuracy],
        )
        .unwrap();
        let h = m
            .fit(
                &x,
                &y,
                FitOptions {
                    validation_split: 0.2,
                    ..quiet(15)
                },
            )
            .unwrap();
        let acc = h.get("val_accuracy").unwrap();
        assert!(*acc.last().unwrap() > 0.95, "{h:?}");
    }
}

#[test]
fn non_finite_loss_stops_training_and_keeps_the_weights() {
    let mut m = Sequential::new();
    m.add(Dense::new(1).input_shape(vec![Some(2)])).unwrap();
    m.compile(SgdConfig::default(), Loss::MeanSquaredError, &[])
        .unwrap();
    // Finite input whose squared error overflows f32.
    let x = Array2::from_elem((4, 2), 1e30f32);
    let y = Array1::<f32>::zeros(4);
    let before = m.get_weights();
    let e = m.fit(&x, &y, quiet(2)).unwrap_err();
    assert!(matches!(e, Error::Numerical(_)), "{e}");
    assert!(e.to_string().contains("epoch 1, batch 1"), "{e}");
    assert_eq!(m.get_weights(), before);
}

/// Counts `fit`'s validation batches and fails at `fail_at`, if any.
struct TestBatches {
    seen: Vec<usize>,
    fail_at: Option<usize>,
}

impl Callback for TestBatches {
    fn on_test_batch_end(&mut self, batch: usize) -> Result<()> {
        self.seen.push(batch);
        if self.fail_at == Some(batch) {
            return Err(Error::State("stopped in validation".into()));
        }
        Ok(())
    }
}

#[test]
fn validation_batches_reach_callbacks_and_an_error_ends_fit() {
    let (x, y) = separable(40, 1);
    let (vx, vy) = separable(40, 2);
    let fit = |m: &mut Sequential, cb: &mut TestBatches| {
        m.fit(
            &x,
            &y,
            FitOptions {
                epochs: 2,
                batch_size: Some(16),
                validation_data: Some(((&vx).into(), (&vy).into())),
                callbacks: vec![cb],
                ..quiet(2)
            },
        )
    };
    let mut m = binary_model(1);
    let mut cb = TestBatches {
        seen: Vec::new(),
        fail_at: None,
    };
    fit(&mut m, &mut cb).unwrap();
    // 40 validation samples in batches of 16: 3 batches, in each of 2 epochs.
    assert_eq!(cb.seen, [0, 1, 2, 0, 1, 2]);
    let mut cb = TestBatches {
        seen: Vec::new(),
        fail_at: Some(1),
    };
    let err = fit(&mut m, &mut cb).unwrap_err().to_string();
    assert!(err.contains("stopped in validation"), "{err}");
    assert_eq!(cb.seen, [0, 1]);
}
