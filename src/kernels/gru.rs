//! Fused GRU gate passes for one sample and one time step (Keras gate order z, r, h;
//! h_t = z * h_{t-1} + (1 - z) * candidate).
//!
//! `reset_after = true` (Keras default, cuDNN-compatible): one recurrent product per
//! step, candidate = tanh(x_h + r * (h_{t-1} U_h + b_hh)).
//! `reset_after = false`: candidate = tanh(x_h + (r * h_{t-1}) U_h), which needs a second
//! product per step between `gru_reset_before_gates_row` and `..._output_row`.

use super::fast_math::{sigmoid, tanh};

/// Forward, reset_after. `x` (3u) holds input projection + input bias and is
/// overwritten with the activations (z, r, candidate). `rec` (3u) is h_{t-1} U,
/// `rec_bias` (3u) the recurrent bias. Writes `rh` = h_{t-1} U_h + b_hh (kept for
/// backward) and the new state `h`.
#[inline(always)]
pub fn gru_forward_row(
    x: &mut [f32],
    rec: &[f32],
    rec_bias: &[f32],
    h_prev: &[f32],
    rh: &mut [f32],
    h: &mut [f32],
) {
    let u = h.len();
    let (xz, rest) = x[..3 * u].split_at_mut(u);
    let (xr, xh) = rest.split_at_mut(u);
    let (rz, rest) = rec[..3 * u].split_at(u);
    let (rr, rhh) = rest.split_at(u);
    let (bz, rest) = rec_bias[..3 * u].split_at(u);
    let (br, bh) = rest.split_at(u);
    let (h_prev, rh) = (&h_prev[..u], &mut rh[..u]);
    for j in 0..u {
        let z = sigmoid(xz[j] + rz[j] + bz[j]);
        let r = sigmoid(xr[j] + rr[j] + br[j]);
        let rec_h = rhh[j] + bh[j];
        let hh = tanh(xh[j] + r * rec_h);
        xz[j] = z;
        xr[j] = r;
        xh[j] = hh;
        rh[j] = rec_h;
        h[j] = z * h_prev[j] + (1.0 - z) * hh;
    }
}

/// Backward, reset_after. `gates` = (z, r, candidate), `rh` as saved by forward, `dh` =
/// dL/dh_t. Writes `dx` (3u) = dL/d(input-side pre-activations), `drec` (3u) =
/// dL/d(h_{t-1} U + b_hh), and `dh_prev` = the direct part z * dh (the caller adds
/// drec U^T).
#[inline(always)]
pub fn gru_backward_row(
    gates: &[f32],
    rh: &[f32],
    h_prev: &[f32],
    dh: &[f32],
    dx: &mut [f32],
    drec: &mut [f32],
    dh_prev: &mut [f32],
) {
    let u = dh.len();
    let (gz, rest) = gates[..3 * u].split_at(u);
    let (gr, gh) = rest.split_at(u);
    let (dxz, rest) = dx[..3 * u].split_at_mut(u);
    let (dxr, dxh) = rest.split_at_mut(u);
    let (drz, rest) = drec[..3 * u].split_at_mut(u);
    let (drr, drh) = rest.split_at_mut(u);
    let (rh, h_prev, dh_prev) = (&rh[..u], &h_prev[..u], &mut dh_prev[..u]);
    for j in 0..u {
        let (z, r, hh, d) = (gz[j], gr[j], gh[j], dh[j]);
        let dpre_h = d * (1.0 - z) * (1.0 - hh * hh);
        let dpre_z = d * (h_prev[j] - hh) * z * (1.0 - z);
        let dpre_r = dpre_h * rh[j] * r * (1.0 - r);
        dxz[j] = dpre_z;
        dxr[j] = dpre_r;
        dxh[j] = dpre_h;
        drz[j] = dpre_z;
        drr[j] = dpre_r;
        drh[j] = dpre_h * r;
        dh_prev[j] = d * z;
    }
}

/// Forward, reset_before, first half. `x` (3u) input projection + bias; its z and r
/// blocks become activations. `rec` (2u) = h_{t-1} U_{z,r}. Writes `rh_prev` = r * h_{t-1},
/// the left factor of the candidate's recurrent product.
#[inline(always)]
pub fn gru_reset_before_gates_row(x: &mut [f32], rec: &[f32], h_prev: &[f32], rh_prev: &mut [f32]) {
    let u = rh_prev.len();
    let (xz, rest) = x[..3 * u].split_at_mut(u);
    let xr = &mut rest[..u];
    let (rz, rr) = rec[..2 * u].split_at(u);
    let h_prev = &h_prev[..u];
    for j in 0..u {
        let z = sigmoid(xz[j] + rz[j]);
        let r = sigmoid(xr[j] + rr[j]);
        xz[j] = z;
        xr[j] = r;
        rh_prev[j] = r * h_prev[j];
    }
}

/// Forward, reset_before, second half. `cand` (u) = (r * h_{t-1}) U_h; the h block of
/// `x` becomes the candidate activation; writes the new state `h`.
#[inline(always)]
pub fn gru_reset_before_output_row(x: &mut [f32], cand: &[f32], h_prev: &[f32], h: &mut [f32]) {
    let u = h.len();
    let (gz, rest) = x[..3 * u].split_at_mut(u);
    let xh = &mut rest[u..2 * u];
    let (cand, h_prev) = (&cand[..u], &h_prev[..u]);
    for j in 0..u {
        let hh = tanh(xh[j] + cand[j]);
        xh[j] = hh;
        h[j] = gz[j] * h_prev[j] + (1.0 - gz[j]) * hh;
    }
}

/// Backward, reset_before, first half. Writes the z and h blocks of `dx` (3u) and
/// `dh_prev` = z * dh. The caller then computes `dcand` = dx_h U_h^T.
#[inline(always)]
pub fn gru_reset_before_backward_output_row(
    gates: &[f32],
    h_prev: &[f32],
    dh: &[f32],
    dx: &mut [f32],
    dh_prev: &mut [f32],
) {
    let u = dh.len();
    let (gz, rest) = gates[..3 * u].split_at(u);
    let gh = &rest[u..2 * u];
    let (dxz, rest) = dx[..3 * u].split_at_mut(u);
    let dxh = &mut rest[u..2 * u];
    let (h_prev, dh_prev) = (&h_prev[..u], &mut dh_prev[..u]);
    for j in 0..u {
        let (z, hh, d) = (gz[j], gh[j], dh[j]);
        dxz[j] = d * (h_prev[j] - hh) * z * (1.0 - z);
        dxh[j] = d * (1.0 - z) * (1.0 - hh * hh);
        dh_prev[j] = d * z;
    }
}

/// Backward, reset_before, second half. `dcand` (u) = dx_h U_h^T = dL/d(r * h_{t-1}).
/// Writes the r block of `dx` and adds r * dcand to `dh_prev`.
#[inline(always)]
pub fn gru_reset_before_backward_reset_row(
    gates: &[f32],
    h_prev: &[f32],
    dcand: &[f32],
    dx: &mut [f32],
    dh_prev: &mut [f32],
) {
    let u = dcand.len();
    let gr = &gates[u..2 * u];
    let dxr = &mut dx[u..2 * u];
    let (h_prev, dh_prev) = (&h_prev[..u], &mut dh_prev[..u]);
    for j in 0..u {
        let r = gr[j];
        dxr[j] = dcand[j] * h_prev[j] * r * (1.0 - r);
        dh_prev[j] += dcand[j] * r;
    }
}
