//! Finite-difference gradient checks of the recurrent layers: the analytic gradients
//! from `backward` against central differences of the scalar loss sum(out * R), for
//! every parameter element and every input element.

use ndarray::{Array2, ArrayD, IxDyn};
use recurrent::layers::config::{Conv1DConfig, DenseConfig, MaxPooling1DConfig};
use recurrent::layers::{
    Activation, Bidirectional, Conv1D, Embedding, ForwardContext, GRU, GlobalAveragePooling1D,
    GlobalMaxPooling1D, Initializer, LSTM, Layer, LayerConfig, LayerInput, MaxPooling1D, MergeMode,
    Padding, SimpleRNN, TimeDistributed,
};
use recurrent::rng::SeededRng;

/// Model input: floats (batch, steps, features) or token ids (batch, steps).
enum Data {
    Floats(ArrayD<f32>),
    /// Floats with a step mask given to the first layer (true = real step).
    MaskedFloats(ArrayD<f32>, Array2<bool>),
    Ids(Array2<i32>),
}

impl Data {
    fn floats(&self) -> Option<&ArrayD<f32>> {
        match self {
            Data::Floats(x) | Data::MaskedFloats(x, _) => Some(x),
            Data::Ids(_) => None,
        }
    }

    /// The same data with other float values.
    fn with_floats(&self, x: ArrayD<f32>) -> Data {
        match self {
            Data::MaskedFloats(_, m) => Data::MaskedFloats(x, m.clone()),
            _ => Data::Floats(x),
        }
    }
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

/// Forward through the stack, passing step masks from layer to layer as the model
/// does (compute_mask, then forward with the input's mask in the context).
fn forward(layers: &mut [Box<dyn Layer>], data: &Data) -> ArrayD<f32> {
    let mut rng = SeededRng::new(MASK_SEED);
    let mut ctx = ForwardContext::new(true, &mut rng);
    let (mut mask, first) = match data {
        Data::Floats(x) => (None, LayerInput::Floats(x.view())),
        Data::MaskedFloats(x, m) => (Some(m.clone()), LayerInput::Floats(x.view())),
        Data::Ids(ids) => (None, LayerInput::Ids(ids.view())),
    };
    let mut out = run_layer(&mut layers[0], first, &mut mask, &mut ctx);
    for layer in layers[1..].iter_mut() {
        out = run_layer(layer, LayerInput::Floats(out.view()), &mut mask, &mut ctx);
    }
    out
}

fn run_layer(
    layer: &mut Box<dyn Layer>,
    input: LayerInput<'_>,
    mask: &mut Option<Array2<bool>>,
    ctx: &mut ForwardContext<'_>,
) -> ArrayD<f32> {
    let next = layer.compute_mask(&input, mask.as_ref());
    let out = layer
        .forward(input, &mut ctx.inner(mask.as_ref(), None))
        .unwrap();
    *mask = next;
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

/// Sets one scalar of the model to its original value plus the given offset.
type Nudge<'a> = dyn Fn(&mut [Box<dyn Layer>], f32) + 'a;

/// Central difference of the loss in one scalar reached through `set`.
fn central_difference(
    layers: &mut [Box<dyn Layer>],
    data: &Data,
    r: &ArrayD<f32>,
    set: &Nudge<'_>,
    eps: f32,
) -> f64 {
    set(layers, eps);
    let lp = loss(layers, data, r);
    set(layers, -eps);
    let lm = loss(layers, data, r);
    set(layers, 0.0);
    (lp - lm) / (2.0 * eps as f64)
}

/// Runs the check; returns the largest relative error and asserts it is small.
fn check(layers: Vec<Box<dyn Layer>>, data: Data, what: &str) -> f64 {
    check_with_step(layers, data, what, EPS)
}

/// `check` with another finite-difference step: a smaller one where the loss curves
/// enough (tanh over many summed outputs) that the O(eps²) truncation error of the
/// central difference exceeds the tolerance on small gradients.
fn check_with_step(mut layers: Vec<Box<dyn Layer>>, data: Data, what: &str, eps: f32) -> f64 {
    let first_shape = match &data {
        Data::Floats(x) | Data::MaskedFloats(x, _) => vec![Some(x.shape()[1]), Some(x.shape()[2])],
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
                let numeric = central_difference(&mut layers, &data, &r, &set, eps);
                let a = analytic.as_slice().unwrap()[k] as f64;
                record(a, numeric, format!("layer {li} {pname}[{k}]"));
            }
        }
    }
    match (data.floats(), grad) {
        (Some(x), Some(analytic)) => {
            assert_eq!(analytic.shape(), x.shape());
            for k in 0..x.len() {
                let mut plus = x.clone();
                plus.as_slice_mut().unwrap()[k] += eps;
                let mut minus = x.clone();
                minus.as_slice_mut().unwrap()[k] -= eps;
                let lp = loss(&mut layers, &data.with_floats(plus), &r);
                let lm = loss(&mut layers, &data.with_floats(minus), &r);
                let numeric = (lp - lm) / (2.0 * eps as f64);
                let a = analytic.as_slice().unwrap()[k] as f64;
                record(a, numeric, format!("input[{k}]"));
            }
        }
        (None, g) => assert!(g.is_none(), "integer input has no gradient"),
        (Some(_), None) => panic!("float input must get a gradient"),
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

#[test]
fn lstm_recurrent_dropout_per_gate_masks() {
    check(
        vec![boxed(
            LSTM::new(3)
                .return_sequences(true)
                .dropout(0.3)
                .recurrent_dropout(0.4),
        )],
        float_data(14),
        "LSTM dropout + recurrent_dropout",
    );
    check(
        vec![boxed(LSTM::new(3).recurrent_dropout(0.4))],
        float_data(15),
        "LSTM recurrent_dropout only",
    );
}

#[test]
fn gru_recurrent_dropout_per_gate_masks() {
    check(
        vec![boxed(
            GRU::new(3)
                .return_sequences(true)
                .dropout(0.3)
                .recurrent_dropout(0.4),
        )],
        float_data(25),
        "GRU reset_after dropout + recurrent_dropout",
    );
    check(
        vec![boxed(GRU::new(3).reset_after(false).recurrent_dropout(0.4))],
        float_data(26),
        "GRU reset_before recurrent_dropout",
    );
    check(
        vec![boxed(
            GRU::new(3)
                .reset_after(false)
                .dropout(0.2)
                .recurrent_dropout(0.3)
                .return_sequences(true),
        )],
        float_data(27),
        "GRU reset_before dropout + recurrent_dropout",
    );
}

/// Padding patterns: post-padding, pre-padding, a gap, and a fully padded sample.
fn step_mask() -> Array2<bool> {
    Array2::from_shape_vec(
        (BATCH, STEPS),
        vec![
            true, true, true, false, false, //
            false, false, true, true, true, //
            true, false, true, false, true,
        ],
    )
    .unwrap()
}

#[test]
fn masked_steps_in_every_layer() {
    let mask = step_mask();
    let x = || float_data(50).floats().unwrap().clone();
    let cases: Vec<(Box<dyn Layer>, &str)> = vec![
        (boxed(LSTM::new(3).return_sequences(true)), "LSTM masked"),
        (
            boxed(LSTM::new(3).recurrent_dropout(0.3)),
            "LSTM masked recurrent_dropout",
        ),
        (boxed(GRU::new(3)), "GRU masked"),
        (
            boxed(GRU::new(3).reset_after(false).return_sequences(true)),
            "GRU reset_before masked",
        ),
        (
            boxed(
                SimpleRNN::new(3)
                    .return_sequences(true)
                    .recurrent_dropout(0.2),
            ),
            "SimpleRNN masked",
        ),
    ];
    for (layer, what) in cases {
        check(vec![layer], Data::MaskedFloats(x(), mask.clone()), what);
    }
    let mut all_padded = mask.clone();
    all_padded.row_mut(2).fill(false);
    check(
        vec![boxed(
            GRU::new(3).return_sequences(true).recurrent_dropout(0.3),
        )],
        Data::MaskedFloats(x(), all_padded),
        "GRU masked, one sample all padding",
    );
}

/// Samples of three different lengths out of length order (post-padded 2, all 5,
/// pre-padded 3): the layers run them longest first and hand results back in input
/// order, dropout masks still drawn per input sample.
#[test]
fn masked_batch_out_of_length_order() {
    let mask = Array2::from_shape_vec(
        (BATCH, STEPS),
        vec![
            true, true, false, false, false, //
            true, true, true, true, true, //
            false, false, true, true, true,
        ],
    )
    .unwrap();
    let x = || float_data(51).floats().unwrap().clone();
    let cases: Vec<(Box<dyn Layer>, &str)> = vec![
        (boxed(LSTM::new(3)), "LSTM"),
        (boxed(LSTM::new(3).return_sequences(true)), "LSTM sequences"),
        (
            boxed(LSTM::new(3).dropout(0.3).return_sequences(true)),
            "LSTM dropout sequences",
        ),
        (
            boxed(LSTM::new(3).dropout(0.3).go_backwards(true)),
            "LSTM dropout go_backwards",
        ),
        (boxed(GRU::new(3)), "GRU"),
        (
            boxed(GRU::new(3).dropout(0.3).return_sequences(true)),
            "GRU dropout sequences",
        ),
        (
            boxed(GRU::new(3).reset_after(false).go_backwards(true)),
            "GRU reset_before go_backwards",
        ),
    ];
    for (layer, what) in cases {
        check(vec![layer], Data::MaskedFloats(x(), mask.clone()), what);
    }
}

#[test]
fn embedding_mask_zero_through_stacked_layers() {
    let mut ids = Array2::from_shape_fn((BATCH, STEPS), |(b, t)| (1 + (b * 7 + t * 3) % 5) as i32);
    for ((b, t), keep) in step_mask().indexed_iter() {
        if !keep {
            ids[[b, t]] = 0;
        }
    }
    check(
        vec![
            boxed(Embedding::new(6, 4).mask_zero(true)),
            boxed(LSTM::new(3).return_sequences(true)),
            boxed(GRU::new(2)),
        ],
        Data::Ids(ids),
        "Embedding(mask_zero) then LSTM then GRU",
    );
}

fn bi(layer: LayerConfig, mode: MergeMode) -> Box<dyn Layer> {
    boxed(Bidirectional::new(layer, mode).unwrap())
}

fn lstm_cfg(l: LSTM) -> LayerConfig {
    LayerConfig::Lstm(l.settings().clone())
}
fn gru_cfg(l: GRU) -> LayerConfig {
    LayerConfig::Gru(l.settings().clone())
}
fn rnn_cfg(l: SimpleRNN) -> LayerConfig {
    LayerConfig::SimpleRnn(l.settings().clone())
}

#[test]
fn bidirectional_every_merge_mode() {
    let modes = [
        MergeMode::Concat,
        MergeMode::Sum,
        MergeMode::Mul,
        MergeMode::Ave,
    ];
    for (i, mode) in modes.into_iter().enumerate() {
        let seed = 60 + i as u64;
        check(
            vec![bi(lstm_cfg(LSTM::new(3)), mode)],
            float_data(seed),
            &format!("Bidirectional(LSTM) {}", mode.name()),
        );
        check(
            vec![bi(gru_cfg(GRU::new(3).return_sequences(true)), mode)],
            float_data(seed + 10),
            &format!("Bidirectional(GRU return_sequences) {}", mode.name()),
        );
        // Step 4e-3: at 1e-2 the truncation error reaches 1% on a small bias gradient.
        check_with_step(
            vec![bi(
                rnn_cfg(SimpleRNN::new(3).return_sequences(i % 2 == 0)),
                mode,
            )],
            float_data(seed + 20),
            &format!("Bidirectional(SimpleRNN) {}", mode.name()),
            4e-3,
        );
    }
}

#[test]
fn bidirectional_masked_steps() {
    let mask = step_mask();
    let x = || float_data(90).floats().unwrap().clone();
    let cases: Vec<(Box<dyn Layer>, &str)> = vec![
        (
            bi(
                lstm_cfg(LSTM::new(3).return_sequences(true)),
                MergeMode::Concat,
            ),
            "Bidirectional(LSTM return_sequences) masked concat",
        ),
        (
            bi(lstm_cfg(LSTM::new(3)), MergeMode::Mul),
            "Bidirectional(LSTM) masked mul",
        ),
        (
            bi(gru_cfg(GRU::new(3).return_sequences(true)), MergeMode::Sum),
            "Bidirectional(GRU return_sequences) masked sum",
        ),
        (
            bi(
                rnn_cfg(SimpleRNN::new(3).return_sequences(true)),
                MergeMode::Ave,
            ),
            "Bidirectional(SimpleRNN return_sequences) masked ave",
        ),
    ];
    for (layer, what) in cases {
        check(vec![layer], Data::MaskedFloats(x(), mask.clone()), what);
    }
}

#[test]
fn bidirectional_stacked_after_embedding_mask_zero() {
    let mut ids = Array2::from_shape_fn((BATCH, STEPS), |(b, t)| (1 + (b * 5 + t * 2) % 5) as i32);
    for ((b, t), keep) in step_mask().indexed_iter() {
        if !keep {
            ids[[b, t]] = 0;
        }
    }
    check(
        vec![
            boxed(Embedding::new(6, 4).mask_zero(true)),
            bi(
                lstm_cfg(LSTM::new(2).return_sequences(true)),
                MergeMode::Concat,
            ),
            bi(gru_cfg(GRU::new(2)), MergeMode::Sum),
        ],
        Data::Ids(ids),
        "Embedding(mask_zero) then Bidirectional(LSTM seq) then Bidirectional(GRU)",
    );
}

#[test]
fn global_pooling_after_recurrent_layers() {
    check(
        vec![
            boxed(LSTM::new(3).return_sequences(true)),
            boxed(GlobalAveragePooling1D::new()),
        ],
        float_data(100),
        "LSTM then GlobalAveragePooling1D",
    );
    // Max is not differentiable where two steps tie: a small step, and data whose GRU
    // outputs have no near-tie (seed 101 has one: the difference crosses the kink).
    check_with_step(
        vec![
            boxed(GRU::new(3).return_sequences(true)),
            boxed(GlobalMaxPooling1D::new().keepdims(true)),
        ],
        float_data(104),
        "GRU then GlobalMaxPooling1D(keepdims)",
        1e-3,
    );
    check(
        vec![boxed(GlobalMaxPooling1D::new())],
        float_data(102),
        "GlobalMaxPooling1D on the input",
    );
}

#[test]
fn global_average_pooling_masked() {
    let x = float_data(103).floats().unwrap().clone();
    check(
        vec![boxed(GlobalAveragePooling1D::new().keepdims(true))],
        Data::MaskedFloats(x.clone(), step_mask()),
        "GlobalAveragePooling1D masked",
    );
    check(
        vec![
            bi(
                lstm_cfg(LSTM::new(2).return_sequences(true)),
                MergeMode::Concat,
            ),
            boxed(GlobalAveragePooling1D::new()),
        ],
        Data::MaskedFloats(x, step_mask()),
        "Bidirectional(LSTM seq) then GlobalAveragePooling1D, masked",
    );
}

/// go_backwards in each cell, with a step mask and dropouts: the reversed read, the
/// reversed mask and the input gradient flipped back to input order.
#[test]
fn go_backwards_masked_each_cell() {
    let mask = step_mask();
    let x = || float_data(70).floats().unwrap().clone();
    let cases: Vec<(Vec<Box<dyn Layer>>, &str)> = vec![
        (
            vec![boxed(
                SimpleRNN::new(3)
                    .go_backwards(true)
                    .return_sequences(true)
                    .recurrent_dropout(0.2),
            )],
            "SimpleRNN go_backwards masked",
        ),
        (
            vec![
                boxed(LSTM::new(3).go_backwards(true).return_sequences(true)),
                boxed(LSTM::new(2).go_backwards(true).dropout(0.2)),
            ],
            "LSTM go_backwards stacked masked",
        ),
        (
            vec![boxed(GRU::new(3).go_backwards(true).recurrent_dropout(0.3))],
            "GRU go_backwards masked recurrent_dropout",
        ),
        (
            vec![boxed(
                GRU::new(3)
                    .reset_after(false)
                    .go_backwards(true)
                    .return_sequences(true),
            )],
            "GRU reset_before go_backwards masked",
        ),
    ];
    for (layers, what) in cases {
        check(layers, Data::MaskedFloats(x(), mask.clone()), what);
    }
    check(
        vec![boxed(LSTM::new(3).go_backwards(true))],
        float_data(71),
        "LSTM go_backwards",
    );
}

fn conv(filters: usize, kernel_size: usize, f: impl Fn(&mut Conv1DConfig)) -> Box<dyn Layer> {
    let mut c = Conv1DConfig::new(filters, kernel_size);
    c.activation = Activation::Tanh;
    f(&mut c);
    boxed(Conv1D::from_config(c).unwrap())
}

/// Conv1D with each padding, dilation and strides (tanh, so the activation's backward
/// is exercised too), on 9-step sequences.
#[test]
fn conv1d_each_padding_dilation_strides() {
    let x = || random_array(&[2, 9, 3], &mut SeededRng::new(80), 1.0);
    let cases: Vec<(Box<dyn Layer>, &str)> = vec![
        (conv(2, 3, |_| {}), "Conv1D valid"),
        (conv(2, 4, |c| c.padding = Padding::Same), "Conv1D same"),
        (conv(2, 3, |c| c.padding = Padding::Causal), "Conv1D causal"),
        (
            conv(2, 2, |c| {
                c.padding = Padding::Causal;
                c.dilation_rate = 3;
            }),
            "Conv1D causal dilation 3",
        ),
        (
            conv(2, 3, |c| c.dilation_rate = 2),
            "Conv1D valid dilation 2",
        ),
        (
            conv(2, 3, |c| {
                c.padding = Padding::Same;
                c.strides = 2;
                c.use_bias = false;
            }),
            "Conv1D same strides 2 no bias",
        ),
        (conv(3, 2, |c| c.strides = 3), "Conv1D valid strides 3"),
    ];
    for (layer, what) in cases {
        check(vec![layer], Data::Floats(x()), what);
    }
}

/// MaxPooling1D (overlapping "same" windows and disjoint ones) between Conv1D and
/// LSTM; a small step so that no nudge changes which value is the maximum.
#[test]
fn conv1d_max_pooling1d_lstm_stack() {
    let x = random_array(&[2, 9, 3], &mut SeededRng::new(81), 1.0);
    let pool = |size: usize, strides: Option<usize>, padding: Padding| {
        boxed(
            MaxPooling1D::from_config(MaxPooling1DConfig {
                pool_size: size,
                strides,
                padding,
                ..MaxPooling1DConfig::default()
            })
            .unwrap(),
        )
    };
    check_with_step(
        vec![
            conv(4, 3, |c| c.padding = Padding::Same),
            pool(3, Some(1), Padding::Same),
            pool(2, None, Padding::Valid),
            boxed(LSTM::new(2)),
        ],
        Data::Floats(x),
        "Conv1D -> MaxPooling1D x2 -> LSTM",
        1e-3,
    );
}

/// TimeDistributed(Dense) on a masked sequence (the mask passes through it).
#[test]
fn time_distributed_dense_after_masked_lstm() {
    let dense = DenseConfig {
        name: None,
        units: 2,
        activation: Activation::Tanh,
        use_bias: true,
        kernel_initializer: Initializer::GlorotUniform,
        bias_initializer: Initializer::Zeros,
        input_shape: None,
    };
    check(
        vec![
            boxed(LSTM::new(3).return_sequences(true)),
            boxed(TimeDistributed::new(LayerConfig::Dense(dense)).unwrap()),
            boxed(GlobalAveragePooling1D::new()),
        ],
        Data::MaskedFloats(float_data(90).floats().unwrap().clone(), step_mask()),
        "LSTM -> TimeDistributed(Dense) -> GlobalAveragePooling1D, masked",
    );
}

/// Over 300 steps the gradient of the last output decays below the backward flush
/// threshold long before step 0, so the optimised backward passes stop computing rows
/// whose state gradients are exactly zero. The check still holds for every weight and
/// every input, and the earliest input gradients are exactly zero (the skip ran).
#[test]
fn long_sequences_whose_gradients_vanish() {
    let (batch, steps, features) = (2, 300, 2);
    let x = random_array(&[batch, steps, features], &mut SeededRng::new(60), 1.0);
    let mut mask = Array2::from_elem((batch, steps), true);
    mask.slice_mut(ndarray::s![1, ..40]).fill(false); // pre-padded second sample
    let cases: Vec<(Box<dyn Layer>, Data, &str)> = vec![
        (
            boxed(LSTM::new(3)),
            Data::Floats(x.clone()),
            "LSTM 300 steps",
        ),
        (
            boxed(LSTM::new(3)),
            Data::MaskedFloats(x.clone(), mask.clone()),
            "LSTM 300 steps masked",
        ),
        (boxed(GRU::new(3)), Data::Floats(x.clone()), "GRU 300 steps"),
        (
            boxed(GRU::new(3)),
            Data::MaskedFloats(x.clone(), mask.clone()),
            "GRU 300 steps masked",
        ),
    ];
    for (layer, data, what) in cases {
        let mut layers = vec![layer];
        check(layers_clone(&layers), data.with_floats(x.clone()), what);
        build(&mut layers, vec![Some(steps), Some(features)]);
        let out = forward(&mut layers, &data);
        let r = random_array(out.shape(), &mut SeededRng::new(5), 1.0);
        let dx = layers[0].backward(r).unwrap().unwrap();
        let first_steps = dx.slice(ndarray::s![.., ..10, ..]);
        assert!(
            first_steps.iter().all(|v| *v == 0.0),
            "{what}: the earliest input gradients should have vanished exactly"
        );
        let last = dx.slice(ndarray::s![.., steps - 1, ..]);
        assert!(
            last.iter().any(|v| *v != 0.0),
            "{what}: last step has gradient"
        );
    }
}

/// Unbuilt copies of layers (by config), for running `check` on a fresh stack.
fn layers_clone(layers: &[Box<dyn Layer>]) -> Vec<Box<dyn Layer>> {
    layers
        .iter()
        .map(|l| {
            let c: LayerConfig = serde_json::from_value(l.config()).unwrap();
            c.to_layer().unwrap()
        })
        .collect()
}
