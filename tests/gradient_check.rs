//! Finite-difference gradient checks of the recurrent layers: the analytic gradients
//! from `backward` against central differences of the scalar loss sum(out * R), for
//! every parameter element and every input element.

use ndarray::{Array2, ArrayD, IxDyn};
use recurrent::layers::{
    Activation, Embedding, ForwardContext, GRU, LSTM, Layer, LayerInput, SimpleRNN,
};
use recurrent::rng::SeededRng;

/// Model input: floats (batch, steps, features) or token ids (batch, steps).
enum Data {
    Floats(ArrayD<f32>),
    Ids(Array2<i32>),
}

const BATCH: usize = 3;
const STEPS: usize = 5;
const FEATURES: usize = 4;
const EPS: f32 = 1e-2;
const TOLERANCE: f64 = 1e-2;
/// Dropout masks come from this seed in every evaluation, so the mask is fixed.
const MASK_SEED: u64 = 42;

fn random_array(shape: &[usize], rng: &mut SeededRng, scale: f32) -> ArrayD<f32> {
    let n = shape.iter().product();
    let v = (0..n).map(|_| rng.uniform(-scale, scale)).collect();
    ArrayD::from_shape_vec(IxDyn(shape), v).unwrap()
}

fn float_data(seed: u64) -> Data {
    Data::Floats(random_array(
        &[BATCH, STEPS, FEATURES],
        &mut SeededRng::new(seed),
        1.0,
    ))
}

/// Builds the stack and sets every weight to a random value (biases too, so that
/// their gradients are exercised away from zero).
fn build(layers: &mut [Box<dyn Layer>], first_shape: Vec<Option<usize>>) {
    let mut rng = SeededRng::new(1);
    let mut shape = first_shape;
    for layer in layers.iter_mut() {
        layer.build(&shape, &mut rng).unwrap();
        shape = layer.compute_output_shape(&shape).unwrap();
        for p in layer.params_mut() {
            p.value = random_array(p.value.shape(), &mut rng, 0.6);
        }
    }
}

fn forward(layers: &mut [Box<dyn Layer>], data: &Data) -> ArrayD<f32> {
    let mut rng = SeededRng::new(MASK_SEED);
    let mut ctx = ForwardContext {
        training: true,
        rng: &mut rng,
    };
    let mut out = match data {
        Data::Floats(x) => layers[0].forward(LayerInput::Floats(x.view()), &mut ctx),
        Data::Ids(ids) => layers[0].forward(LayerInput::Ids(ids.view()), &mut ctx),
    }
    .unwrap();
    for layer in layers[1..].iter_mut() {
        out = layer
            .forward(LayerInput::Floats(out.view()), &mut ctx)
            .unwrap();
    }
    out
}

fn loss(layers: &mut [Box<dyn Layer>], data: &Data, r: &ArrayD<f32>) -> f64 {
    let out = forward(layers, data);
    out.iter()
        .zip(r.iter())
        .map(|(&o, &r)| o as f64 * r as f64)
        .sum()
}

fn rel_err(analytic: f64, numeric: f64) -> f64 {
    (analytic - numeric).abs() / analytic.abs().max(numeric.abs()).max(1e-2)
}

/// Central difference of the loss in one scalar reached through `set`.
fn central_difference(
    layers: &mut [Box<dyn Layer>],
    data: &Data,
    r: &ArrayD<f32>,
    set: &dyn Fn(&mut [Box<dyn Layer>], f32),
) -> f64 {
    set(layers, EPS);
    let lp = loss(layers, data, r);
    set(layers, -EPS);
    let lm = loss(layers, data, r);
    set(layers, 0.0);
    (lp - lm) / (2.0 * EPS as f64)
}

/// Runs the check; returns the largest relative error and asserts it is small.
fn check(mut layers: Vec<Box<dyn Layer>>, data: Data, what: &str) -> f64 {
    let first_shape = match &data {
        Data::Floats(x) => vec![Some(x.shape()[1]), Some(x.shape()[2])],
        Data::Ids(ids) => vec![Some(ids.shape()[1])],
    };
    build(&mut layers, first_shape);
    let out = forward(&mut layers, &data);
    let r = random_array(out.shape(), &mut SeededRng::new(5), 1.0);
    let mut grad = Some(r.clone());
    for layer in layers.iter_mut().rev() {
        grad = layer
            .backward(grad.expect("inner layers pass a gradient"))
            .unwrap();
    }
    let mut worst = 0.0f64;
    let mut worst_at = String::new();
    let mut record = |a: f64, numeric: f64, at: String| {
        let e = rel_err(a, numeric);
        if e > worst {
            worst = e;
            worst_at = format!("{at}: analytic {a}, numeric {numeric}");
        }
    };
    for li in 0..layers.len() {
        for pi in 0..layers[li].params().len() {
            let p = layers[li].params()[pi];
            let (pname, analytic) = (p.name, p.grad.clone());
            let orig = p.value.clone();
            for k in 0..analytic.len() {
                let base = orig.as_slice().unwrap()[k];
                let set = |ls: &mut [Box<dyn Layer>], d: f32| {
                    ls[li].params_mut()[pi].value.as_slice_mut().unwrap()[k] = base + d;
                };
                let numeric = central_difference(&mut layers, &data, &r, &set);
                let a = analytic.as_slice().unwrap()[k] as f64;
                record(a, numeric, format!("layer {li} {pname}[{k}]"));
            }
        }
    }
    match (&data, grad) {
        (Data::Floats(x), Some(analytic)) => {
            assert_eq!(analytic.shape(), x.shape());
            for k in 0..x.len() {
                let mut plus = x.clone();
                plus.as_slice_mut().unwrap()[k] += EPS;
                let mut minus = x.clone();
                minus.as_slice_mut().unwrap()[k] -= EPS;
                let lp = loss(&mut layers, &Data::Floats(plus), &r);
                let lm = loss(&mut layers, &Data::Floats(minus), &r);
                let numeric = (lp - lm) / (2.0 * EPS as f64);
                let a = analytic.as_slice().unwrap()[k] as f64;
                record(a, numeric, format!("input[{k}]"));
            }
        }
        (Data::Ids(_), g) => assert!(g.is_none(), "integer input has no gradient"),
        (Data::Floats(_), None) => panic!("float input must get a gradient"),
    }
    println!("{what}: max relative error {worst:.2e} ({worst_at})");
    assert!(worst < TOLERANCE, "{what}: {worst_at}");
    worst
}

