//! Fused LSTM gate pass for one sample and one time step (Keras gate order i, f, c, o).
//! The layer calls these once per batch row after the step's recurrent product, so the
//! gate activations, cell update and output happen in one pass over 4*units values.

use super::fast_math as fm;

/// Forward. `z` (4u) holds the pre-activations (input projection + bias + recurrent
/// product) and is overwritten with the activations (i, f, g, o). Writes the new cell
/// state `c`, `tanh(c)` (kept for backward) and the output `h`.
#[inline(always)]
pub fn lstm_forward_row(
    z: &mut [f32],
    c_prev: &[f32],
    c: &mut [f32],
    tanh_c: &mut [f32],
    h: &mut [f32],
) {
    let u = c.len();
    let (c_prev, tanh_c, h) = (&c_prev[..u], &mut tanh_c[..u], &mut h[..u]);
    // Whole-segment passes so that the fast activations vectorise; i and f are
    // adjacent, so one pass covers both.
    let (zif, rest) = z[..4 * u].split_at_mut(2 * u);
    let (zg, zo) = rest.split_at_mut(u);
    fm::sigmoid_slice(zif);
    fm::tanh_slice(zg);
    fm::sigmoid_slice(zo);
    let (zi, zf) = zif.split_at(u);
    for j in 0..u {
        c[j] = zf[j] * c_prev[j] + zi[j] * zg[j];
    }
    for j in 0..u {
        tanh_c[j] = fm::tanh(c[j]);
    }
    for j in 0..u {
        h[j] = zo[j] * tanh_c[j];
    }
}

/// Backward. `gates` are the activations (i, f, g, o) saved by forward, `dh` is dL/dh_t
/// (from the output and the next step), `dc` enters as dL/dc_t from the next step and
/// leaves as dL/dc_{t-1}. Writes dL/d(pre-activations) into `dz` (4u).
#[inline(always)]
pub fn lstm_backward_row(
    gates: &[f32],
    c_prev: &[f32],
    tanh_c: &[f32],
    dh: &[f32],
    dc: &mut [f32],
    dz: &mut [f32],
) {
    let u = dc.len();
    let (gi, rest) = gates[..4 * u].split_at(u);
    let (gf, rest) = rest.split_at(u);
    let (gg, go) = rest.split_at(u);
    let (di, rest) = dz[..4 * u].split_at_mut(u);
    let (df, rest) = rest.split_at_mut(u);
    let (dg, d_o) = rest.split_at_mut(u);
    let (c_prev, tanh_c, dh) = (&c_prev[..u], &tanh_c[..u], &dh[..u]);
    for j in 0..u {
        let (i, f, g, o, tc) = (gi[j], gf[j], gg[j], go[j], tanh_c[j]);
        let dct = dc[j] + dh[j] * o * (1.0 - tc * tc);
        di[j] = dct * g * i * (1.0 - i);
        df[j] = dct * c_prev[j] * f * (1.0 - f);
        dg[j] = dct * i * (1.0 - g * g);
        d_o[j] = dh[j] * tc * o * (1.0 - o);
        dc[j] = dct * f;
    }
}
