//! The LSTM's row loops for training (`Plan::Rows` and `Plan::GateDropout`): each block
//! of `CHUNK_ROWS` samples runs its whole time loop on one thread, row by row, with
//! the step mask (masked rows keep h and c) and Keras's per-gate recurrent dropout.

use ndarray::ArrayD;
use rayon::prelude::*;

use super::cache::Cache;
use crate::error::Result;
use crate::kernels::fast_math as fm;
use crate::kernels::packed_gemm::{self, PackedB};
use crate::kernels::{
    MatMut, MatRef, lstm_backward_row, lstm_forward_row, lstm_forward_rows, matmul,
};
use crate::layers::Param;
use crate::layers::gate_dropout as gd;
use crate::layers::recurrent::{self as rec, BlockMasks, CHUNK_ROWS};

/// Below this many units the inference gate pass runs over all rows of a step at once
/// (`lstm_forward_rows`): per-gate segments shorter than a vector register.
pub(super) const ROWS_GATE_PASS_UNITS: usize = 16;

/// The whole time loop for one block of samples. Per step: one recurrent product of
/// the active rows' states (gathered contiguous, so the product never walks the
/// (rows, steps, 4u) buffer with its large row stride), added onto the precomputed
/// input projection in the fused gate pass. Rows whose step is masked do no work and
/// keep their previous h and c.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn chunk_forward(
    gates: &mut [f32],
    cs: &mut [f32],
    tanh_c: &mut [f32],
    hs: &mut [f32],
    token_rows: Option<(&[u32], &[f32])>,
    (recurrent, packed_u): (&[f32], &PackedB),
    masks: BlockMasks<'_>,
    steps: usize,
    u: usize,
    zeros: &[f32],
) {
    let w = 4 * u;
    let rows = hs.len() / (steps * u);
    if !masks.recurrent.is_empty() {
        return chunk_forward_rdropout(gates, cs, tanh_c, hs, recurrent, masks, steps, u, zeros);
    }
    let mut gathered = Vec::new();
    let mut product = vec![0.0f32; rows * w];
    let mut active = Vec::with_capacity(rows);
    // A pre-padded row's masked steps before its first real one hold the zero initial
    // state: one fill per row instead of a copy per step.
    let first_real = rec::first_real_steps(&masks, rows, steps);
    for (j, &first) in first_real.iter().enumerate() {
        let prefix = j * steps * u..(j * steps + first) * u;
        cs[prefix.clone()].fill(0.0);
        hs[prefix].fill(0.0);
    }
    for t in 0..steps {
        let all = rec::active_rows(&masks, rows, t, steps, &mut active);
        let n = active.len();
        // The initial state is zero, so step 0 has no recurrent term.
        // hs at t - 1 holds every row's latest state: its own, carried over masked
        // steps, or the zero initial state before its first real step.
        if t > 0 && n > 0 {
            let (h_prev, su) = (&hs[(t - 1) * u..], steps * u);
            // Active rows 0..n (a longest-first batch, `batch_order`) are read in place.
            let (left, lda) = if all || rec::is_prefix(&active) {
                (h_prev, su)
            } else {
                rec::gather_rows(h_prev, u, su, &active, &mut gathered);
                (&gathered[..], u)
            };
            packed_gemm::gemm(left, lda, packed_u, &mut product, w, n, false);
        }
        for (k, &j) in active.iter().enumerate() {
            let at = j * steps + t;
            let z = &mut gates[at * w..(at + 1) * w];
            // The input projection is in z, or (token rows) read from its token's row
            // here: the same sum in one pass instead of a copy first.
            let projected = token_rows.map(|(slot, table)| {
                let s = slot[at] as usize;
                &table[s * w..(s + 1) * w]
            });
            match (projected, t > 0) {
                (None, true) => z
                    .iter_mut()
                    .zip(&product[k * w..(k + 1) * w])
                    .for_each(|(a, b)| *a += b),
                (None, false) => {}
                (Some(p), true) => z
                    .iter_mut()
                    .zip(p.iter().zip(&product[k * w..(k + 1) * w]))
                    .for_each(|(a, (p, b))| *a = p + b),
                (Some(p), false) => z.copy_from_slice(p),
            }
            let (done, now) = cs[j * steps * u..(j + 1) * steps * u].split_at_mut(t * u);
            let c_prev = if t == 0 { zeros } else { &done[(t - 1) * u..] };
            let h = &mut hs[at * u..(at + 1) * u];
            let tc = &mut tanh_c[at * u..(at + 1) * u];
            if u < ROWS_GATE_PASS_UNITS {
                // Gate segments shorter than a vector: one activation pass over the
                // whole row (`lstm_forward_rows` on one row, same bits), c updated in
                // place from c_{t-1}.
                now[..u].copy_from_slice(&c_prev[..u]);
                lstm_forward_rows(z, &mut now[..u], tc, h, u);
            } else {
                lstm_forward_row(z, c_prev, &mut now[..u], tc, h);
            }
        }
        if !all {
            for (j, &first) in first_real.iter().enumerate() {
                if t > first && masks.skips(j, t, steps) {
                    rec::carry_state(cs, j, t, steps, u);
                    rec::carry_state(hs, j, t, steps, u);
                }
            }
        }
    }
}

