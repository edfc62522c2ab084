//! The LSTM's reference loop: the plainest masked forward and backpropagation through
//! time, a whole batch per step as matrix products, which every plan's loops must
//! equal (tests/cell_reference.rs; to f32 reassociation, the fast paths sum in other
//! orders and use fast activations). Per step t, with X_t (batch, features), H_{t-1},
//! C_{t-1} (batch, u) and W (features, 4u), U (u, 4u), b (4u), gates i, f, g, o:
//!
//! ```text
//! Z = X_t·W + H_{t-1}·U + b;  i, f, o = σ(Z_i, Z_f, Z_o);  g = tanh(Z_g)
//! C_t = f⊙C_{t-1} + i⊙g;  H_t = o⊙tanh(C_t)       (a masked row keeps H, C)
//! ```
//!
//! Backward, from dH (the output's gradient plus what step t+1 passed back) and dC:
//!
//! ```text
//! dC += dH⊙o⊙(1 − tanh²C_t)
//! dZ = [dC⊙g⊙i(1−i), dC⊙C_{t-1}⊙f(1−f), dC⊙i⊙(1−g²), dH⊙tanh(C_t)⊙o(1−o)]   (0 if masked)
//! dW += X_tᵀ·dZ;  dU += H_{t-1}ᵀ·dZ;  db += Σ_rows dZ;  dX_t = dZ·Wᵀ
//! dH_{t-1} = dZ·Uᵀ;  dC_{t-1} = dC⊙f                (a masked row passes dH, dC on)
//! ```

use ndarray::{Array2, Array3, Axis, s};

use crate::layers::rnn::{ReferenceInput, ReferenceRun, carry, initial_state};

fn sigmoid(z: ndarray::ArrayView2<'_, f32>) -> Array2<f32> {
    z.mapv(|v| 1.0 / (1.0 + (-v).exp()))
}

/// What the forward keeps of step t for the backward.
struct Step {
    real: Array2<f32>,
    h_prev: Array2<f32>,
    c_prev: Array2<f32>,
    gates: [Array2<f32>; 4],
    tanh_c: Array2<f32>,
}

/// The reference forward and backward through time (see the module doc), from zero
/// states.
pub fn run(input: ReferenceInput<'_>) -> ReferenceRun {
    run_from(input, &[])
}

/// `run` from the states [h0, c0] (each (batch, units); empty: zeros), as a stateful
/// layer runs a batch. The output of a step before a sample's first real one is zeros
/// (Keras), whatever h0 is; no gradient flows into h0, c0 (truncated BPTT).
pub fn run_from(input: ReferenceInput<'_>, initial: &[Array2<f32>]) -> ReferenceRun {
    let (w, uw) = (input.matrix(0), input.matrix(1));
    let u = uw.nrows();
    let b = input.bias_rows(1, 4 * u);
    let (batch, steps, features) = input.x.dim();
    let (mut h, mut c) = (
        initial_state(initial, 0, (batch, u)),
        initial_state(initial, 1, (batch, u)),
    );
    let mut out = Array2::zeros((batch, u));
    let mut hs = Array3::zeros((batch, steps, u));
    let mut tape = Vec::with_capacity(steps);
    for t in 0..steps {
        let z = input.x.index_axis(Axis(1), t).dot(&w) + h.dot(&uw) + &b;
        let gate = |k: usize| z.slice(s![.., k * u..(k + 1) * u]);
        let [i, f, g, o] = [
            sigmoid(gate(0)),
            sigmoid(gate(1)),
            gate(2).mapv(f32::tanh),
            sigmoid(gate(3)),
        ];
        let c_new = &f * &c + &i * &g;
        let tanh_c = c_new.mapv(f32::tanh);
        let real = input.real(t);
        let (h_prev, c_prev) = (h.clone(), c.clone());
        h = carry(&real, &(&o * &tanh_c), &h);
        c = carry(&real, &c_new, &c);
        out = carry(&real, &h, &out);
        hs.index_axis_mut(Axis(1), t).assign(&out);
        tape.push(Step {
            real,
            h_prev,
            c_prev,
            gates: [i, f, g, o],
            tanh_c,
        });
    }
    let (mut dw, mut du) = (Array2::zeros((features, 4 * u)), Array2::zeros((u, 4 * u)));
    let mut db = Array2::zeros((1, 4 * u));
    let mut dx = Array3::zeros((batch, steps, features));
    let (mut dh, mut dc) = (
        Array2::<f32>::zeros((batch, u)),
        Array2::<f32>::zeros((batch, u)),
    );
    for (t, st) in tape.iter().enumerate().rev() {
        dh += &input.dh.index_axis(Axis(1), t);
        let [i, f, g, o] = &st.gates;
        let dc_t = &dc + &(&dh * o * &st.tanh_c.mapv(|v| 1.0 - v * v));
        let mut dz = Array2::zeros((batch, 4 * u));
        dz.slice_mut(s![.., 0..u])
            .assign(&(&dc_t * g * &i.mapv(|v| v * (1.0 - v))));
        dz.slice_mut(s![.., u..2 * u])
            .assign(&(&dc_t * &st.c_prev * &f.mapv(|v| v * (1.0 - v))));
        dz.slice_mut(s![.., 2 * u..3 * u])
            .assign(&(&dc_t * i * &g.mapv(|v| 1.0 - v * v)));
        dz.slice_mut(s![.., 3 * u..])
            .assign(&(&dh * &st.tanh_c * &o.mapv(|v| v * (1.0 - v))));
        dz *= &st.real;
        let xt = input.x.index_axis(Axis(1), t);
        dw += &xt.t().dot(&dz);
        du += &st.h_prev.t().dot(&dz);
        db += &dz.sum_axis(Axis(0));
        dx.index_axis_mut(Axis(1), t).assign(&dz.dot(&w.t()));
        dh = carry(&st.real, &dz.dot(&uw.t()), &dh);
        dc = carry(&st.real, &(&dc_t * f), &dc);
    }
    let weights = input.weight_grads(vec![dw, du, db]);
    ReferenceRun {
        hs,
        dx,
        weights,
        states: vec![h, c],
    }
}
