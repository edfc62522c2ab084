//! Every plan of every cell against that cell's reference loop (`lstm::reference`,
//! `gru::reference`, `simple_rnn::reference`: the plainest masked forward and BPTT, a
//! batch per step as matrix products): outputs, input gradients and weight gradients,
//! to a tolerance for f32 sums in other orders and the fast activations. Each case is
//! chosen to run one plan (see `layers/lstm/plan.rs`): step-major, row loops (masked,
//! longest-first batch order), gate dropout, token rows, inference by blocks and
//! one-sequence inference; `go_backwards` reads the reversed input.

use ndarray::{Array2, Array3, ArrayD, Axis, IxDyn};
use recurrent::layers::rnn::{ReferenceInput, ReferenceRun};
use recurrent::layers::{
    Activation, ForwardContext, GRU, LSTM, Layer, LayerInput, SimpleRNN, gru, lstm, simple_rnn,
};
use recurrent::rng::SeededRng;

const FEATURES: usize = 6;

/// How a case runs its layer.
#[derive(Clone, Copy)]
struct Case {
    batch: usize,
    steps: usize,
    /// Pre-padding and gaps in the step mask.
    masked: bool,
    training: bool,
    /// Input rows looked up from a 5-token table, their ids given (`ForwardContext::tokens`).
    tokens: bool,
}

const TRAIN: Case = Case {
    batch: 37,
    steps: 11,
    masked: false,
    training: true,
    tokens: false,
};

fn random(shape: &[usize], seed: u64) -> ArrayD<f32> {
    let mut rng = SeededRng::new(seed);
    let n = shape.iter().product();
    ArrayD::from_shape_vec(
        IxDyn(shape),
        (0..n).map(|_| rng.uniform(-1.0, 1.0)).collect(),
    )
    .unwrap()
}

/// Pre-padding of varying length (row 3 fully padded) plus a gap in every fifth row.
fn step_mask(batch: usize, steps: usize) -> Array2<bool> {
    Array2::from_shape_fn((batch, steps), |(b, t)| {
        let start = (b * 7) % (steps + 1);
        t >= start && !(b % 5 == 1 && t == steps - 2) && b != 3
    })
}

/// The input, and the token id of each row when `tokens`.
fn input(case: Case) -> (ArrayD<f32>, Vec<usize>) {
    let (batch, steps) = (case.batch, case.steps);
    if !case.tokens {
        return (random(&[batch, steps, FEATURES], 1), Vec::new());
    }
    let table = random(&[5, FEATURES], 2);
    let ids: Vec<usize> = (0..batch * steps).map(|i| (i * 7 + i / 3) % 5).collect();
    let x = ArrayD::from_shape_fn(IxDyn(&[batch, steps, FEATURES]), |d| {
        table[[ids[d[0] * steps + d[1]], d[2]]]
    });
    (x, ids)
}

