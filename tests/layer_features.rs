//! Issue #6 layer features outside the parity fixtures: Keras's shapes and parameter
//! counts in `summary()`, TOML/saved configs, mask handling, `call_with_state` against
//! `forward`, and errors that name the layer and the argument.

use ndarray::{Array2, Array3, ArrayD, IxDyn};
use recurrent::layers::config::{Conv1DConfig, MaxPooling1DConfig};
use recurrent::layers::{
    Bidirectional, Conv1D, ForwardContext, GRU, LSTM, Layer, LayerConfig, LayerInput, MaxPooling1D,
    MergeMode, Padding, SimpleRNN, TimeDistributed,
};
use recurrent::model::Sequential;
use recurrent::rng::SeededRng;

fn configs(toml_text: &str) -> Vec<LayerConfig> {
    #[derive(serde::Deserialize)]
    struct Model {
        layers: Vec<LayerConfig>,
    }
    toml::from_str::<Model>(toml_text).unwrap().layers
}

/// The Keras text-model stack from TOML: Keras's output shapes and parameter counts
/// (Conv1D(32, 5) on 16 channels = 2,592; Bidirectional(LSTM(32)) on 32 = 16,640).
#[test]
fn summary_matches_keras_counts_and_shapes() {
    let layers = configs(
        r#"
        layers = [
          { type = "embedding", input_dim = 1000, output_dim = 16, input_length = 100 },
          { type = "conv1d", filters = 32, kernel_size = 5, activation = "relu" },
          { type = "max_pooling1d", pool_size = 2 },
          { type = "bidirectional", layer = { type = "lstm", units = 32 } },
          { type = "dense", units = 1, activation = "sigmoid" },
        ]
        "#,
    );
    let mut model = Sequential::from_configs(&layers).unwrap();
    model.build(&[Some(100)]).unwrap();
    let counts: Vec<usize> = model.layers().iter().map(|l| l.param_count()).collect();
    assert_eq!(counts, [16_000, 2_592, 0, 16_640, 65]);
    let s = model.summary();
    for want in [
        "conv1d (Conv1D)",
        "(None, 96, 32)",
        "max_pooling1d (MaxPooling1D)",
        "(None, 48, 32)",
        "2,592",
        "16,640",
    ] {
        assert!(s.contains(want), "missing {want}:\n{s}");
    }
}

/// Keras's output lengths: valid floor((L - span) / s) + 1, same/causal ceil(L / s).
#[test]
fn conv1d_and_pooling_output_lengths() {
    let conv = |k: usize, s: usize, d: usize, padding: Padding| {
        let mut c = Conv1DConfig::new(4, k);
        c.strides = s;
        c.dilation_rate = d;
        c.padding = padding;
        Conv1D::from_config(c)
            .unwrap()
            .compute_output_shape(&[Some(10), Some(3)])
            .unwrap()
    };
    assert_eq!(conv(3, 1, 1, Padding::Valid), [Some(8), Some(4)]);
    assert_eq!(conv(3, 1, 2, Padding::Valid), [Some(6), Some(4)]);
    assert_eq!(conv(3, 3, 1, Padding::Valid), [Some(3), Some(4)]);
    assert_eq!(conv(4, 3, 1, Padding::Same), [Some(4), Some(4)]);
    assert_eq!(conv(3, 2, 1, Padding::Causal), [Some(5), Some(4)]);
    let c = Conv1D::new(4, 3).unwrap();
    assert_eq!(
        c.compute_output_shape(&[None, Some(3)]).unwrap(),
        [None, Some(4)]
    );
    let pool = |p: usize, s: Option<usize>, padding: Padding, steps: usize| {
        MaxPooling1D::from_config(MaxPooling1DConfig {
            pool_size: p,
            strides: s,
            padding,
            ..MaxPooling1DConfig::default()
        })
        .unwrap()
        .compute_output_shape(&[Some(steps), Some(3)])
        .unwrap()[0]
    };
    assert_eq!(pool(2, None, Padding::Valid, 9), Some(4));
    assert_eq!(pool(2, None, Padding::Same, 9), Some(5));
    assert_eq!(pool(3, Some(1), Padding::Same, 9), Some(9));
    assert_eq!(pool(2, Some(3), Padding::Valid, 10), Some(3));
}

