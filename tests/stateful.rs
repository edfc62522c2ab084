//! Stateful SimpleRNN/LSTM/GRU (Keras `stateful=True`) against Keras 3.15.1 (TF 2.21):
//! fixed weights fed consecutive batches; `predict` batch by batch with the carried
//! states (and `reset_states()` where the case says), a few SGD steps (one `fit` per
//! batch, so states carry between steps), then `fit` over the series for two epochs
//! with `shuffle=false` and no reset between epochs. Expected values come from
//! tests/fixtures/make_stateful.py (tests/fixtures/stateful/stateful.json).

use std::any::Any;

use ndarray::{Array2, ArrayD, Axis, IxDyn};
use recurrent::layers::{Embedding, GRU, LSTM, SimpleRNN};
use recurrent::{
    Bidirectional, Dense, FitOptions, Layer, LayerConfig, Loss, MergeMode, Sequential, SgdConfig,
};
use serde_json::Value;

/// Largest allowed difference from Keras (f32 products summed in other orders).
const TOL: f64 = 2e-5;

fn fixture() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/stateful/stateful.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// A nested JSON list as an array.
fn array(v: &Value) -> ArrayD<f32> {
    fn walk(v: &Value, shape: &mut Vec<usize>, out: &mut Vec<f32>, depth: usize) {
        match v {
            Value::Array(items) => {
                if shape.len() == depth {
                    shape.push(items.len());
                }
                items.iter().for_each(|i| walk(i, shape, out, depth + 1));
            }
            n => out.push(n.as_f64().unwrap() as f32),
        }
    }
    let (mut shape, mut out) = (Vec::new(), Vec::new());
    walk(v, &mut shape, &mut out, 0);
    ArrayD::from_shape_vec(IxDyn(&shape), out).unwrap()
}

fn ids(v: &Value) -> Array2<i32> {
    array(v).mapv(|x| x as i32).into_dimensionality().unwrap()
}

fn max_diff(got: &ArrayD<f32>, want: &ArrayD<f32>, what: &str) -> f64 {
    assert_eq!(got.shape(), want.shape(), "{what}: shape");
    got.iter()
        .zip(want)
        .map(|(a, b)| (*a as f64 - *b as f64).abs())
        .fold(0.0, f64::max)
}

/// The model of a fixture case, as the generator builds it.
fn model(case: &str) -> Sequential {
    let mut m = Sequential::new();
    match case {
        "lstm" => {
            let l = LSTM::new(6).stateful(true).batch_size(4);
            m.add(l.input_shape(vec![Some(5), Some(3)])).unwrap();
            m.add(Dense::new(2)).unwrap();
        }
        "gru_sequences" => {
            let l = GRU::new(4)
                .stateful(true)
                .batch_size(3)
                .return_sequences(true);
            m.add(l.input_shape(vec![Some(4), Some(2)])).unwrap();
        }
        "simple_rnn_backwards" => {
            let l = SimpleRNN::new(4)
                .stateful(true)
                .batch_size(2)
                .go_backwards(true);
            m.add(l.input_shape(vec![Some(6), Some(3)])).unwrap();
            m.add(Dense::new(1)).unwrap();
        }
        "stacked_gru_lstm" => {
            let g = GRU::new(3).reset_after(false).return_sequences(true);
            let g = g.stateful(true).batch_size(2);
            m.add(g.input_shape(vec![Some(3), Some(2)])).unwrap();
            m.add(LSTM::new(3).stateful(true).batch_size(2)).unwrap();
            m.add(Dense::new(1)).unwrap();
        }
        "masked_lstm" => {
            m.add(Embedding::new(10, 3).mask_zero(true)).unwrap();
            m.add(LSTM::new(4).stateful(true).batch_size(3)).unwrap();
            m.add(Dense::new(1)).unwrap();
            m.build(&[Some(6)]).unwrap();
        }
        "bidirectional_lstm" => {
            let inner = LSTM::new(3).stateful(true).batch_size(2);
            let config = LayerConfig::Lstm(inner.settings().clone());
            m.add(Bidirectional::new(config, MergeMode::Concat).unwrap())
                .unwrap();
            m.add(Dense::new(1)).unwrap();
            m.build(&[Some(4), Some(2)]).unwrap();
        }
        other => panic!("unknown case {other}"),
    }
    m
}

/// The carried states of every stateful layer, in model order (a Bidirectional's
/// forward copy, then its backward copy).
fn states(m: &Sequential) -> Vec<Vec<Array2<f32>>> {
    fn of(layer: &dyn Layer, out: &mut Vec<Vec<Array2<f32>>>) {
        let any = layer as &dyn Any;
        if let Some(l) = any.downcast_ref::<LSTM>() {
            out.push(l.states());
        } else if let Some(l) = any.downcast_ref::<GRU>() {
            out.push(l.states());
        } else if let Some(l) = any.downcast_ref::<SimpleRNN>() {
            out.push(l.states());
        } else if let Some(b) = any.downcast_ref::<Bidirectional>() {
            of(b.forward_layer(), out);
            of(b.backward_layer(), out);
        }
    }
    let mut out = Vec::new();
    m.layers().iter().for_each(|l| of(&**l, &mut out));
    out
}

