//! Stateful SimpleRNN/LSTM/GRU (`layers::stateful`) against the cells' reference loops
//! started from the carried states (`reference::run_from`): two consecutive batches,
//! the second from the first's final states; outputs, carried states, input and weight
//! gradients of the second batch, in training and inference, with masks (pre-padding,
//! a gap, a fully padded sample that carries its state on), `go_backwards`, sequence
//! outputs, both GRU modes and four SimpleRNN activations. Then finite differences of
//! the second batch's loss confirm the weight gradients stop at the batch's start
//! (truncated backpropagation through time, as Keras).

use ndarray::{Array2, Array3, ArrayD, Axis, IxDyn};
use recurrent::layers::rnn::{Cell, Recurrent, ReferenceInput, ReferenceRun};
use recurrent::layers::{
    Activation, ForwardContext, GRU, LSTM, Layer, LayerInput, SimpleRNN, gru, lstm, simple_rnn,
};
use recurrent::rng::SeededRng;

const BATCH: usize = 5;
const STEPS: usize = 7;
const FEATURES: usize = 3;

type Reference = dyn Fn(ReferenceInput<'_>, &[Array2<f32>]) -> ReferenceRun;

fn random(shape: &[usize], seed: u64) -> ArrayD<f32> {
    let mut rng = SeededRng::new(seed);
    let n = shape.iter().product();
    ArrayD::from_shape_vec(
        IxDyn(shape),
        (0..n).map(|_| rng.uniform(-1.0, 1.0)).collect(),
    )
    .unwrap()
}

/// Pre-padding of varying length, a gap in row 1, row 3 fully padded.
fn mask(seed: usize) -> Array2<bool> {
    Array2::from_shape_fn((BATCH, STEPS), |(b, t)| {
        t >= (b * 3 + seed) % 4 && !(b == 1 && t == 4) && b != 3
    })
}

fn max_diff(a: &ArrayD<f32>, b: &ArrayD<f32>) -> f32 {
    assert_eq!(a.shape(), b.shape());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

fn close(what: &str, got: &ArrayD<f32>, want: &ArrayD<f32>, tol: f32) -> f32 {
    let d = max_diff(got, want);
    assert!(d <= tol, "{what}: differs by {d}");
    d
}

/// The layer's carried states, whatever its cell.
fn states(layer: &dyn Layer) -> Vec<Array2<f32>> {
    let any = layer as &dyn std::any::Any;
    if let Some(l) = any.downcast_ref::<LSTM>() {
        l.states()
    } else if let Some(l) = any.downcast_ref::<GRU>() {
        l.states()
    } else {
        any.downcast_ref::<SimpleRNN>().unwrap().states()
    }
}

fn forward(
    layer: &mut dyn Layer,
    x: &ArrayD<f32>,
    m: Option<&Array2<bool>>,
    training: bool,
) -> ArrayD<f32> {
    let mut rng = SeededRng::new(9);
    let mut ctx = ForwardContext::new(training, &mut rng).with_mask(m);
    layer
        .forward(LayerInput::Floats(x.view()), &mut ctx)
        .unwrap()
}

/// `a` with its time axis reversed when `backwards` (what the loop reads).
fn flip<T: Clone>(a: &ndarray::Array<T, IxDyn>, backwards: bool) -> ndarray::Array<T, IxDyn> {
    let mut a = a.clone();
    if backwards {
        a.invert_axis(Axis(1));
    }
    a
}

/// dL/dh_t for every step from the output gradient.
fn dh_of(dy: &ArrayD<f32>, seq: bool, u: usize) -> Array3<f32> {
    let mut dh = Array3::zeros((BATCH, STEPS, u));
    if seq {
        dh.assign(&dy.view().into_dimensionality::<ndarray::Ix3>().unwrap());
    } else {
        dh.index_axis_mut(Axis(1), STEPS - 1)
            .assign(&dy.view().into_dimensionality::<ndarray::Ix2>().unwrap());
    }
    dh
}

/// Two batches through the stateful `layer` against `reference`; returns the largest
/// difference seen.
fn check(what: &str, mut layer: Box<dyn Layer>, masked: bool, reference: &Reference) -> f32 {
    let c = layer.config();
    let (seq, backwards) = (c["return_sequences"] == true, c["go_backwards"] == true);
    let u = c["units"].as_u64().unwrap() as usize;
    layer
        .build(&[None, Some(FEATURES)], &mut SeededRng::new(3))
        .unwrap();
    let xs = [
        random(&[BATCH, STEPS, FEATURES], 1),
        random(&[BATCH, STEPS, FEATURES], 2),
    ];
    let masks = [masked.then(|| mask(0)), masked.then(|| mask(1))];
    let mut worst = 0.0f32;
    for training in [false, true] {
        layer.reset_states();
        let mut carried: Vec<Array2<f32>> = Vec::new();
        for (i, (x, m)) in xs.iter().zip(&masks).enumerate() {
            let y = forward(&mut *layer, x, m.as_ref(), training);
            let dy = random(y.shape(), 4 + i as u64);
            let x_read = flip(x, backwards)
                .into_dimensionality::<ndarray::Ix3>()
                .unwrap();
            let m_read = m.as_ref().map(|m| flip(&m.clone().into_dyn(), backwards));
            let m_read = m_read.map(|m| m.into_dimensionality::<ndarray::Ix2>().unwrap());
            let dh = dh_of(&dy, seq, u);
            let params = layer.params();
            let want = reference(
                ReferenceInput {
                    params: &params,
                    x: x_read.view(),
                    mask: m_read.as_ref().map(|m| m.view()),
                    dh: dh.view(),
                },
                &carried,
            );
            let want_y = if seq {
                want.hs.clone().into_dyn()
            } else {
                want.hs.index_axis(Axis(1), STEPS - 1).to_owned().into_dyn()
            };
            let at = format!("{what} batch {i} training={training}");
            worst = worst.max(close(&format!("{at} output"), &y, &want_y, 2e-5));
            for (k, (g, w)) in states(&*layer).iter().zip(&want.states).enumerate() {
                let (g, w) = (g.clone().into_dyn(), w.clone().into_dyn());
                worst = worst.max(close(&format!("{at} state {k}"), &g, &w, 2e-5));
            }
            drop(params);
            if training {
                let dx = layer.backward(dy).unwrap().unwrap();
                let want_dx = flip(&want.dx.clone().into_dyn(), backwards);
                worst = worst.max(close(&format!("{at} dX"), &dx, &want_dx, 1e-4));
                for (p, g) in layer.params().iter().zip(&want.weights) {
                    worst = worst.max(close(&format!("{at} d{}", p.name), &p.grad, g, 1e-4));
                }
            }
            carried = want.states;
        }
    }
    println!("{what}: largest difference {worst:e}");
    worst
}

#[test]
fn stateful_lstm_equals_the_reference_from_carried_states() {
    let reference = |i: ReferenceInput<'_>, s: &[Array2<f32>]| lstm::reference::run_from(i, s);
    let lstm = |u: usize| LSTM::new(u).stateful(true).batch_size(BATCH);
    let cases: Vec<(&str, Box<dyn Layer>, bool)> = vec![
        ("LSTM", Box::new(lstm(6)), false),
        ("LSTM masked", Box::new(lstm(6)), true),
        (
            "LSTM sequences",
            Box::new(lstm(20).return_sequences(true)),
            true,
        ),
        (
            "LSTM go_backwards",
            Box::new(lstm(6).go_backwards(true)),
            true,
        ),
        ("LSTM no bias", Box::new(lstm(4).use_bias(false)), true),
    ];
    for (what, layer, masked) in cases {
        check(what, layer, masked, &reference);
    }
}

#[test]
fn stateful_gru_equals_the_reference_from_carried_states() {
    for reset_after in [true, false] {
        let reference = move |i: ReferenceInput<'_>, s: &[Array2<f32>]| {
            gru::reference::run_from(i, reset_after, s)
        };
        let gru = |u: usize| {
            GRU::new(u)
                .reset_after(reset_after)
                .stateful(true)
                .batch_size(BATCH)
        };
        let cases: Vec<(&str, Box<dyn Layer>, bool)> = vec![
            ("GRU", Box::new(gru(5)), false),
            (
                "GRU masked sequences",
                Box::new(gru(5).return_sequences(true)),
                true,
            ),
            (
                "GRU go_backwards",
                Box::new(gru(17).go_backwards(true)),
                true,
            ),
        ];
        for (what, layer, masked) in cases {
            check(
                &format!("{what} reset_after={reset_after}"),
                layer,
                masked,
                &reference,
            );
        }
    }
}

#[test]
fn stateful_simple_rnn_equals_the_reference_from_carried_states() {
    for act in [
        Activation::Tanh,
        Activation::Relu,
        Activation::Sigmoid,
        Activation::Linear,
    ] {
        let reference = move |i: ReferenceInput<'_>, s: &[Array2<f32>]| {
            simple_rnn::reference::run_from(i, act, s)
        };
        let rnn = SimpleRNN::new(4)
            .activation(act)
            .stateful(true)
            .batch_size(BATCH);
        check(
            &format!("SimpleRNN {act:?}"),
            Box::new(rnn.clone()),
            true,
            &reference,
        );
        let rnn = rnn.go_backwards(true).return_sequences(true);
        check(
            &format!("SimpleRNN {act:?} backwards"),
            Box::new(rnn),
            true,
            &reference,
        );
    }
}

