//! The SimpleRNN's reference loop: the plainest masked forward and backpropagation
//! through time, a whole batch per step as matrix products, which the SimpleRNN's loops
//! must equal (tests/cell_reference.rs). Per step t, with W (features, u), U (u, u),
//! b (u) and the layer's element-wise activation φ:
//!
//! ```text
//! H_t = φ(X_t·W + H_{t-1}·U + b)                     (a masked row keeps H)
//! dZ = dH⊙φ'(H_t)  (0 if masked);  dW += X_tᵀ·dZ;  dU += H_{t-1}ᵀ·dZ;  db += Σ dZ
//! dX_t = dZ·Wᵀ;  dH_{t-1} = dZ·Uᵀ                    (a masked row passes dH on)
//! ```

use ndarray::{Array2, Array3, Axis};

use crate::layers::Activation;
use crate::layers::rnn::{ReferenceInput, ReferenceRun, carry, initial_state};

/// The reference forward and backward through time (see the module doc), from zero
/// states.
pub fn run(input: ReferenceInput<'_>, activation: Activation) -> ReferenceRun {
    run_from(input, activation, &[])
}

/// `run` from the state [h0] ((batch, units); empty: zeros), as a stateful layer runs a
/// batch: outputs before a sample's first real step are zeros (Keras); no gradient
/// flows into h0.
pub fn run_from(
    input: ReferenceInput<'_>,
    activation: Activation,
    initial: &[Array2<f32>],
) -> ReferenceRun {
    let (w, uw) = (input.matrix(0), input.matrix(1));
    let u = uw.nrows();
    let b = input.bias_rows(1, u);
    let (batch, steps, features) = input.x.dim();
    let mut h = initial_state(initial, 0, (batch, u));
    let mut out = Array2::<f32>::zeros((batch, u));
    let mut hs = Array3::zeros((batch, steps, u));
    let mut tape = Vec::with_capacity(steps);
    for t in 0..steps {
        let mut z = (input.x.index_axis(Axis(1), t).dot(&w) + h.dot(&uw) + &b).into_dyn();
        activation.apply(&mut z);
        let h_new = z.into_dimensionality().expect("2-d");
        let real = input.real(t);
        tape.push((real.clone(), h.clone(), h_new.clone()));
        h = carry(&real, &h_new, &h);
        out = carry(&real, &h, &out);
        hs.index_axis_mut(Axis(1), t).assign(&out);
    }
    let (mut dw, mut du) = (Array2::zeros((features, u)), Array2::zeros((u, u)));
    let mut db = Array2::zeros((1, u));
    let mut dx = Array3::zeros((batch, steps, features));
    let mut dh = Array2::<f32>::zeros((batch, u));
    for (t, (real, h_prev, h_new)) in tape.iter().enumerate().rev() {
        dh += &input.dh.index_axis(Axis(1), t);
        let dz = activation.backward(&h_new.clone().into_dyn(), &dh.clone().into_dyn());
        let dz = dz.into_dimensionality::<ndarray::Ix2>().expect("2-d") * real;
        dw += &input.x.index_axis(Axis(1), t).t().dot(&dz);
        du += &h_prev.t().dot(&dz);
        db += &dz.sum_axis(Axis(0));
        dx.index_axis_mut(Axis(1), t).assign(&dz.dot(&w.t()));
        dh = carry(real, &dz.dot(&uw.t()), &dh);
    }
    let weights = input.weight_grads(vec![dw, du, db]);
    ReferenceRun {
        hs,
        dx,
        weights,
        states: vec![h],
    }
}
