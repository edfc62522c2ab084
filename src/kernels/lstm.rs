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

/// Forward for `n` rows at once: `z` (n, 4u) as in `lstm_forward_row`, `c` (n, u)
/// holds c_{t-1} and becomes c_t, `tanh_c` and `h` (n, u). Same bits as the row
/// version; faster for small layers, whose per-gate segments are shorter than a vector
/// register: the activations run over whole rows, tanh(c) over all rows at once.
#[inline(always)]
pub fn lstm_forward_rows(
    z: &mut [f32],
    c: &mut [f32],
    tanh_c: &mut [f32],
    h: &mut [f32],
    u: usize,
) {
    let w = 4 * u;
    for row in z.chunks_exact_mut(w) {
        for (q, x) in row.iter_mut().enumerate() {
            *x = fm::sigmoid_or_tanh(*x, q >= 2 * u && q < 3 * u);
        }
    }
    for (zr, cr) in z.chunks_exact(w).zip(c.chunks_exact_mut(u)) {
        let (zi, rest) = zr.split_at(u);
        let (zf, zg) = rest.split_at(u);
        for j in 0..u {
            cr[j] = zf[j] * cr[j] + zi[j] * zg[j];
        }
    }
    for (t, &cv) in tanh_c.iter_mut().zip(c.iter()) {
        *t = fm::tanh(cv);
    }
    for ((zr, tr), hr) in z
        .chunks_exact(w)
        .zip(tanh_c.chunks_exact(u))
        .zip(h.chunks_exact_mut(u))
    {
        let zo = &zr[3 * u..];
        for j in 0..u {
            hr[j] = zo[j] * tr[j];
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SeededRng;

    crate::simd_fn! {
        fn rows_pass(z: &mut [f32], c: &mut [f32], tanh_c: &mut [f32], h: &mut [f32], u: usize) {
            lstm_forward_rows(z, c, tanh_c, h, u)
        }
    }

    #[test]
    fn the_all_rows_pass_gives_the_bits_of_the_row_pass() {
        let mut rng = SeededRng::new(3);
        for u in [1usize, 3, 8, 15, 16, 33] {
            let n = 5;
            // Pre-activations wide enough to reach both tanh branches and saturation.
            let z: Vec<f32> = (0..n * 4 * u).map(|_| rng.uniform(-12.0, 12.0)).collect();
            let c0: Vec<f32> = (0..n * u).map(|_| rng.uniform(-3.0, 3.0)).collect();
            let (mut z_rows, mut c_rows) = (z.clone(), c0.clone());
            let (mut tanh_rows, mut h_rows) = (vec![0.0; n * u], vec![0.0; n * u]);
            rows_pass(&mut z_rows, &mut c_rows, &mut tanh_rows, &mut h_rows, u);
            for r in 0..n {
                let mut zr = z[r * 4 * u..(r + 1) * 4 * u].to_vec();
                let (mut c, mut t, mut h) = (vec![0.0; u], vec![0.0; u], vec![0.0; u]);
                lstm_forward_row(&mut zr, &c0[r * u..(r + 1) * u], &mut c, &mut t, &mut h);
                let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(
                    bits(&zr),
                    bits(&z_rows[r * 4 * u..(r + 1) * 4 * u]),
                    "gates u {u}"
                );
                assert_eq!(bits(&c), bits(&c_rows[r * u..(r + 1) * u]), "c u {u}");
                assert_eq!(bits(&h), bits(&h_rows[r * u..(r + 1) * u]), "h u {u}");
            }
        }
    }
}