/// Keras writes sizes as one-element lists; TOML may use integers. Both load, and a
/// saved config loads back to the same layer.
#[test]
fn configs_accept_keras_lists_and_round_trip() {
    let from_json: LayerConfig = serde_json::from_str(
        r#"{"type": "conv1d", "filters": 2, "kernel_size": [3], "strides": [1],
            "dilation_rate": [2], "padding": "causal"}"#,
    )
    .unwrap();
    let layer = from_json.to_layer().unwrap();
    let again: LayerConfig = serde_json::from_value(layer.config()).unwrap();
    assert_eq!(again.to_layer().unwrap().config(), layer.config());
    let pool: LayerConfig = serde_json::from_str(
        r#"{"type": "max_pooling1d", "pool_size": [3], "strides": null, "padding": "same"}"#,
    )
    .unwrap();
    let pool = pool.to_layer().unwrap();
    assert_eq!(
        pool.compute_output_shape(&[Some(7), Some(2)]).unwrap()[0],
        Some(3)
    );
    let err = serde_json::from_str::<LayerConfig>(
        r#"{"type": "conv1d", "filters": 2, "kernel_size": [3, 3]}"#,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("list of 2"), "{err}");
    let td = configs(
        r#"layers = [{ type = "time_distributed", layer = { type = "dense", units = 3 } }]"#,
    );
    let td = td[0].to_layer().unwrap();
    let again: LayerConfig = serde_json::from_value(td.config()).unwrap();
    assert_eq!(again.to_layer().unwrap().config(), td.config());
    let rnn = configs(r#"layers = [{ type = "gru", units = 2, go_backwards = true }]"#);
    assert_eq!(rnn[0].to_layer().unwrap().config()["go_backwards"], true);
}

/// Bad arguments and inputs: clear errors naming the layer and what is wrong.
#[test]
fn errors_name_the_layer_and_argument() {
    let msg = |r: Result<Box<dyn Layer>, recurrent::Error>| r.unwrap_err().to_string();
    let conv = |f: &dyn Fn(&mut Conv1DConfig)| {
        let mut c = Conv1DConfig::new(2, 3);
        f(&mut c);
        LayerConfig::Conv1D(c).to_layer()
    };
    let e = msg(conv(&|c| c.filters = 0));
    assert!(e.contains("conv1d") && e.contains("filters"), "{e}");
    let e = msg(conv(&|c| {
        c.strides = 2;
        c.dilation_rate = 2;
    }));
    assert!(e.contains("dilation_rate") && e.contains("strides"), "{e}");
    let e = msg(conv(&|c| c.data_format = "channels_first".into()));
    assert!(e.contains("channels_first"), "{e}");
    let e = Conv1D::new(2, 5)
        .unwrap()
        .compute_output_shape(&[Some(3), Some(1)])
        .unwrap_err()
        .to_string();
    assert!(e.contains("conv1d") && e.contains("3 input steps"), "{e}");
    let e = MaxPooling1D::from_config(MaxPooling1DConfig {
        padding: Padding::Causal,
        ..MaxPooling1DConfig::default()
    })
    .unwrap_err()
    .to_string();
    assert!(e.contains("max_pooling1d") && e.contains("causal"), "{e}");
    let e = TimeDistributed::new(LayerConfig::Lstm(LSTM::new(2).settings().clone()))
        .unwrap_err()
        .to_string();
    assert!(e.contains("LSTM") && e.contains("Dense"), "{e}");
    // Keras 3 refuses a Bidirectional whose layer already goes backwards.
    let e = Bidirectional::new(
        LayerConfig::Lstm(LSTM::new(2).go_backwards(true).settings().clone()),
        MergeMode::Concat,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("go_backwards"), "{e}");

    // A too-short sequence at run time.
    let mut c = Conv1D::new(2, 4).unwrap();
    c.build(&[None, Some(1)], &mut SeededRng::new(0)).unwrap();
    let x = ArrayD::<f32>::zeros(IxDyn(&[1, 3, 1]));
    let mut rng = SeededRng::new(0);
    let mut ctx = ForwardContext::new(false, &mut rng);
    let e = c
        .forward(LayerInput::Floats(x.view()), &mut ctx)
        .unwrap_err()
        .to_string();
    assert!(e.contains("conv1d") && e.contains("valid"), "{e}");
}

/// Keras's Conv1D and MaxPooling1D drop an incoming mask; TimeDistributed and Dense pass
/// it on; a go_backwards layer's sequence output carries the input mask unreversed.
#[test]
fn masks_dropped_or_passed_as_keras() {
    let mask = Array2::from_shape_fn((2, 4), |(b, t)| b == 0 || t > 1);
    let x = ArrayD::<f32>::zeros(IxDyn(&[2, 4, 3]));
    let input = LayerInput::Floats(x.view());
    let dense = LayerConfig::Dense(serde_json::from_str(r#"{"units": 2}"#).unwrap());
    let layers: Vec<(Box<dyn Layer>, bool)> = vec![
        (Box::new(Conv1D::new(2, 2).unwrap()), false),
        (Box::new(MaxPooling1D::new(2).unwrap()), false),
        (Box::new(TimeDistributed::new(dense).unwrap()), true),
        (
            Box::new(LSTM::new(2).go_backwards(true).return_sequences(true)),
            true,
        ),
    ];
    for (layer, passes) in layers {
        let out = layer.compute_mask(&input, Some(&mask));
        assert_eq!(out.as_ref(), passes.then_some(&mask), "{}", layer.name());
    }
}

fn built<L: Layer>(mut layer: L, features: usize, seed: u64) -> L {
    let mut rng = SeededRng::new(seed);
    layer.build(&[None, Some(features)], &mut rng).unwrap();
    for p in layer.params_mut() {
        p.value.mapv_inplace(|_| rng.uniform(-0.5, 0.5));
    }
    layer
}

fn forward(layer: &mut dyn Layer, x: &Array3<f32>, mask: Option<&Array2<bool>>) -> ArrayD<f32> {
    let mut rng = SeededRng::new(0);
    let mut ctx = ForwardContext::new(false, &mut rng).with_mask(mask);
    layer
        .forward(LayerInput::Floats(x.view().into_dyn()), &mut ctx)
        .unwrap()
}

fn max_diff(a: &ArrayD<f32>, b: &ArrayD<f32>) -> f32 {
    assert_eq!(a.shape(), b.shape());
    a.iter()
        .zip(b)
        .fold(0.0f32, |m, (x, y)| m.max((x - y).abs()))
}

/// Without initial states `call_with_state` computes what `forward` does, and its final
/// h is the last output (masked, go_backwards, each cell).
#[test]
fn call_with_state_agrees_with_forward() {
    let mut rng = SeededRng::new(3);
    let x = Array3::from_shape_fn((3, 6, 4), |_| rng.uniform(-1.0, 1.0));
    let mask = Array2::from_shape_fn((3, 6), |(b, t)| !(b == 1 && t < 2 || b == 2 && t == 3));
    for go_backwards in [false, true] {
        for m in [None, Some(&mask)] {
            let mut lstm = built(LSTM::new(3).go_backwards(go_backwards), 4, 1);
            let (y, s) = lstm.call_with_state(x.view(), None, m).unwrap();
            assert_eq!(s.len(), 2);
            assert!(max_diff(&y, &forward(&mut lstm, &x, m)) < 1e-5);
            assert!(max_diff(&y, &s[0].clone().into_dyn()) == 0.0);
            let mut gru = built(
                GRU::new(3)
                    .reset_after(go_backwards)
                    .return_sequences(true)
                    .go_backwards(go_backwards),
                4,
                2,
            );
            let (y, s) = gru.call_with_state(x.view(), None, m).unwrap();
            assert_eq!(s.len(), 1);
            assert!(max_diff(&y, &forward(&mut gru, &x, m)) < 1e-5);
            let mut rnn = built(SimpleRNN::new(3).go_backwards(go_backwards), 4, 3);
            let (y, _) = rnn.call_with_state(x.view(), None, m).unwrap();
            assert!(max_diff(&y, &forward(&mut rnn, &x, m)) < 1e-5);
        }
    }
}

#[test]
fn call_with_state_checks_its_states() {
    let lstm = built(LSTM::new(3), 4, 1);
    let x = Array3::<f32>::zeros((2, 5, 4));
    let h = Array2::<f32>::zeros((2, 3));
    let e = lstm
        .call_with_state(x.view(), Some(&[h.view()]), None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("lstm") && e.contains("[h, c]"), "{e}");
    let bad = Array2::<f32>::zeros((2, 4));
    let e = lstm
        .call_with_state(x.view(), Some(&[h.view(), bad.view()]), None)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("initial_state[1]") && e.contains("(2, 3)"),
        "{e}"
    );
    let mut nan = h.clone();
    nan[[1, 2]] = f32::NAN;
    let e = lstm
        .call_with_state(x.view(), Some(&[h.view(), nan.view()]), None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("non-finite"), "{e}");
    let unbuilt = GRU::new(2);
    let e = unbuilt
        .call_with_state(x.view(), None, None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("built"), "{e}");
}

/// A saved model with every new layer and argument loads back with the same
/// predictions.
#[test]
fn saved_model_round_trips() {
    let layers = configs(
        r#"
        layers = [
          { type = "embedding", input_dim = 20, output_dim = 4, mask_zero = true },
          { type = "conv1d", filters = 5, kernel_size = 3, padding = "causal", dilation_rate = 2 },
          { type = "max_pooling1d", pool_size = 3, strides = 1, padding = "same" },
          { type = "lstm", units = 3, go_backwards = true, return_sequences = true },
          { type = "time_distributed", layer = { type = "dense", units = 2, activation = "tanh" } },
          { type = "gru", units = 2, go_backwards = true },
          { type = "dense", units = 1, activation = "sigmoid" },
        ]
        "#,
    );
    let mut model = Sequential::from_configs(&layers).unwrap();
    model.build(&[Some(9)]).unwrap();
    let ids = Array2::from_shape_fn((3, 9), |(b, t)| ((b * 5 + t * 3) % 20) as i32);
    let before = model.predict(&ids, None).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("features.model");
    model.save(&path).unwrap();
    let mut loaded = Sequential::load(&path).unwrap();
    let after = loaded.predict(&ids, None).unwrap();
    assert_eq!(before, after);
    assert_eq!(loaded.summary(), model.summary());
}

/// The cell types `call_with_state_gradients` is checked on.
enum AnyRnn {
    Simple(SimpleRNN),
    Lstm(LSTM),
    Gru(GRU),
}

impl AnyRnn {
    fn layer_mut(&mut self) -> &mut dyn Layer {
        match self {
            AnyRnn::Simple(l) => l,
            AnyRnn::Lstm(l) => l,
            AnyRnn::Gru(l) => l,
        }
    }
    fn call(
        &self,
        x: &Array3<f32>,
        init: &[Array2<f32>],
        mask: Option<&Array2<bool>>,
    ) -> (ArrayD<f32>, Vec<Array2<f32>>) {
        let v: Vec<_> = init.iter().map(|a| a.view()).collect();
        match self {
            AnyRnn::Simple(l) => l.call_with_state(x.view(), Some(&v), mask),
            AnyRnn::Lstm(l) => l.call_with_state(x.view(), Some(&v), mask),
            AnyRnn::Gru(l) => l.call_with_state(x.view(), Some(&v), mask),
        }
        .unwrap()
    }
    fn grads(
        &self,
        x: &Array3<f32>,
        init: &[Array2<f32>],
        mask: Option<&Array2<bool>>,
        r: &ArrayD<f32>,
        s: &[Array2<f32>],
    ) -> recurrent::layers::recurrent_state::StateGradients {
        let v: Vec<_> = init.iter().map(|a| a.view()).collect();
        let sv: Vec<_> = s.iter().map(|a| a.view()).collect();
        match self {
            AnyRnn::Simple(l) => {
                l.call_with_state_gradients(x.view(), Some(&v), mask, r.view(), Some(&sv))
            }
            AnyRnn::Lstm(l) => {
                l.call_with_state_gradients(x.view(), Some(&v), mask, r.view(), Some(&sv))
            }
            AnyRnn::Gru(l) => {
                l.call_with_state_gradients(x.view(), Some(&v), mask, r.view(), Some(&sv))
            }
        }
        .unwrap()
    }
}

/// Finite differences of sum(output * R) + Σ sum(state_i * S_i) w.r.t. every input,
/// initial-state and weight element, for each cell, masked, go_backwards and not.
#[test]
fn call_with_state_gradients_match_finite_differences() {
    let mut rng = SeededRng::new(11);
    let (batch, steps, f, u) = (3, 5, 3, 3);
    let x = Array3::from_shape_fn((batch, steps, f), |_| rng.uniform(-1.0, 1.0));
    let mask = Array2::from_shape_fn((batch, steps), |(b, t)| {
        !(b == 1 && t < 2 || b == 2 && t == 3)
    });
    let cases: Vec<(AnyRnn, &str)> = vec![
        (AnyRnn::Simple(built(SimpleRNN::new(u), f, 1)), "SimpleRNN"),
        (
            AnyRnn::Simple(built(
                SimpleRNN::new(u).return_sequences(true).go_backwards(true),
                f,
                2,
            )),
            "SimpleRNN seq backwards",
        ),
        (AnyRnn::Lstm(built(LSTM::new(u), f, 3)), "LSTM"),
        (
            AnyRnn::Lstm(built(
                LSTM::new(u).return_sequences(true).go_backwards(true),
                f,
                4,
            )),
            "LSTM seq backwards",
        ),
        (AnyRnn::Gru(built(GRU::new(u), f, 5)), "GRU"),
        (
            AnyRnn::Gru(built(
                GRU::new(u).return_sequences(true).go_backwards(true),
                f,
                6,
            )),
            "GRU seq backwards",
        ),
        (
            AnyRnn::Gru(built(GRU::new(u).reset_after(false), f, 7)),
            "GRU reset_before",
        ),
        (
            AnyRnn::Gru(built(
                GRU::new(u).reset_after(false).return_sequences(true),
                f,
                8,
            )),
            "GRU reset_before seq",
        ),
    ];
    for (mut layer, what) in cases {
        for m in [None, Some(&mask)] {
            let n_states = if matches!(layer, AnyRnn::Lstm(_)) {
                2
            } else {
                1
            };
            let init: Vec<Array2<f32>> = (0..n_states)
                .map(|_| Array2::from_shape_fn((batch, u), |_| rng.uniform(-1.0, 1.0)))
                .collect();
            let (y, _) = layer.call(&x, &init, m);
            let r = y.mapv(|_| rng.uniform(-1.0, 1.0));
            let s: Vec<Array2<f32>> = init
                .iter()
                .map(|a| a.mapv(|_| rng.uniform(-1.0, 1.0)))
                .collect();
            let loss = |l: &AnyRnn, x: &Array3<f32>, init: &[Array2<f32>]| -> f64 {
                let (y, st) = l.call(x, init, m);
                let mut v: f64 = y.iter().zip(&r).map(|(a, b)| *a as f64 * *b as f64).sum();
                for (a, b) in st.iter().zip(&s) {
                    v += a
                        .iter()
                        .zip(b)
                        .map(|(a, b)| *a as f64 * *b as f64)
                        .sum::<f64>();
                }
                v
            };
            let g = layer.grads(&x, &init, m, &r, &s);
            let eps = 1e-2f32;
            let mut worst = 0.0f64;
            let mut check = |analytic: f32, plus: f64, minus: f64, at: String| {
                let numeric = (plus - minus) / (2.0 * eps as f64);
                let e = (analytic as f64 - numeric).abs()
                    / (analytic as f64).abs().max(numeric.abs()).max(1e-2);
                assert!(
                    e < 1e-2,
                    "{what} {m:?}: {at}: analytic {analytic}, numeric {numeric}"
                );
                worst = worst.max(e);
            };
            for k in 0..x.len() {
                let (mut xp, mut xm) = (x.clone(), x.clone());
                xp.as_slice_mut().unwrap()[k] += eps;
                xm.as_slice_mut().unwrap()[k] -= eps;
                let (lp, lm) = (loss(&layer, &xp, &init), loss(&layer, &xm, &init));
                check(
                    g.input.as_slice().unwrap()[k],
                    lp,
                    lm,
                    format!("input[{k}]"),
                );
            }
            for i in 0..n_states {
                for k in 0..init[i].len() {
                    let (mut ip, mut im) = (init.clone(), init.clone());
                    ip[i].as_slice_mut().unwrap()[k] += eps;
                    im[i].as_slice_mut().unwrap()[k] -= eps;
                    let (lp, lm) = (loss(&layer, &x, &ip), loss(&layer, &x, &im));
                    let a = g.initial_state[i].as_slice().unwrap()[k];
                    check(a, lp, lm, format!("initial_state[{i}][{k}]"));
                }
            }
            for pi in 0..g.weights.len() {
                for k in 0..g.weights[pi].len() {
                    let nudge = |l: &mut AnyRnn, d: f32| {
                        l.layer_mut().params_mut()[pi].value.as_slice_mut().unwrap()[k] += d;
                    };
                    nudge(&mut layer, eps);
                    let lp = loss(&layer, &x, &init);
                    nudge(&mut layer, -2.0 * eps);
                    let lm = loss(&layer, &x, &init);
                    nudge(&mut layer, eps);
                    check(
                        g.weights[pi].as_slice().unwrap()[k],
                        lp,
                        lm,
                        format!("weight {pi}[{k}]"),
                    );
                }
            }
            println!(
                "{what} masked={}: max relative error {worst:.2e}",
                m.is_some()
            );
        }
    }
}