fn boxed(l: impl Layer + 'static) -> Box<dyn Layer> {
    Box::new(l)
}

#[test]
fn lstm_last_state() {
    check(vec![boxed(LSTM::new(3))], float_data(10), "LSTM");
}

#[test]
fn lstm_sequences() {
    check(
        vec![boxed(LSTM::new(3).return_sequences(true))],
        float_data(11),
        "LSTM return_sequences",
    );
}

#[test]
fn lstm_no_bias_with_dropout() {
    check(
        vec![boxed(LSTM::new(3).use_bias(false).dropout(0.3))],
        float_data(12),
        "LSTM no bias, dropout",
    );
}

#[test]
fn lstm_stacked() {
    check(
        vec![
            boxed(LSTM::new(3).return_sequences(true)),
            boxed(LSTM::new(2).return_sequences(true)),
        ],
        float_data(13),
        "LSTM stacked",
    );
}

#[test]
fn gru_reset_after_last_state() {
    check(vec![boxed(GRU::new(3))], float_data(20), "GRU reset_after");
}

#[test]
fn gru_reset_after_sequences_dropout() {
    check(
        vec![boxed(GRU::new(3).return_sequences(true).dropout(0.25))],
        float_data(21),
        "GRU reset_after return_sequences dropout",
    );
}

#[test]
fn gru_reset_before_last_state() {
    check(
        vec![boxed(GRU::new(3).reset_after(false))],
        float_data(22),
        "GRU reset_before",
    );
}

#[test]
fn gru_reset_before_sequences_no_bias() {
    check(
        vec![boxed(
            GRU::new(3)
                .reset_after(false)
                .use_bias(false)
                .return_sequences(true),
        )],
        float_data(23),
        "GRU reset_before return_sequences no bias",
    );
}

#[test]
fn gru_stacked_on_lstm() {
    check(
        vec![
            boxed(GRU::new(3).return_sequences(true)),
            boxed(LSTM::new(2)),
        ],
        float_data(24),
        "GRU then LSTM",
    );
}

#[test]
fn simple_rnn_each_activation() {
    for (i, act) in [
        Activation::Tanh,
        Activation::Sigmoid,
        Activation::Relu,
        Activation::Linear,
    ]
    .into_iter()
    .enumerate()
    {
        check(
            vec![boxed(SimpleRNN::new(3).activation(act))],
            float_data(30 + i as u64),
            &format!("SimpleRNN {}", act.name()),
        );
    }
}

#[test]
fn simple_rnn_sequences_both_dropouts() {
    check(
        vec![boxed(
            SimpleRNN::new(3)
                .return_sequences(true)
                .dropout(0.2)
                .recurrent_dropout(0.3),
        )],
        float_data(35),
        "SimpleRNN return_sequences dropout recurrent_dropout",
    );
}

#[test]
fn simple_rnn_stacked() {
    check(
        vec![
            boxed(SimpleRNN::new(3).return_sequences(true)),
            boxed(SimpleRNN::new(2).use_bias(false)),
        ],
        float_data(36),
        "SimpleRNN stacked",
    );
}

#[test]
fn embedding_then_lstm() {
    let mut rng = SeededRng::new(40);
    let ids = Array2::from_shape_fn((BATCH, STEPS), |_| rng.below(6) as i32);
    check(
        vec![
            boxed(Embedding::new(6, 4)),
            boxed(LSTM::new(3).return_sequences(true)),
        ],
        Data::Ids(ids),
        "Embedding then LSTM",
    );
}

#[test]
fn embedding_alone_repeated_ids() {
    // Id 1 appears many times: its gradient row is a sum (scatter-add).
    let ids = Array2::from_shape_vec((2, 3), vec![1, 1, 0, 2, 1, 1]).unwrap();
    check(
        vec![boxed(Embedding::new(3, 2))],
        Data::Ids(ids),
        "Embedding",
    );
}