fn states_diff(m: &Sequential, want: &Value, what: &str) -> f64 {
    let got = states(m);
    let want = want.as_array().unwrap();
    assert_eq!(got.len(), want.len(), "{what}: stateful layers");
    let mut worst = 0.0f64;
    for (g, w) in got.iter().zip(want) {
        let w = w.as_array().unwrap();
        assert_eq!(g.len(), w.len(), "{what}: states per layer");
        for (gs, ws) in g.iter().zip(w) {
            worst = worst.max(max_diff(&gs.clone().into_dyn(), &array(ws), what));
        }
    }
    worst
}

fn set_weights(m: &mut Sequential, case: &Value) {
    let names = m.weight_shapes();
    let ws = case["weights"].as_array().unwrap();
    assert_eq!(names.len(), ws.len(), "weight count");
    let weights: Vec<(String, ArrayD<f32>)> = (names.into_iter().zip(ws))
        .map(|((name, shape), w)| {
            let w = array(w);
            assert_eq!(w.shape(), &shape[..], "{name}");
            (name, w)
        })
        .collect();
    m.set_weights(&weights).unwrap();
}

fn compile(m: &mut Sequential) {
    let sgd = SgdConfig {
        learning_rate: 0.1,
        ..SgdConfig::default()
    };
    m.compile(sgd, Loss::MeanSquaredError, &[]).unwrap();
}

fn options(batch: usize, epochs: usize) -> FitOptions<'static> {
    FitOptions {
        epochs,
        batch_size: Some(batch),
        shuffle: false,
        verbose: 0,
        ..FitOptions::default()
    }
}

