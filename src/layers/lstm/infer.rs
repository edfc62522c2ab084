//! The LSTM's inference loop by blocks (`Plan::InferBlocks`): per block of `CHUNK_ROWS`
//! samples and per step, the input projection (or a folded embedding's projected
//! rows), the recurrent product of the active rows, the gate pass; only the current
//! step's h and c are kept.

use rayon::prelude::*;

use super::rows::ROWS_GATE_PASS_UNITS;
use crate::kernels::packed_gemm::{self, PackedB};
use crate::kernels::small_gemm;
use crate::kernels::{lstm_forward_row, lstm_forward_rows};
use crate::layers::recurrent::{self as rec, BlockMasks, CHUNK_ROWS};

/// Blocks with fewer rows than this project their inputs ahead, PROJECTION_STEPS
/// steps at a time (see `chunk_infer`).
pub(super) const FEW_ROWS: usize = 8;
pub(super) const PROJECTION_STEPS: usize = 64;
/// `infer` by blocks of CHUNK_ROWS samples, one thread per block.
pub(super) fn infer_in_blocks(
    inputs: StepInputs<'_>,
    step_mask: &[bool],
    batch: usize,
    steps: usize,
    (u, seq): (usize, bool),
    recurrent: &[f32],
) -> Vec<f32> {
    let out_rows = if seq {
        CHUNK_ROWS * steps * u
    } else {
        CHUNK_ROWS * u
    };
    let mut out = vec![0.0f32; batch * if seq { steps * u } else { u }];
    // U, and K for feature inputs, packed once for every block's per-step products;
    // a few sequences read them in place (packing would cost more than their steps).
    let (mut packed_u, mut packed_k) = (PackedB::new(), PackedB::new());
    let pack = batch >= FEW_ROWS;
    if pack {
        packed_u.pack(recurrent, 4 * u, u, 4 * u);
        if let StepInputs::Features { f, kernel, .. } = inputs {
            packed_k.pack(kernel, 4 * u, f, 4 * u);
        }
    }
    let packed = InferWeights {
        recurrent,
        packed_u: pack.then_some(&packed_u),
        packed_k: pack.then_some(&packed_k),
    };
    out.par_chunks_mut(out_rows)
        .enumerate()
        .for_each(|(ci, out)| {
            let masks = BlockMasks::of_block(&[], step_mask, ci, steps);
            let block = inputs.block(ci, steps);
            simd_chunk_infer(out, block, packed, masks, (steps, u, seq))
        });
    out
}

/// The recurrent kernel of `chunk_infer`, and U and K packed (when worth it).
#[derive(Clone, Copy)]
pub(super) struct InferWeights<'a> {
    recurrent: &'a [f32],
    packed_u: Option<&'a PackedB>,
    packed_k: Option<&'a PackedB>,
}

/// Where inference reads each step's input projection from.
#[derive(Clone, Copy)]
pub(super) enum StepInputs<'a> {
    /// Features (rows, steps, f), projected here: `x · kernel + bias`.
    Features {
        x: &'a [f32],
        f: usize,
        kernel: &'a [f32],
        bias: Option<&'a [f32]>,
    },
    /// Token ids (rows, steps) indexing projected rows (vocab, 4u) that include the bias.
    Tokens { ids: &'a [usize], table: &'a [f32] },
}

impl<'a> StepInputs<'a> {
    /// The part for block `ci` of `CHUNK_ROWS` samples.
    pub(super) fn block(self, ci: usize, steps: usize) -> Self {
        let part = |len: usize, per_row: usize| {
            let start = ci * CHUNK_ROWS * per_row;
            start..(start + CHUNK_ROWS * per_row).min(len)
        };
        match self {
            StepInputs::Features { x, f, kernel, bias } => StepInputs::Features {
                x: &x[part(x.len(), steps * f)],
                f,
                kernel,
                bias,
            },
            StepInputs::Tokens { ids, table } => StepInputs::Tokens {
                ids: &ids[part(ids.len(), steps)],
                table,
            },
        }
    }
}

