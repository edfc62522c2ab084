//! The optimised LSTM and GRU (fast activations, gathered per-step products, small
//! GEMM, fused backward, masked rows skipped, subnormal flushing) against a
//! straightforward reference written here: f64, std `exp`/`tanh`, one sample and one
//! step at a time, Keras's equations and masking (a masked step carries h and c).
//! Prints the largest differences (run with `--nocapture` to see them).

// The reference is written index by index on purpose, to read like the equations.
#![allow(clippy::needless_range_loop)]

use ndarray::{Array2, ArrayD, IxDyn};
use recurrent::layers::{ForwardContext, GRU, LSTM, Layer, LayerInput};
use recurrent::rng::SeededRng;

const BATCH: usize = 37; // three 16-sample blocks, the last partial (step-major loops: 32 + 5)
const STEPS: usize = 23;
const FEATURES: usize = 6;
const UNITS: usize = 20; // exercises the 16-, 8- and 1-column tails of the small GEMM

fn random(n: usize, rng: &mut SeededRng, scale: f32) -> Vec<f32> {
    (0..n).map(|_| rng.uniform(-scale, scale)).collect()
}

/// Pre-padding of varying length (some rows fully real, row 17 fully padded) plus a
/// one-step gap in every fifth row.
fn step_mask() -> Array2<bool> {
    Array2::from_shape_fn((BATCH, STEPS), |(b, t)| {
        let start = (b * 7) % (STEPS + 1);
        t >= start && !(b % 5 == 1 && t == STEPS - 2)
    })
}

