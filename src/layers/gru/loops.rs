//! The GRU's time loops, for a block of `CHUNK_ROWS` samples on one thread: forward and
//! backward, one pair per `reset_after` value; the step mask (masked rows keep h) and
//! Keras's per-gate recurrent dropout masks are handled row by row inside them.

use crate::kernels::fast_math as fm;
use crate::kernels::small_gemm;
use crate::kernels::{
    MatMut, MatRef, gru_backward_row, gru_forward_row, gru_reset_before_backward_output_row,
    gru_reset_before_backward_reset_row, gru_reset_before_gates_row, gru_reset_before_output_row,
    matmul,
};
use crate::layers::gate_dropout as gd;
use crate::layers::recurrent as rec;

/// What every block of samples shares in one pass.
pub(super) struct Chunk<'a> {
    pub(super) steps: usize,
    pub(super) u: usize,
    pub(super) recurrent: &'a [f32],
    /// U^T (3u x u) for the backward's per-step product (empty in forward).
    pub(super) recurrent_t: &'a [f32],
    /// At least 3u zeros: the initial state and absent biases.
    pub(super) zeros: &'a [f32],
    /// Per-gate recurrent dropout masks (batch, u) each, or none.
    pub(super) rmasks: &'a [Vec<f32>],
    /// First sample of this block, to index the masks.
    pub(super) row0: usize,
    /// This block's step mask (rows, steps); empty = no masking.
    pub(super) step_mask: &'a [bool],
}