#[inline(always)]
fn chunk_infer(
    out: &mut [f32],
    inputs: StepInputs<'_>,
    weights: InferWeights<'_>,
    masks: BlockMasks<'_>,
    (steps, u, seq): (usize, usize, bool),
) {
    let w = 4 * u;
    let rows = out.len() / if seq { steps * u } else { u };
    let mut h_now = vec![0.0f32; rows * u];
    let mut c_now = vec![0.0f32; rows * u];
    let mut z = vec![0.0f32; rows * w];
    let (mut xg, mut hg) = (Vec::new(), Vec::new());
    let (mut c_prev, mut tanh_c) = (vec![0.0f32; u], vec![0.0f32; u]);
    let mut tanh_rows = Vec::new();
    let mut active = Vec::with_capacity(rows);
    // With fewer rows than a product tile is high (a single sequence, say), a per-step
    // input product would stream the whole kernel through the cache for one or two
    // rows; instead each row's next PROJECTION_STEPS steps are projected in one product
    // (consecutive steps of one sample are contiguous rows of x).
    let few = rows < FEW_ROWS && matches!(inputs, StepInputs::Features { .. });
    let mut zx = vec![0.0f32; if few { rows * PROJECTION_STEPS * w } else { 0 }];
    for t in 0..steps {
        let all = rec::active_rows(&masks, rows, t, steps, &mut active);
        let n = active.len();
        project_step(
            inputs,
            weights,
            few,
            &active,
            (t, steps, w),
            (&mut z, &mut zx, &mut xg),
        );
        if n > 0 && t > 0 {
            let left = if all || rec::is_prefix(&active) {
                &h_now[..]
            } else {
                rec::gather_rows(&h_now, u, u, &active, &mut hg);
                &hg[..]
            };
            match weights.packed_u {
                Some(p) => packed_gemm::gemm(left, u, p, &mut z, w, n, true),
                None => small_gemm::gemm(left, weights.recurrent, &mut z, n, u, w, true),
            }
        }
        if all && u < ROWS_GATE_PASS_UNITS {
            tanh_rows.resize(rows * u, 0.0);
            lstm_forward_rows(&mut z, &mut c_now, &mut tanh_rows, &mut h_now, u);
        } else {
            for (k, &j) in active.iter().enumerate() {
                let r = j * u..(j + 1) * u;
                c_prev.copy_from_slice(&c_now[r.clone()]);
                let zk = &mut z[k * w..(k + 1) * w];
                lstm_forward_row(
                    zk,
                    &c_prev,
                    &mut c_now[r.clone()],
                    &mut tanh_c,
                    &mut h_now[r],
                );
            }
        }
        if seq {
            // Masked rows repeat their state (zero before their first real step).
            for j in 0..rows {
                let at = (j * steps + t) * u;
                out[at..at + u].copy_from_slice(&h_now[j * u..(j + 1) * u]);
            }
        }
    }
    if !seq {
        out.copy_from_slice(&h_now);
    }
}

/// Step t's input projections of the `active` rows into `z` (rows in order): read
/// from `zx` (few rows: projected PROJECTION_STEPS steps ahead, refilled here), one
/// product on x (gathered into `xg` unless the active rows are a prefix), or the folded
/// token rows.
#[inline(always)]
fn project_step(
    inputs: StepInputs<'_>,
    weights: InferWeights<'_>,
    few: bool,
    active: &[usize],
    (t, steps, w): (usize, usize, usize),
    (z, zx, xg): (&mut [f32], &mut [f32], &mut Vec<f32>),
) {
    let n = active.len();
    match inputs {
        StepInputs::Features { x, f, kernel, bias } if few => {
            if t % PROJECTION_STEPS == 0 {
                let len = PROJECTION_STEPS.min(steps - t);
                for (j, zj) in zx.chunks_mut(PROJECTION_STEPS * w).enumerate() {
                    let xj = &x[(j * steps + t) * f..(j * steps + t + len) * f];
                    match weights.packed_k {
                        Some(k) => packed_gemm::gemm_bias(xj, f, k, bias, zj, len),
                        None => small_gemm::gemm_bias(xj, kernel, bias, zj, len, f, w),
                    }
                }
            }
            let at = t % PROJECTION_STEPS;
            for (k, &j) in active.iter().enumerate() {
                let src = &zx[(j * PROJECTION_STEPS + at) * w..][..w];
                z[k * w..(k + 1) * w].copy_from_slice(src);
            }
        }
        StepInputs::Features { x, f, kernel, bias } => {
            // Active rows 0..n (all, or a longest-first batch) are read in place.
            let in_place = weights.packed_k.filter(|_| rec::is_prefix(active));
            if let (Some(k), true) = (in_place, n > 0) {
                packed_gemm::gemm_bias(&x[t * f..], steps * f, k, bias, z, n);
            } else if n > 0 {
                xg.clear();
                for &j in active {
                    xg.extend_from_slice(&x[(j * steps + t) * f..(j * steps + t + 1) * f]);
                }
                match weights.packed_k {
                    Some(k) => packed_gemm::gemm_bias(xg, f, k, bias, z, n),
                    None => small_gemm::gemm_bias(xg, kernel, bias, z, n, f, w),
                }
            }
        }
        StepInputs::Tokens { ids, table } => {
            for (k, &j) in active.iter().enumerate() {
                let id = ids[j * steps + t];
                z[k * w..(k + 1) * w].copy_from_slice(&table[id * w..(id + 1) * w]);
            }
        }
    }
}

// The time loop above, compiled for the CPU's widest vectors (see `simd_fn!`).
crate::simd_fn! {
    fn simd_chunk_infer(
        out: &mut [f32],
        inputs: StepInputs<'_>,
        weights: InferWeights<'_>,
        masks: BlockMasks<'_>,
        dims: (usize, usize, bool),
    ) {
        chunk_infer(out, inputs, weights, masks, dims)
    }
}