/// Batch `i` of the case's inputs, fed through `f` as ids or floats.
fn with_x<R>(case: &Value, x: &Value, f: impl FnOnce(recurrent::Inputs<'_>) -> R) -> R {
    if case["ids"].as_bool().unwrap() {
        f(ids(x).into())
    } else {
        f(array(x).into())
    }
}

fn weights_diff(m: &Sequential, want: &Value, what: &str) -> f64 {
    (m.get_weights().iter().zip(want.as_array().unwrap()))
        .map(|((name, g), w)| max_diff(g, &array(w), &format!("{what} {name}")))
        .fold(0.0, f64::max)
}

#[test]
fn stateful_layers_match_keras() {
    let fixture = fixture();
    let mut report = Vec::new();
    for case in fixture["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let b = case["batch_size"].as_u64().unwrap() as usize;
        let xs = case["xs"].as_array().unwrap();
        let ys = case["ys"].as_array().unwrap();

        // predict, batch by batch, carrying (or resetting) the states.
        let mut m = model(name);
        set_weights(&mut m, case);
        let (mut d_pred, mut d_state) = (0.0f64, 0.0f64);
        for (i, p) in case["predict"].as_array().unwrap().iter().enumerate() {
            if p["reset_before"].as_bool().unwrap() {
                m.reset_states();
            }
            let y = with_x(case, &xs[i], |x| m.predict(x, Some(b))).unwrap();
            d_pred = d_pred.max(max_diff(&y, &array(&p["output"]), name));
            d_state = d_state.max(states_diff(&m, &p["states"], name));
        }

        // One SGD step per batch from the initial weights and zero states.
        set_weights(&mut m, case);
        m.reset_states();
        compile(&mut m);
        let (mut d_loss, mut d_train_state) = (0.0f64, 0.0f64);
        for (i, s) in case["train_steps"].as_array().unwrap().iter().enumerate() {
            let y = array(&ys[i]);
            let h = with_x(case, &xs[i], |x| m.fit(x, &y, options(b, 1))).unwrap();
            d_loss = d_loss.max((h.loss()[0] - s["loss"].as_f64().unwrap()).abs());
            d_train_state = d_train_state.max(states_diff(&m, &s["states"], name));
        }
        let d_steps_w = weights_diff(&m, &case["weights_after_steps"], name);
        let y = with_x(case, &xs[0], |x| m.predict(x, Some(b))).unwrap();
        let d_after = max_diff(&y, &array(&case["predict_after_steps"]), name);

        // fit over the whole series, two epochs, no reset in between.
        let mut m = model(name);
        set_weights(&mut m, case);
        compile(&mut m);
        let all: Vec<ArrayD<f32>> = xs.iter().map(array).collect();
        let all_y: Vec<ArrayD<f32>> = ys.iter().map(array).collect();
        let views: Vec<_> = all.iter().map(|a| a.view()).collect();
        let y_views: Vec<_> = all_y.iter().map(|a| a.view()).collect();
        let x_all = ndarray::concatenate(Axis(0), &views).unwrap();
        let y_all = ndarray::concatenate(Axis(0), &y_views).unwrap();
        let h = if case["ids"].as_bool().unwrap() {
            let x_ids: Array2<i32> = x_all.mapv(|v| v as i32).into_dimensionality().unwrap();
            m.fit(&x_ids, &y_all, options(b, 2))
        } else {
            m.fit(&x_all, &y_all, options(b, 2))
        }
        .unwrap();
        let want_loss = case["fit_loss"].as_array().unwrap();
        let d_fit_loss = (h.loss().iter().zip(want_loss))
            .map(|(g, w)| (g - w.as_f64().unwrap()).abs())
            .fold(0.0, f64::max);
        let d_fit_w = weights_diff(&m, &case["weights_after_fit"], name);
        let d_fit_state = states_diff(&m, &case["states_after_fit"], name);

        let worst = [
            d_pred,
            d_state,
            d_loss,
            d_train_state,
            d_steps_w,
            d_after,
            d_fit_loss,
            d_fit_w,
            d_fit_state,
        ];
        report.push(format!(
            "{name:22} predict {d_pred:.2e} states {d_state:.2e} | steps: loss {d_loss:.2e} \
             states {d_train_state:.2e} weights {d_steps_w:.2e} predict {d_after:.2e} | fit: \
             loss {d_fit_loss:.2e} weights {d_fit_w:.2e} states {d_fit_state:.2e}"
        ));
        for (k, d) in worst.iter().enumerate() {
            assert!(
                *d < TOL,
                "{name}: difference {d} (quantity {k}) from Keras\n{report:#?}"
            );
        }
    }
    println!("largest differences from Keras 3.15.1:");
    report.iter().for_each(|r| println!("  {r}"));
}

#[test]
fn batch_of_another_size_is_an_error_naming_both() {
    let mut m = model("lstm");
    let x = ArrayD::<f32>::zeros(IxDyn(&[6, 5, 3]));
    // 6 samples at batch_size 4: the last batch holds 2 (Keras fails on it as well).
    let e = m.predict(&x, Some(4)).unwrap_err().to_string();
    assert!(
        e.contains("stateful") && e.contains("batch_size 4") && e.contains("batch of 2"),
        "{e}"
    );
    let e = m.predict(&x, Some(6)).unwrap_err().to_string();
    assert!(e.contains("batch of 6"), "{e}");
}

#[test]
fn states_carry_and_reset() {
    let mut m = model("gru_sequences");
    let x = ArrayD::from_shape_fn(IxDyn(&[3, 4, 2]), |d| (d[0] + 2 * d[1] + d[2]) as f32 * 0.1);
    let first = m.predict(&x, Some(3)).unwrap();
    let second = m.predict(&x, Some(3)).unwrap();
    assert!(
        max_diff(&first, &second, "carried") > 1e-3,
        "states were not carried"
    );
    m.reset_states();
    let again = m.predict(&x, Some(3)).unwrap();
    assert_eq!(first, again, "reset_states starts from zeros again");
    assert!(states(&m)[0][0].iter().any(|v| *v != 0.0));
    m.reset_states();
    assert!(states(&m)[0][0].iter().all(|v| *v == 0.0));
}

#[test]
fn stateful_needs_a_batch_size() {
    let mut m = Sequential::new();
    let e = m
        .add(
            LSTM::new(3)
                .stateful(true)
                .input_shape(vec![Some(4), Some(2)]),
        )
        .unwrap_err()
        .to_string();
    assert!(e.contains("batch_size") && e.contains("stateful"), "{e}");
    let config = r#"{"type": "lstm", "units": 3, "stateful": true}"#;
    let c: LayerConfig = serde_json::from_str(config).unwrap();
    let e = c.to_layer().unwrap_err().to_string();
    assert!(e.contains("batch_size"), "{e}");
}

#[test]
fn stateful_training_with_dropout_is_refused() {
    let mut m = Sequential::new();
    let l = LSTM::new(3).stateful(true).batch_size(2).dropout(0.2);
    m.add(l.input_shape(vec![Some(4), Some(2)])).unwrap();
    compile(&mut m);
    let x = ArrayD::<f32>::zeros(IxDyn(&[2, 4, 2]));
    let y = ArrayD::<f32>::zeros(IxDyn(&[2, 3]));
    let e = m.fit(&x, &y, options(2, 1)).unwrap_err().to_string();
    assert!(e.contains("dropout") && e.contains("stateful"), "{e}");
    // Inference ignores dropout, as in Keras.
    m.predict(&x, Some(2)).unwrap();
}

#[test]
fn saved_stateful_model_loads_with_zero_states() {
    let mut m = model("lstm");
    let x = ArrayD::from_shape_fn(IxDyn(&[4, 5, 3]), |d| (d[0] + d[1] + d[2]) as f32 * 0.1);
    let first = m.predict(&x, Some(4)).unwrap();
    m.predict(&x, Some(4)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.safetensors");
    m.save(&path).unwrap();
    let mut loaded = Sequential::load(&path).unwrap();
    let config = &loaded.layer_configs()[0];
    assert_eq!(config["stateful"], true, "{config}");
    assert_eq!(config["batch_size"], 4, "{config}");
    // The states are not saved (Keras's are not either): the loaded model starts at zero.
    assert_eq!(loaded.predict(&x, Some(4)).unwrap(), first);
}