/// `chunk_forward` with Keras's per-gate recurrent dropout masks (a product per gate).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn chunk_forward_rdropout(
    gates: &mut [f32],
    cs: &mut [f32],
    tanh_c: &mut [f32],
    hs: &mut [f32],
    recurrent: &[f32],
    masks: BlockMasks<'_>,
    steps: usize,
    u: usize,
    zeros: &[f32],
) {
    let w = 4 * u;
    let rows = hs.len() / (steps * u);
    let rmasks = masks.recurrent;
    let mut scratch = vec![0.0f32; rows * u];
    for t in 0..steps {
        if t > 0 {
            let (h, su, sw) = (&hs[(t - 1) * u..], steps * u, steps * w);
            let out = &mut gates[t * w..];
            let (r0, sc) = (masks.row0, &mut scratch);
            gd::recurrent_product(h, su, rows, u, rmasks, r0, recurrent, w, 1.0, out, sw, sc);
        }
        for j in 0..rows {
            let at = j * steps + t;
            let (done, now) = cs[j * steps * u..(j + 1) * steps * u].split_at_mut(t * u);
            let c_prev = if t == 0 { zeros } else { &done[(t - 1) * u..] };
            lstm_forward_row(
                &mut gates[at * w..(at + 1) * w],
                c_prev,
                &mut now[..u],
                &mut tanh_c[at * u..(at + 1) * u],
                &mut hs[at * u..(at + 1) * u],
            );
            if masks.skips(j, t, steps) {
                rec::carry_state(cs, j, t, steps, u);
                rec::carry_state(hs, j, t, steps, u);
            }
        }
    }
}

/// Backward through time for one block of samples: per step the fused gate gradients
/// of the active rows (also gathered contiguous), then dh_{t-1} = dGates_t · U^T as one
/// product. Masked steps pass dh and dc through.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn chunk_backward(
    dgates: &mut [f32],
    gates: &[f32],
    cs: &[f32],
    tanh_c: &[f32],
    dy: &[f32],
    recurrent: &[f32],
    masks: BlockMasks<'_>,
    steps: usize,
    u: usize,
    return_sequences: bool,
    zeros: &[f32],
) {
    let w = 4 * u;
    let rows = cs.len() / (steps * u);
    let rmasks = masks.recurrent;
    let mut scratch = vec![0.0f32; if rmasks.is_empty() { 0 } else { rows * u }];
    let mut dh = vec![0.0f32; rows * u];
    let mut dh_new = vec![0.0f32; rows * u];
    let mut dc = vec![0.0f32; rows * u];
    let mut dz = vec![0.0f32; if rmasks.is_empty() { rows * w } else { 0 }];
    let mut active = Vec::with_capacity(rows);
    for t in (0..steps).rev() {
        let all = rec::active_rows(&masks, rows, t, steps, &mut active);
        for j in 0..rows {
            let dhj = &mut dh[j * u..(j + 1) * u];
            if let Some(d) = rec::output_grad_at(dy, j, t, steps, u, return_sequences) {
                dhj.iter_mut().zip(d).for_each(|(a, b)| *a += b);
            }
        }
        if !all {
            for j in 0..rows {
                if masks.skips(j, t, steps) {
                    let at = j * steps + t;
                    dgates[at * w..(at + 1) * w].fill(0.0);
                }
            }
        }
        for (k, &j) in active.iter().enumerate() {
            let at = j * steps + t;
            let c_prev = if t == 0 {
                zeros
            } else {
                &cs[(at - 1) * u..at * u]
            };
            let dzj = &mut dgates[at * w..(at + 1) * w];
            lstm_backward_row(
                &gates[at * w..(at + 1) * w],
                c_prev,
                &tanh_c[at * u..(at + 1) * u],
                &dh[j * u..(j + 1) * u],
                &mut dc[j * u..(j + 1) * u],
                dzj,
            );
            fm::flush_tiny(dzj);
            fm::flush_tiny(&mut dc[j * u..(j + 1) * u]);
            if rmasks.is_empty() {
                dz[k * w..(k + 1) * w].copy_from_slice(dzj);
            }
        }
        if t == 0 {
            break;
        }
        if rmasks.is_empty() {
            let n = active.len();
            if n == 0 {
                continue;
            }
            matmul(
                MatRef::new(&dz[..n * w], n, w),
                MatRef::new(recurrent, u, w).t(),
                0.0,
                MatMut::new(&mut dh_new[..n * u], n, u),
            );
            fm::flush_tiny(&mut dh_new[..n * u]);
            // Active rows take the new gradient; masked rows keep theirs.
            for (k, &j) in active.iter().enumerate() {
                let (src, dst) = (k * u, j * u);
                let row: &[f32] = &dh_new[src..src + u];
                dh[dst..dst + u].copy_from_slice(row);
            }
        } else {
            dh_new.fill(0.0);
            let (dg, sw, r0) = (&dgates[t * w..], steps * w, masks.row0);
            let (out, sc) = (&mut dh_new, &mut scratch);
            gd::recurrent_product_grad(dg, sw, rows, u, rmasks, r0, recurrent, w, out, sc);
            fm::flush_tiny(out);
            rec::merge_state_grad(&mut dh, &mut dh_new, &masks, t, steps, u);
        }
    }
}

