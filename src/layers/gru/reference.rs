//! The GRU's reference loop: the plainest masked forward and backpropagation through
//! time, a whole batch per step as matrix products, which the GRU's loops must equal
//! (tests/cell_reference.rs). Per step t, with W (features, 3u), U (u, 3u), gates z, r,
//! candidate h̃ and biases b (input side) and b' (recurrent side, `reset_after` only):
//!
//! ```text
//! z = σ(X_t W_z + H_{t-1} U_z + b_z + b'_z);  r = σ(X_t W_r + H_{t-1} U_r + b_r + b'_r)
//! reset_after:  h̃ = tanh(X_t W_h + b_h + r⊙(H_{t-1} U_h + b'_h))
//! reset_before: h̃ = tanh(X_t W_h + (r⊙H_{t-1}) U_h + b_h)
//! H_t = z⊙H_{t-1} + (1 − z)⊙h̃                      (a masked row keeps H)
//! ```
//!
//! Backward from dH, with dh̃ = dH⊙(1−z)⊙(1−h̃²) and dz = dH⊙(H_{t-1} − h̃)⊙z(1−z):
//!
//! ```text
//! reset_after:  dr = dh̃⊙(H_{t-1} U_h + b'_h)⊙r(1−r)
//!   dZ = [dz, dr, dh̃] (input side),  dZ' = [dz, dr, dh̃⊙r] (recurrent side)
//!   dW += X_tᵀ·dZ;  dU += H_{t-1}ᵀ·dZ';  db += Σ dZ;  db' += Σ dZ'
//!   dX_t = dZ·Wᵀ;  dH_{t-1} = dH⊙z + dZ'·Uᵀ
//! reset_before: d(r⊙H) = dh̃·U_hᵀ;  dr = d(r⊙H)⊙H_{t-1}⊙r(1−r);  dZ = [dz, dr, dh̃]
//!   dW += X_tᵀ·dZ;  dU_{z,r} += H_{t-1}ᵀ·dZ_{z,r};  dU_h += (r⊙H_{t-1})ᵀ·dh̃;  db += Σ dZ
//!   dX_t = dZ·Wᵀ;  dH_{t-1} = dH⊙z + dZ_{z,r}·U_{z,r}ᵀ + d(r⊙H)⊙r
//! ```
//! (masked rows: dZ = 0 and dH passes on.)

use ndarray::{Array2, Array3, Axis, s};

use crate::layers::rnn::{ReferenceInput, ReferenceRun, carry, initial_state};

fn sigmoid(z: ndarray::ArrayView2<'_, f32>) -> Array2<f32> {
    z.mapv(|v| 1.0 / (1.0 + (-v).exp()))
}

/// The reference forward and backward through time (see the module doc), from zero
/// states.
pub fn run(input: ReferenceInput<'_>, reset_after: bool) -> ReferenceRun {
    run_from(input, reset_after, &[])
}

/// `run` from the state [h0] ((batch, units); empty: zeros), as a stateful layer runs a
/// batch: outputs before a sample's first real step are zeros (Keras); no gradient
/// flows into h0.
pub fn run_from(
    input: ReferenceInput<'_>,
    reset_after: bool,
    initial: &[Array2<f32>],
) -> ReferenceRun {
    let (w, uw) = (input.matrix(0), input.matrix(1));
    let u = uw.nrows();
    let (uzr, uh) = (uw.slice(s![.., ..2 * u]), uw.slice(s![.., 2 * u..]));
    let bias = input.bias_rows(if reset_after { 2 } else { 1 }, 3 * u);
    let (b, b_rec) = (bias.row(0), bias.row(if reset_after { 1 } else { 0 }));
    let (batch, steps, features) = input.x.dim();
    let mut h = initial_state(initial, 0, (batch, u));
    let mut out = Array2::<f32>::zeros((batch, u));
    let mut hs = Array3::zeros((batch, steps, u));
    let (mut dw, mut du) = (Array2::zeros((features, 3 * u)), Array2::zeros((u, 3 * u)));
    let mut db = Array2::zeros(bias.raw_dim());
    let mut dx = Array3::zeros((batch, steps, features));
    let mut tape = Vec::with_capacity(steps);
    for t in 0..steps {
        let zx = input.x.index_axis(Axis(1), t).dot(&w) + b;
        let mut zr = zx.slice(s![.., ..2 * u]).to_owned() + h.dot(&uzr);
        if reset_after {
            zr += &b_rec.slice(s![..2 * u]);
        }
        let (z, r) = (
            sigmoid(zr.slice(s![.., ..u])),
            sigmoid(zr.slice(s![.., u..])),
        );
        let rec_h = if reset_after {
            h.dot(&uh) + b_rec.slice(s![2 * u..])
        } else {
            &r * &h
        };
        let pre = if reset_after {
            &r * &rec_h
        } else {
            rec_h.dot(&uh)
        };
        let cand = (&zx.slice(s![.., 2 * u..]) + &pre).mapv(f32::tanh);
        let real = input.real(t);
        let h_new = &z * &h + &((1.0 - &z) * &cand);
        tape.push((real.clone(), h.clone(), z, r, cand, rec_h));
        h = carry(&real, &h_new, &h);
        out = carry(&real, &h, &out);
        hs.index_axis_mut(Axis(1), t).assign(&out);
    }
    let mut dh = Array2::<f32>::zeros((batch, u));
    for (t, (real, h_prev, z, r, cand, rec_h)) in tape.iter().enumerate().rev() {
        dh += &input.dh.index_axis(Axis(1), t);
        let dcand = &dh * &(1.0 - z) * &cand.mapv(|v| 1.0 - v * v) * real;
        let dzp = &dh * &(h_prev - cand) * &z.mapv(|v| v * (1.0 - v)) * real;
        let mut dzx = Array2::zeros((batch, 3 * u));
        dzx.slice_mut(s![.., ..u]).assign(&dzp);
        dzx.slice_mut(s![.., 2 * u..]).assign(&dcand);
        let mut dh_prev = &dh * z;
        if reset_after {
            let dr = &dcand * rec_h * &r.mapv(|v| v * (1.0 - v));
            dzx.slice_mut(s![.., u..2 * u]).assign(&dr);
            let mut dzh = dzx.clone();
            dzh.slice_mut(s![.., 2 * u..]).assign(&(&dcand * r));
            du += &h_prev.t().dot(&dzh);
            let mut db_rec = db.row_mut(1);
            db_rec += &dzh.sum_axis(Axis(0));
            dh_prev += &dzh.dot(&uw.t());
        } else {
            let drh = dcand.dot(&uh.t());
            dzx.slice_mut(s![.., u..2 * u])
                .assign(&(&drh * h_prev * &r.mapv(|v| v * (1.0 - v))));
            let dzr = dzx.slice(s![.., ..2 * u]);
            du.slice_mut(s![.., ..2 * u])
                .scaled_add(1.0, &h_prev.t().dot(&dzr));
            du.slice_mut(s![.., 2 * u..])
                .scaled_add(1.0, &rec_h.t().dot(&dcand));
            dh_prev += &(dzr.dot(&uzr.t()) + &drh * r);
        }
        dw += &input.x.index_axis(Axis(1), t).t().dot(&dzx);
        let mut db_in = db.row_mut(0);
        db_in += &dzx.sum_axis(Axis(0));
        dx.index_axis_mut(Axis(1), t).assign(&dzx.dot(&w.t()));
        dh = carry(real, &dh_prev, &dh);
    }
    let weights = input.weight_grads(vec![dw, du, db]);
    ReferenceRun {
        hs,
        dx,
        weights,
        states: vec![h],
    }
}