fn sig(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// Weights as f64 matrices: kernel (f, gw), recurrent (u, gw), bias (gw) or GRU's (2, gw).
struct Weights {
    kernel: Vec<f64>,
    recurrent: Vec<f64>,
    bias: Vec<f64>,
}

fn weights(layer: &dyn Layer) -> Weights {
    let p = layer.params();
    let v = |i: usize| p[i].value.iter().map(|&x| x as f64).collect::<Vec<f64>>();
    Weights {
        kernel: v(0),
        recurrent: v(1),
        bias: v(2),
    }
}

/// x·K + h·U + b for one sample-step, gate width gw.
fn affine(w: &Weights, x: &[f64], h: &[f64], gw: usize, bias_row: usize) -> (Vec<f64>, Vec<f64>) {
    let mut zx = vec![0.0; gw];
    let mut zh = vec![0.0; gw];
    for (i, xi) in x.iter().enumerate() {
        for g in 0..gw {
            zx[g] += xi * w.kernel[i * gw + g];
        }
    }
    for (i, hi) in h.iter().enumerate() {
        for g in 0..gw {
            zh[g] += hi * w.recurrent[i * gw + g];
        }
    }
    for g in 0..gw {
        zx[g] += w.bias[bias_row * gw + g];
    }
    (zx, zh)
}

/// Reference LSTM forward: all states (batch, steps, u) and, for the loss
/// sum(h_T * r), the gradients of every weight and input by reverse-mode in f64.
fn lstm_reference(
    w: &Weights,
    x: &[f32],
    mask: &Array2<bool>,
    r: &[f32],
) -> (Vec<f64>, Vec<f64>, [Vec<f64>; 3]) {
    let (u, f) = (w.bias.len() / 4, FEATURES);
    let gw = 4 * u;
    let mut out = vec![0.0; BATCH * u];
    let mut dx = vec![0.0; BATCH * STEPS * f];
    let mut dk = vec![0.0; f * gw];
    let mut du = vec![0.0; u * gw];
    let mut db = vec![0.0; gw];
    for b in 0..BATCH {
        let mut h = vec![0.0; u];
        let mut c = vec![0.0; u];
        // Saved per step: (active, x, h_prev, c_prev, i, f, g, o, c).
        let mut tape = Vec::new();
        for t in 0..STEPS {
            let xt: Vec<f64> = x[(b * STEPS + t) * f..(b * STEPS + t + 1) * f]
                .iter()
                .map(|&v| v as f64)
                .collect();
            if !mask[[b, t]] {
                tape.push(None);
                continue;
            }
            let (zx, zh) = affine(w, &xt, &h, gw, 0);
            let z: Vec<f64> = zx.iter().zip(&zh).map(|(a, b)| a + b).collect();
            let gi: Vec<f64> = (0..u).map(|j| sig(z[j])).collect();
            let gf: Vec<f64> = (0..u).map(|j| sig(z[u + j])).collect();
            let gg: Vec<f64> = (0..u).map(|j| z[2 * u + j].tanh()).collect();
            let go: Vec<f64> = (0..u).map(|j| sig(z[3 * u + j])).collect();
            let cn: Vec<f64> = (0..u).map(|j| gf[j] * c[j] + gi[j] * gg[j]).collect();
            let hn: Vec<f64> = (0..u).map(|j| go[j] * cn[j].tanh()).collect();
            tape.push(Some((xt, h.clone(), c.clone(), gi, gf, gg, go, cn.clone())));
            h = hn;
            c = cn;
        }
        out[b * u..(b + 1) * u].copy_from_slice(&h);
        let mut dh: Vec<f64> = r[b * u..(b + 1) * u].iter().map(|&v| v as f64).collect();
        let mut dc = vec![0.0; u];
        for t in (0..STEPS).rev() {
            let Some((xt, hp, cp, gi, gf, gg, go, cn)) = &tape[t] else {
                continue;
            };
            let mut dz = vec![0.0; gw];
            for j in 0..u {
                let tc = cn[j].tanh();
                let dct = dc[j] + dh[j] * go[j] * (1.0 - tc * tc);
                dz[j] = dct * gg[j] * gi[j] * (1.0 - gi[j]);
                dz[u + j] = dct * cp[j] * gf[j] * (1.0 - gf[j]);
                dz[2 * u + j] = dct * gi[j] * (1.0 - gg[j] * gg[j]);
                dz[3 * u + j] = dh[j] * tc * go[j] * (1.0 - go[j]);
                dc[j] = dct * gf[j];
            }
            let mut dhp = vec![0.0; u];
            for g in 0..gw {
                db[g] += dz[g];
                for i in 0..f {
                    dk[i * gw + g] += xt[i] * dz[g];
                    dx[(b * STEPS + t) * f + i] += w.kernel[i * gw + g] * dz[g];
                }
                for i in 0..u {
                    du[i * gw + g] += hp[i] * dz[g];
                    dhp[i] += w.recurrent[i * gw + g] * dz[g];
                }
            }
            dh = dhp;
        }
    }
    (out, dx, [dk, du, db])
}

/// Reference GRU (reset_after=True, Keras default) forward: last states (batch, u).
fn gru_reference(w: &Weights, x: &[f32], mask: &Array2<bool>) -> Vec<f64> {
    let (u, f) = (UNITS, FEATURES);
    let gw = 3 * u;
    let mut out = vec![0.0; BATCH * u];
    for b in 0..BATCH {
        let mut h = vec![0.0; u];
        for t in 0..STEPS {
            if !mask[[b, t]] {
                continue;
            }
            let xt: Vec<f64> = x[(b * STEPS + t) * f..(b * STEPS + t + 1) * f]
                .iter()
                .map(|&v| v as f64)
                .collect();
            let (zx, mut zh) = affine(w, &xt, &h, gw, 0);
            for g in 0..gw {
                zh[g] += w.bias[gw + g];
            }
            let hn: Vec<f64> = (0..u)
                .map(|j| {
                    let z = sig(zx[j] + zh[j]);
                    let rr = sig(zx[u + j] + zh[u + j]);
                    let cand = (zx[2 * u + j] + rr * zh[2 * u + j]).tanh();
                    z * h[j] + (1.0 - z) * cand
                })
                .collect();
            h = hn;
        }
        out[b * u..(b + 1) * u].copy_from_slice(&h);
    }
    out
}

fn build(layer: &mut dyn Layer, rng: &mut SeededRng) {
    layer
        .build(&[Some(STEPS), Some(FEATURES)], &mut SeededRng::new(3))
        .unwrap();
    for p in layer.params_mut() {
        let n = p.value.len();
        p.value = ArrayD::from_shape_vec(p.value.raw_dim(), random(n, rng, 0.5)).unwrap();
    }
}

fn max_abs_diff(got: impl IntoIterator<Item = f32>, want: &[f64]) -> f64 {
    got.into_iter()
        .zip(want)
        .map(|(g, w)| (g as f64 - w).abs())
        .fold(0.0, f64::max)
}

fn run(
    layer: &mut dyn Layer,
    x: &[f32],
    mask: Option<&Array2<bool>>,
    training: bool,
) -> ArrayD<f32> {
    let xs = ArrayD::from_shape_vec(IxDyn(&[BATCH, STEPS, FEATURES]), x.to_vec()).unwrap();
    let mut rng = SeededRng::new(0);
    let mut ctx = ForwardContext::new(training, &mut rng).with_mask(mask);
    layer
        .forward(LayerInput::Floats(xs.view()), &mut ctx)
        .unwrap()
}

#[test]
fn lstm_matches_the_scalar_f64_reference() {
    let mut rng = SeededRng::new(11);
    // 8 units without a mask run the step-major loops of small layers; 128 units the
    // wide layers' paths (with AVX-512, h_{t-1} rows packed for the weight gradient).
    let cases = [
        (UNITS, false),
        (UNITS, true),
        (8, false),
        (8, true),
        (128, false),
        (128, true),
    ];
    for (units, masked) in cases {
        let mut layer = LSTM::new(units);
        build(&mut layer, &mut rng);
        let x = random(BATCH * STEPS * FEATURES, &mut rng, 1.5);
        let mask = if masked {
            step_mask()
        } else {
            Array2::from_elem((BATCH, STEPS), true)
        };
        let r = random(BATCH * units, &mut rng, 1.0);
        // Inference (its own leaner path) first, then a training forward for backward.
        let inferred = run(&mut layer, &x, masked.then_some(&mask), false);
        let out = run(&mut layer, &x, masked.then_some(&mask), true);
        let grad = ArrayD::from_shape_vec(IxDyn(&[BATCH, units]), r.clone()).unwrap();
        let dx = layer.backward(grad).unwrap().unwrap();
        let (want_out, want_dx, want_grads) = lstm_reference(&weights(&layer), &x, &mask, &r);
        let d_out = max_abs_diff(out.iter().copied(), &want_out);
        let d_inf = max_abs_diff(inferred.iter().copied(), &want_out);
        assert!(d_inf < 1e-5, "inference output differs by {d_inf}");
        let d_dx = max_abs_diff(dx.iter().copied(), &want_dx);
        let d_w = layer
            .params()
            .iter()
            .zip(&want_grads)
            .map(|(p, want)| max_abs_diff(p.grad.iter().copied(), want))
            .fold(0.0, f64::max);
        println!(
            "LSTM {units} units masked={masked}: max |diff| output {d_out:.2e} (inference {d_inf:.2e}), dX {d_dx:.2e}, weights {d_w:.2e}"
        );
        assert!(d_out < 1e-5, "output differs by {d_out}");
        assert!(d_dx < 1e-4, "dX differs by {d_dx}");
        assert!(d_w < 1e-4, "weight gradients differ by {d_w}");
    }
}

#[test]
fn gru_matches_the_scalar_f64_reference() {
    let mut rng = SeededRng::new(12);
    for masked in [false, true] {
        let mut layer = GRU::new(UNITS);
        build(&mut layer, &mut rng);
        let x = random(BATCH * STEPS * FEATURES, &mut rng, 1.5);
        let mask = if masked {
            step_mask()
        } else {
            Array2::from_elem((BATCH, STEPS), true)
        };
        let out = run(&mut layer, &x, masked.then_some(&mask), true);
        let want = gru_reference(&weights(&layer), &x, &mask);
        let d = max_abs_diff(out.iter().copied(), &want);
        println!("GRU masked={masked}: max |diff| output {d:.2e}");
        assert!(d < 1e-5, "output differs by {d}");
    }
}

/// Inference on one sequence (which projects its inputs many steps ahead) gives the
/// same bits as the same sequence inside a full block of 16 (per-step products), over
/// more steps than one projection window, masked and unmasked.
/// A single sequence takes its own path (each row's input projection ahead of the
/// steps, one-row products); the output equals the batched path bit for bit.
#[test]
fn lstm_single_sequence_inference_matches_the_batched_path() {
    for (units, seq) in [(UNITS, false), (71, false), (71, true), (128, false)] {
        single_sequence_matches_batch(units, seq);
    }
}

fn single_sequence_matches_batch(units: usize, seq: bool) {
    let (batch, steps, features) = (17, 150, FEATURES);
    let mut rng = SeededRng::new(21);
    let mut layer = LSTM::new(units).return_sequences(seq);
    layer
        .build(&[Some(steps), Some(features)], &mut SeededRng::new(3))
        .unwrap();
    for p in layer.params_mut() {
        let n = p.value.len();
        p.value = ArrayD::from_shape_vec(p.value.raw_dim(), random(n, &mut rng, 0.5)).unwrap();
    }
    let x = random(batch * steps * features, &mut rng, 1.5);
    let mask = Array2::from_shape_fn((batch, steps), |(b, t)| t >= (b * 13) % steps);
    for masked in [false, true] {
        let infer = |layer: &mut LSTM, rows: std::ops::Range<usize>| {
            let n = rows.len();
            let xs = &x[rows.start * steps * features..rows.end * steps * features];
            let xs = ArrayD::from_shape_vec(IxDyn(&[n, steps, features]), xs.to_vec()).unwrap();
            let m = mask.slice(ndarray::s![rows, ..]).to_owned();
            let mut r = SeededRng::new(0);
            let mut ctx = ForwardContext::new(false, &mut r).with_mask(masked.then_some(&m));
            layer
                .forward(LayerInput::Floats(xs.view()), &mut ctx)
                .unwrap()
        };
        let all = infer(&mut layer, 0..batch);
        for b in [0, 5, 16] {
            let one = infer(&mut layer, b..b + 1);
            let row = all.slice_axis(ndarray::Axis(0), (b..b + 1).into());
            assert!(
                one.iter()
                    .zip(row.iter())
                    .all(|(p, q)| p.to_bits() == q.to_bits()),
                "sample {b} ({units} units, sequences {seq}, masked {masked}) differs alone and \
                 in a batch"
            );
        }
    }
}