/// Backward of `Plan::GateDropout`: the row loops back through time into a (batch,
/// steps, 4u) gate-gradient buffer, then per-gate weight products (Keras's masks differ
/// per gate). Writes the weight gradients into `params`; returns dX in run order.
pub(super) fn gate_dropout_backward(
    name: &str,
    params: &mut [Param],
    cache: &mut Cache,
    dy: &[f32],
    f: usize,
    u: usize,
    seq: bool,
) -> Result<ArrayD<f32>> {
    let w = 4 * u;
    let (batch, steps) = (cache.batch, cache.steps);
    let recurrent = rec::values(name, &params[1])?;
    cache.dgates.resize(batch * steps * w, 0.0);
    let rows_u = CHUNK_ROWS * steps * u;
    let dy_rows = if seq { rows_u } else { CHUNK_ROWS * u };
    let zeros = vec![0.0f32; u];
    let rmasks = &cache.gate_masks.recurrent;
    cache
        .dgates
        .par_chunks_mut(CHUNK_ROWS * steps * w)
        .zip(cache.gates.par_chunks(CHUNK_ROWS * steps * w))
        .zip(cache.cs.par_chunks(rows_u))
        .zip(cache.tanh_c.par_chunks(rows_u))
        .zip(dy.par_chunks(dy_rows))
        .enumerate()
        .for_each(|(ci, ((((dg, g), cs), tc), dy))| {
            let masks = BlockMasks::of_block(rmasks, &cache.step_mask, ci, steps);
            simd_chunk_backward(dg, g, cs, tc, dy, recurrent, masks, steps, u, seq, &zeros)
        });
    let rows = batch * steps;
    let (gm, dg) = (&cache.gate_masks, &cache.dgates);
    let (x, mask, dims) = (&cache.x, cache.mask.as_deref(), (batch, steps, f, u));
    let states = (&cache.hs[..], &mut cache.hp);
    let (dx, rg, bg) = gd::input_grads_and_buffers(name, params, gm, x, mask, dg, states, dims)?;
    // Gate dropout always has per-gate recurrent masks.
    gd::recurrent_grad_per_gate(&cache.hp, steps, u, &gm.recurrent, dg, w, rg);
    if let Some(bg) = bg {
        rec::bias_grad(dg, rows, w, bg);
    }
    Ok(dx)
}

// The time loops above, each compiled for the CPU's widest vectors (see `simd_fn!`).
crate::simd_fn! {
    pub(super) fn simd_chunk_forward(
        gates: &mut [f32],
        cs: &mut [f32],
        tanh_c: &mut [f32],
        hs: &mut [f32],
        token_rows: Option<(&[u32], &[f32])>,
        weights: (&[f32], &PackedB),
        masks: BlockMasks<'_>,
        steps: usize,
        u: usize,
        zeros: &[f32],
    ) {
        chunk_forward(gates, cs, tanh_c, hs, token_rows, weights, masks, steps, u, zeros)
    }
}

crate::simd_fn! {
    pub(super) fn simd_chunk_backward(
        dgates: &mut [f32],
        gates: &[f32],
        cs: &[f32],
        tanh_c: &[f32],
        dy: &[f32],
        recurrent: &[f32],
        masks: BlockMasks<'_>,
        steps: usize,
        u: usize,
        seq: bool,
        zeros: &[f32],
    ) {
        chunk_backward(dgates, gates, cs, tanh_c, dy, recurrent, masks, steps, u, seq, zeros)
    }
}