/// Finite differences of batch 2's loss (sum of output * g) from the states batch 1
/// left, held fixed (the carried states are constants of the next batch), against the
/// stateful backward's weight gradients; returns the largest relative difference.
fn finite_differences<C: Cell>(mut layer: Recurrent<C>) -> f64 {
    let xs = [
        random(&[BATCH, STEPS, FEATURES], 11),
        random(&[BATCH, STEPS, FEATURES], 12),
    ];
    let masks = [mask(2), mask(3)];
    layer
        .build(&[None, Some(FEATURES)], &mut SeededRng::new(5))
        .unwrap();
    forward(&mut layer, &xs[0], Some(&masks[0]), false);
    let carried = layer.states();
    assert!(carried[0].iter().any(|v| *v != 0.0));
    let y = forward(&mut layer, &xs[1], Some(&masks[1]), true);
    let g = random(y.shape(), 13);
    layer.backward(g.clone()).unwrap();
    let grads: Vec<ArrayD<f32>> = layer.params().iter().map(|p| p.grad.clone()).collect();
    let x2 = xs[1].view().into_dimensionality::<ndarray::Ix3>().unwrap();
    let views: Vec<_> = carried.iter().map(|s| s.view()).collect();
    let mut worst = 0.0f64;
    for (k, grad) in grads.iter().enumerate() {
        for j in (0..grad.len()).step_by(grad.len().div_ceil(7)) {
            let eps = 1e-2f32;
            let mut at = |delta: f32| {
                layer.params_mut()[k].value.as_slice_mut().unwrap()[j] += delta;
                let (y, _) = layer
                    .call_with_state(x2, Some(&views), Some(&masks[1]))
                    .unwrap();
                layer.params_mut()[k].value.as_slice_mut().unwrap()[j] -= delta;
                y.iter()
                    .zip(&g)
                    .map(|(a, b)| *a as f64 * *b as f64)
                    .sum::<f64>()
            };
            let numeric = (at(eps) - at(-eps)) / (2.0 * eps as f64);
            let analytic = grad.as_slice().unwrap()[j] as f64;
            let d = (numeric - analytic).abs() / numeric.abs().max(1.0);
            worst = worst.max(d);
            let name = C::CLASS_NAME;
            assert!(
                d < 5e-3,
                "{name} weight {k}[{j}]: {analytic} vs numeric {numeric}"
            );
        }
    }
    println!(
        "{}: largest relative difference from finite differences {worst:e}",
        C::CLASS_NAME
    );
    worst
}

#[test]
fn stateful_gradients_match_finite_differences() {
    finite_differences(LSTM::new(3).stateful(true).batch_size(BATCH));
    finite_differences(
        GRU::new(3)
            .stateful(true)
            .batch_size(BATCH)
            .go_backwards(true),
    );
    finite_differences(
        GRU::new(3)
            .reset_after(false)
            .stateful(true)
            .batch_size(BATCH),
    );
    let rnn = SimpleRNN::new(3).stateful(true).batch_size(BATCH);
    finite_differences(rnn.return_sequences(true));
}