impl Chunk<'_> {
    /// Row `j` skips step `t`: its state carries over (Keras masking).
    fn skips(&self, j: usize, t: usize) -> bool {
        !self.step_mask.is_empty() && !self.step_mask[j * self.steps + t]
    }

    fn rows(&self, hs: &[f32]) -> usize {
        hs.len() / (self.steps * self.u)
    }

    /// Scratch for masked products (empty without recurrent dropout).
    fn scratch(&self, rows: usize) -> Vec<f32> {
        vec![
            0.0f32;
            if self.rmasks.is_empty() {
                0
            } else {
                rows * self.u
            }
        ]
    }

    /// h_{t-1} of sample-row `j` (zero at t = 0).
    fn h_prev<'b>(&'b self, hs: &'b [f32], j: usize, t: usize) -> &'b [f32] {
        let u = self.u;
        if t == 0 {
            &self.zeros[..u]
        } else {
            let at = j * self.steps + t - 1;
            &hs[at * u..(at + 1) * u]
        }
    }

    /// Per step: rec = h_{t-1} U (one product), then the fused gate pass.
    #[inline(always)]
    fn forward_reset_after(
        &self,
        gates: &mut [f32],
        hs: &mut [f32],
        rh: &mut [f32],
        rec_bias: &[f32],
    ) {
        let (steps, u, w) = (self.steps, self.u, 3 * self.u);
        let rows = self.rows(hs);
        let mut recv = vec![0.0f32; rows * w];
        let mut scratch = self.scratch(rows);
        // Latest state of every row, and the rows that compute each step: masked rows
        // do no work, and the product runs on the active rows' states gathered
        // contiguous.
        let mut h_now = vec![0.0f32; rows * u];
        let (mut gathered, mut active) = (Vec::new(), Vec::with_capacity(rows));
        let dense = self.rmasks.is_empty();
        for t in 0..steps {
            active.clear();
            active.extend((0..rows).filter(|&j| !self.skips(j, t)));
            let n = active.len();
            if t > 0 && dense && n > 0 {
                // Active rows 0..n (all, or a longest-first batch) are read in place.
                let left = if rec::is_prefix(&active) {
                    &h_now[..]
                } else {
                    rec::gather_rows(&h_now, u, u, &active, &mut gathered);
                    &gathered[..]
                };
                small_gemm::gemm(left, self.recurrent, &mut recv, n, u, w, false);
            } else if t > 0 && !dense {
                let (h, su) = (&hs[(t - 1) * u..], steps * u);
                let (m, r0, k) = (self.rmasks, self.row0, self.recurrent);
                gd::recurrent_product(h, su, rows, u, m, r0, k, w, 0.0, &mut recv, w, &mut scratch);
            }
            for (k, &j) in active.iter().enumerate() {
                let at = j * steps + t;
                let (done, now) = hs[j * steps * u..(j + 1) * steps * u].split_at_mut(t * u);
                let h_prev = if t == 0 {
                    &self.zeros[..u]
                } else {
                    &done[(t - 1) * u..]
                };
                let r = if dense { k } else { j };
                gru_forward_row(
                    &mut gates[at * w..(at + 1) * w],
                    &recv[r * w..(r + 1) * w],
                    rec_bias,
                    h_prev,
                    &mut rh[at * u..(at + 1) * u],
                    &mut now[..u],
                );
                h_now[j * u..(j + 1) * u].copy_from_slice(&now[..u]);
            }
            if n < rows {
                for j in (0..rows).filter(|&j| self.skips(j, t)) {
                    rec::carry_state(hs, j, t, steps, u);
                }
            }
        }
    }

    /// Per step: h_{t-1} U_{z,r}, gate pass, (r h_{t-1}) U_h, output pass.
    #[inline(always)]
    fn forward_reset_before(&self, gates: &mut [f32], hs: &mut [f32], rh: &mut [f32]) {
        let (steps, u, w) = (self.steps, self.u, 3 * self.u);
        let rows = self.rows(hs);
        let mut recv = vec![0.0f32; rows * 2 * u];
        let mut cand = vec![0.0f32; rows * u];
        let mut scratch = self.scratch(rows);
        for t in 0..steps {
            if t > 0 && self.rmasks.is_empty() {
                matmul(
                    MatRef::strided(&hs[(t - 1) * u..], rows, u, steps * u),
                    MatRef::strided(self.recurrent, u, 2 * u, w),
                    0.0,
                    MatMut::new(&mut recv, rows, 2 * u),
                );
            } else if t > 0 {
                let (h, su) = (&hs[(t - 1) * u..], steps * u);
                let (m, r0, k) = (&self.rmasks[..2], self.row0, self.recurrent);
                let out = &mut recv;
                gd::recurrent_product(h, su, rows, u, m, r0, k, w, 0.0, out, 2 * u, &mut scratch);
            }
            for j in 0..rows {
                let at = j * steps + t;
                gru_reset_before_gates_row(
                    &mut gates[at * w..(at + 1) * w],
                    &recv[j * 2 * u..(j + 1) * 2 * u],
                    self.h_prev(hs, j, t),
                    &mut rh[at * u..(at + 1) * u],
                );
                // The candidate's recurrent mask applies to r * h_{t-1}.
                if let Some(m) = self.rmasks.get(2) {
                    let m = &m[(self.row0 + j) * u..(self.row0 + j + 1) * u];
                    rh[at * u..(at + 1) * u]
                        .iter_mut()
                        .zip(m)
                        .for_each(|(v, k)| *v *= k);
                }
            }
            matmul(
                MatRef::strided(&rh[t * u..], rows, u, steps * u),
                MatRef::strided(&self.recurrent[2 * u..], u, u, w),
                0.0,
                MatMut::new(&mut cand, rows, u),
            );
            for j in 0..rows {
                let at = j * steps + t;
                let (done, now) = hs[j * steps * u..(j + 1) * steps * u].split_at_mut(t * u);
                let h_prev = if t == 0 {
                    &self.zeros[..u]
                } else {
                    &done[(t - 1) * u..]
                };
                gru_reset_before_output_row(
                    &mut gates[at * w..(at + 1) * w],
                    &cand[j * u..(j + 1) * u],
                    h_prev,
                    &mut now[..u],
                );
                if self.skips(j, t) {
                    rec::carry_state(hs, j, t, steps, u);
                }
            }
        }
    }

    /// dL/dh_t from the output added into the running gradient of each row.
    fn add_output_grad(&self, dh: &mut [f32], dy: &[f32], t: usize, seq: bool) {
        let u = self.u;
        for (j, dhj) in dh.chunks_mut(u).enumerate() {
            if let Some(d) = rec::output_grad_at(dy, j, t, self.steps, u, seq) {
                dhj.iter_mut().zip(d).for_each(|(a, b)| *a += b);
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn backward_reset_after(
        &self,
        dgates: &mut [f32],
        drec: &mut [f32],
        gates: &[f32],
        hs: &[f32],
        rh: &[f32],
        dy: &[f32],
        seq: bool,
    ) {
        let (steps, u, w) = (self.steps, self.u, 3 * self.u);
        let rows = self.rows(hs);
        let mut dh = vec![0.0f32; rows * u];
        let mut dh_prev = vec![0.0f32; rows * u];
        let mut scratch = self.scratch(rows);
        let (mut gathered, mut active) = (Vec::new(), Vec::with_capacity(rows));
        let mut product = vec![0.0f32; rows * u];
        let mut live = vec![true; rows];
        for t in (0..steps).rev() {
            self.add_output_grad(&mut dh, dy, t, seq);
            // A row whose dh is exactly zero has zero gate gradients and passes zero
            // back (the step is linear in dh): skip it. Flushing (fm::flush_tiny) makes
            // long sequences reach exact zeros. With no output gradients still to come,
            // an all-zero block is done: its earlier gradients are zero.
            for (j, l) in live.iter_mut().enumerate() {
                *l = fm::any_nonzero(&dh[j * u..(j + 1) * u]);
            }
            if !seq && !live.contains(&true) {
                for j in 0..rows {
                    let (first, end) = (j * steps * w, (j * steps + t + 1) * w);
                    dgates[first..end].fill(0.0);
                    drec[first..end].fill(0.0);
                }
                break;
            }
            for j in 0..rows {
                let at = j * steps + t;
                if self.skips(j, t) || !live[j] {
                    dgates[at * w..(at + 1) * w].fill(0.0);
                    drec[at * w..(at + 1) * w].fill(0.0);
                    dh_prev[j * u..(j + 1) * u].copy_from_slice(&dh[j * u..(j + 1) * u]);
                    continue;
                }
                gru_backward_row(
                    &gates[at * w..(at + 1) * w],
                    &rh[at * u..(at + 1) * u],
                    self.h_prev(hs, j, t),
                    &dh[j * u..(j + 1) * u],
                    &mut dgates[at * w..(at + 1) * w],
                    &mut drec[at * w..(at + 1) * w],
                    &mut dh_prev[j * u..(j + 1) * u],
                );
                fm::flush_tiny(&mut dgates[at * w..(at + 1) * w]);
                fm::flush_tiny(&mut drec[at * w..(at + 1) * w]);
            }
            if t > 0 && self.rmasks.is_empty() {
                // dh_{t-1} += dRec_t · U^T over the active rows (masked rows have
                // dRec = 0), gathered contiguous for the small product.
                gathered.clear();
                active.clear();
                for j in (0..rows).filter(|&j| live[j] && !self.skips(j, t)) {
                    let at = j * steps + t;
                    gathered.extend_from_slice(&drec[at * w..(at + 1) * w]);
                    active.push(j);
                }
                let n = active.len();
                small_gemm::gemm(&gathered, self.recurrent_t, &mut product, n, w, u, false);
                for (k, &j) in active.iter().enumerate() {
                    let (d, p) = (&mut dh_prev[j * u..(j + 1) * u], &product[k * u..]);
                    d.iter_mut().zip(p).for_each(|(a, b)| *a += b);
                }
            } else if t > 0 {
                let (dg, sw) = (&drec[t * w..], steps * w);
                let (m, r0, k) = (self.rmasks, self.row0, self.recurrent);
                let dhp = &mut dh_prev;
                gd::recurrent_product_grad(dg, sw, rows, u, m, r0, k, w, dhp, &mut scratch);
            }
            // Long sequences decay gradients towards subnormals (see fast_math).
            fm::flush_tiny(&mut dh_prev);
            std::mem::swap(&mut dh, &mut dh_prev);
        }
    }

    #[inline(always)]
    fn backward_reset_before(
        &self,
        dgates: &mut [f32],
        gates: &[f32],
        hs: &[f32],
        dy: &[f32],
        seq: bool,
    ) {
        let (steps, u, w) = (self.steps, self.u, 3 * self.u);
        let rows = self.rows(hs);
        let mut dh = vec![0.0f32; rows * u];
        let mut dh_prev = vec![0.0f32; rows * u];
        let mut dcand = vec![0.0f32; rows * u];
        let mut scratch = self.scratch(rows);
        for t in (0..steps).rev() {
            self.add_output_grad(&mut dh, dy, t, seq);
            for j in 0..rows {
                let at = j * steps + t;
                if self.skips(j, t) {
                    dgates[at * w..(at + 1) * w].fill(0.0);
                    dh_prev[j * u..(j + 1) * u].copy_from_slice(&dh[j * u..(j + 1) * u]);
                    continue;
                }
                gru_reset_before_backward_output_row(
                    &gates[at * w..(at + 1) * w],
                    self.h_prev(hs, j, t),
                    &dh[j * u..(j + 1) * u],
                    &mut dgates[at * w..(at + 1) * w],
                    &mut dh_prev[j * u..(j + 1) * u],
                );
            }
            // dL/d(r * h_{t-1}) = dCandidate · U_h^T.
            matmul(
                MatRef::strided(&dgates[t * w + 2 * u..], rows, u, steps * w),
                MatRef::strided(&self.recurrent[2 * u..], u, u, w).t(),
                0.0,
                MatMut::new(&mut dcand, rows, u),
            );
            if let Some(m) = self.rmasks.get(2) {
                let m = &m[self.row0 * u..(self.row0 + rows) * u];
                dcand.iter_mut().zip(m).for_each(|(v, k)| *v *= k);
            }
            for j in (0..rows).filter(|&j| !self.skips(j, t)) {
                let at = j * steps + t;
                gru_reset_before_backward_reset_row(
                    &gates[at * w..(at + 1) * w],
                    self.h_prev(hs, j, t),
                    &dcand[j * u..(j + 1) * u],
                    &mut dgates[at * w..(at + 1) * w],
                    &mut dh_prev[j * u..(j + 1) * u],
                );
                fm::flush_tiny(&mut dgates[at * w..(at + 1) * w]);
            }
            if t > 0 && self.rmasks.is_empty() {
                matmul(
                    MatRef::strided(&dgates[t * w..], rows, 2 * u, steps * w),
                    MatRef::strided(self.recurrent, u, 2 * u, w).t(),
                    1.0,
                    MatMut::new(&mut dh_prev, rows, u),
                );
            } else if t > 0 {
                let (dg, sw) = (&dgates[t * w..], steps * w);
                let (m, r0, k) = (&self.rmasks[..2], self.row0, self.recurrent);
                let dhp = &mut dh_prev;
                gd::recurrent_product_grad(dg, sw, rows, u, m, r0, k, w, dhp, &mut scratch);
            }
            // Long sequences decay gradients towards subnormals (see fast_math).
            fm::flush_tiny(&mut dh_prev);
            std::mem::swap(&mut dh, &mut dh_prev);
        }
    }
}

// The time loops of `Chunk`, each compiled for the CPU's widest vectors (see `simd_fn!`).
crate::simd_fn! {
    pub(super) fn simd_forward_reset_after(
        chunk: &Chunk<'_>,
        gates: &mut [f32],
        hs: &mut [f32],
        rh: &mut [f32],
        rec_bias: &[f32],
    ) {
        chunk.forward_reset_after(gates, hs, rh, rec_bias)
    }
}

crate::simd_fn! {
    pub(super) fn simd_forward_reset_before(chunk: &Chunk<'_>, gates: &mut [f32], hs: &mut [f32], rh: &mut [f32]) {
        chunk.forward_reset_before(gates, hs, rh)
    }
}

crate::simd_fn! {
    pub(super) fn simd_backward_reset_after(
        chunk: &Chunk<'_>,
        dgates: &mut [f32],
        drec: &mut [f32],
        gates: &[f32],
        hs: &[f32],
        rh: &[f32],
        dy: &[f32],
        seq: bool,
    ) {
        chunk.backward_reset_after(dgates, drec, gates, hs, rh, dy, seq)
    }
}

crate::simd_fn! {
    pub(super) fn simd_backward_reset_before(
        chunk: &Chunk<'_>,
        dgates: &mut [f32],
        gates: &[f32],
        hs: &[f32],
        dy: &[f32],
        seq: bool,
    ) {
        chunk.backward_reset_before(dgates, gates, hs, dy, seq)
    }
}