fn max_diff(a: &ArrayD<f32>, b: &ArrayD<f32>) -> f32 {
    assert_eq!(a.shape(), b.shape());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

fn close(what: &str, got: &ArrayD<f32>, want: &ArrayD<f32>, tol: f32) {
    let scale = want.iter().fold(1.0f32, |m, v| m.max(v.abs()));
    let d = max_diff(got, want);
    println!("{what}: max difference {d:e} (scale {scale})");
    assert!(d <= tol * scale, "{what}: differs by {d} (scale {scale})");
}

/// Runs `layer` as `case` says and compares it with `reference`.
fn check(
    what: &str,
    mut layer: Box<dyn Layer>,
    case: Case,
    reference: &dyn Fn(ReferenceInput<'_>) -> ReferenceRun,
) {
    let (seq, backwards) = {
        let c = layer.config();
        (c["return_sequences"] == true, c["go_backwards"] == true)
    };
    let (batch, steps) = (case.batch, case.steps);
    layer
        .build(&[None, Some(FEATURES)], &mut SeededRng::new(3))
        .unwrap();
    let (x, ids) = input(case);
    let mask = case.masked.then(|| step_mask(batch, steps));
    let mut rng = SeededRng::new(9);
    let mut ctx = ForwardContext::new(case.training, &mut rng)
        .with_mask(mask.as_ref())
        .with_tokens(case.tokens.then_some(&ids[..]));
    let y = layer
        .forward(LayerInput::Floats(x.view()), &mut ctx)
        .unwrap();
    let u = *y.shape().last().unwrap();
    let dy = random(y.shape(), 4);
    // The reference reads what the loop reads: the reversed sequence with go_backwards.
    let flip = |a: &Array3<f32>| {
        let mut a = a.clone();
        if backwards {
            a.invert_axis(Axis(1));
        }
        a
    };
    let x3 = flip(&x.clone().into_dimensionality().unwrap());
    let mask_read = mask.as_ref().map(|m| {
        let mut m = m.clone();
        if backwards {
            m.invert_axis(Axis(1));
        }
        m
    });
    let mut dh = Array3::zeros((batch, steps, u));
    if seq {
        dh.assign(&dy.view().into_dimensionality::<ndarray::Ix3>().unwrap());
    } else {
        dh.index_axis_mut(Axis(1), steps - 1)
            .assign(&dy.view().into_dimensionality::<ndarray::Ix2>().unwrap());
    }
    let params = layer.params();
    let want = reference(ReferenceInput {
        params: &params,
        x: x3.view(),
        mask: mask_read.as_ref().map(|m| m.view()),
        dh: dh.view(),
    });
    let want_y = if seq {
        want.hs.clone().into_dyn()
    } else {
        want.hs.index_axis(Axis(1), steps - 1).to_owned().into_dyn()
    };
    close(&format!("{what} output"), &y, &want_y, 2e-5);
    if !case.training {
        return;
    }
    drop(params);
    let dx = layer.backward(dy).unwrap().unwrap();
    close(&format!("{what} dX"), &dx, &flip(&want.dx).into_dyn(), 1e-4);
    for (p, g) in layer.params().iter().zip(&want.weights) {
        close(&format!("{what} d{}", p.name), &p.grad, g, 1e-4);
    }
}

fn lstm_reference(input: ReferenceInput<'_>) -> ReferenceRun {
    lstm::reference::run(input)
}

#[test]
fn lstm_plans_equal_the_reference_loop() {
    let masked = Case {
        masked: true,
        ..TRAIN
    };
    let infer = Case {
        training: false,
        ..masked
    };
    let cases: Vec<(&str, Box<dyn Layer>, Case)> = vec![
        (
            "step-major",
            Box::new(LSTM::new(8).return_sequences(true)),
            TRAIN,
        ),
        (
            "rows (masked, longest first)",
            Box::new(LSTM::new(20)),
            masked,
        ),
        (
            "rows, small layer masked",
            Box::new(LSTM::new(8).return_sequences(true)),
            masked,
        ),
        (
            "rows, no bias",
            Box::new(LSTM::new(20).use_bias(false)),
            TRAIN,
        ),
        (
            "rows, go_backwards",
            Box::new(LSTM::new(20).go_backwards(true).return_sequences(true)),
            masked,
        ),
        (
            "gate dropout",
            Box::new(LSTM::new(20).dropout(1e-7).recurrent_dropout(1e-7)),
            masked,
        ),
        (
            "token rows, step-major",
            Box::new(LSTM::new(8)),
            Case {
                tokens: true,
                ..TRAIN
            },
        ),
        (
            "token rows, rows",
            Box::new(LSTM::new(20).return_sequences(true)),
            Case {
                tokens: true,
                ..masked
            },
        ),
        (
            "inference by blocks",
            Box::new(LSTM::new(20).return_sequences(true)),
            infer,
        ),
        (
            "one-sequence inference",
            Box::new(LSTM::new(64)),
            Case {
                batch: 1,
                masked: false,
                ..infer
            },
        ),
    ];
    for (what, layer, case) in cases {
        check(what, layer, case, &lstm_reference);
    }
}

#[test]
fn gru_plans_equal_the_reference_loop() {
    let masked = Case {
        masked: true,
        ..TRAIN
    };
    for reset_after in [true, false] {
        let reference = move |input: ReferenceInput<'_>| gru::reference::run(input, reset_after);
        let gru = |u: usize| GRU::new(u).reset_after(reset_after);
        let cases: Vec<(&str, Box<dyn Layer>, Case)> = vec![
            ("rows", Box::new(gru(20).return_sequences(true)), TRAIN),
            ("rows, masked", Box::new(gru(20)), masked),
            ("rows, no bias", Box::new(gru(8).use_bias(false)), masked),
            ("go_backwards", Box::new(gru(20).go_backwards(true)), masked),
            (
                "gate dropout",
                Box::new(gru(20).dropout(1e-7).recurrent_dropout(1e-7)),
                masked,
            ),
            (
                "token rows",
                Box::new(gru(20).return_sequences(true)),
                Case {
                    tokens: true,
                    ..masked
                },
            ),
            (
                "inference",
                Box::new(gru(20)),
                Case {
                    training: false,
                    ..masked
                },
            ),
        ];
        for (what, layer, case) in cases {
            check(
                &format!("GRU reset_after={reset_after} {what}"),
                layer,
                case,
                &reference,
            );
        }
    }
}

#[test]
fn simple_rnn_equals_the_reference_loop() {
    for act in [
        Activation::Tanh,
        Activation::Relu,
        Activation::Sigmoid,
        Activation::Linear,
    ] {
        let reference = move |input: ReferenceInput<'_>| simple_rnn::reference::run(input, act);
        let masked = Case {
            masked: true,
            ..TRAIN
        };
        let cases: Vec<(&str, Box<dyn Layer>, Case)> = vec![
            (
                "training",
                Box::new(SimpleRNN::new(12).activation(act).return_sequences(true)),
                masked,
            ),
            (
                "recurrent dropout",
                Box::new(
                    SimpleRNN::new(12)
                        .activation(act)
                        .dropout(1e-7)
                        .recurrent_dropout(1e-7),
                ),
                masked,
            ),
            (
                "go_backwards",
                Box::new(SimpleRNN::new(12).activation(act).go_backwards(true)),
                masked,
            ),
            (
                "inference",
                Box::new(SimpleRNN::new(12).activation(act)),
                Case {
                    training: false,
                    ..masked
                },
            ),
        ];
        for (what, layer, case) in cases {
            check(
                &format!("SimpleRNN {} {what}", act.name()),
                layer,
                case,
                &reference,
            );
        }
    }
}
