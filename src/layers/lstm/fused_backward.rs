//! The LSTM's fused backward (every plan without gate dropout): the gate gradients of a
//! block of samples are folded into its weight and input gradients every few steps,
//! while still in cache, by the row loop here or the step-major one.

use ndarray::ArrayD;
use rayon::prelude::*;

use super::cache::Cache;
use super::step_major;
use crate::kernels::fast_math as fm;
use crate::kernels::packed_gemm::{self, PackedB};
use crate::kernels::prefetch::prefetch;
use crate::kernels::small_gemm;
use crate::kernels::{MatMut, MatRef, lstm_backward_row, matmul};
use crate::layers::recurrent::{self as rec, BlockMasks};

/// Multiply-adds below which the folded kernel gradient's two halves run on one thread
/// (~30 us of work, about what waking another thread costs on a VM).
const JOIN_MIN_PRODUCT: usize = 1 << 20;

/// Rows (sample-steps) per weight-gradient product in the fused backward: large enough
/// for an efficient product, small enough to stay in cache.
pub(super) const GRAD_BLOCK_ROWS: usize = 512;

/// Backward without per-gate dropout masks: every block of samples runs its time loop
/// and, every few steps, folds the block's gate gradients into its own partial weight
/// gradients and its input gradient while they are still in cache (no (batch, steps,
/// 4u) gradient buffer). Partials are summed in block order, so the result does not
/// depend on the thread count. Returns dX (batch, steps, features) and the gradients.
pub(super) fn fused_backward(
    cache: &Cache,
    dy: &[f32],
    kernel: &[f32],
    recurrent: &[f32],
    f: usize,
    u: usize,
    seq: bool,
) -> (ArrayD<f32>, rec::WeightGrads) {
    let (batch, steps, w) = (cache.batch, cache.steps, 4 * u);
    let mut dx = vec![0.0f32; batch * steps * f];
    let block = cache.block_rows();
    let rows_u = block * steps * u;
    let dy_rows = if seq { rows_u } else { block * u };
    let zeros = vec![0.0f32; u];
    // Once per batch: U^T (4u x u), the right factor of every step's dh product
    // (packed for the row loops, plain for the step-major ones), and K^T (4u x f),
    // that of each gradient block's dX product.
    let (mut recurrent_t, mut packed_ut, mut packed_kt) =
        (Vec::new(), PackedB::new(), PackedB::new());
    if cache.step_major {
        small_gemm::transpose(recurrent, u, w, &mut recurrent_t);
    } else {
        packed_ut.pack_transposed(recurrent, w, w, u);
    }
    packed_kt.pack_transposed(kernel, w, w, f);
    // With token rows, the kernel gradient sums gate gradients per distinct token in
    // each block (a (distinct, 4u) buffer per block), then is one product: used while
    // those buffers hold fewer rows than the batch.
    let tokens = &cache.input_tokens.rows;
    let blocks = batch.div_ceil(block);
    let fold_kernel_grad = cache.input_tokens.folded && tokens.distinct * blocks <= batch * steps;
    let slots = |ci: usize| {
        fold_kernel_grad.then(|| (tokens.block_slots(ci, block * steps), tokens.distinct))
    };
    // Each block writes its samples' dX rows where they are in input order.
    let mut samples = cache.order.in_run_order(rec::samples_of(&mut dx, steps, f));
    let partials: Vec<rec::WeightGrads> = samples
        .par_chunks_mut(block)
        .zip(cache.gates.par_chunks(block * steps * w))
        .zip(cache.cs.par_chunks(rows_u))
        .zip(cache.tanh_c.par_chunks(rows_u))
        .zip(cache.hs.par_chunks(rows_u))
        .zip(cache.x.par_chunks(block * steps * f))
        .zip(dy.par_chunks(dy_rows))
        .enumerate()
        .map(|(ci, ((((((dx, g), cs), tc), hs), x), dy))| {
            let dx = rec::SampleRows {
                samples: dx,
                steps,
                features: f,
            };
            let state = ChunkState {
                gates: g,
                cs,
                tanh_c: tc,
                hs,
                x,
                slots: slots(ci),
            };
            let dims = (steps, u, f, seq);
            if cache.step_major {
                let kt = (&packed_kt, &recurrent_t[..]);
                return step_major::simd_chunk_backward(dx, state, dy, kt, dims, GRAD_BLOCK_ROWS);
            }
            let masks = BlockMasks::of_block(&[], &cache.step_mask, ci, steps);
            let kt = (&packed_kt, &packed_ut);
            simd_chunk_backward_fused(dx, state, dy, kt, masks, dims, &zeros)
        })
        .collect();
    let mut grads = rec::WeightGrads::sum(partials, f * w, u * w, w);
    if fold_kernel_grad {
        // dK = X_tokens^T S, its rows (input features) in two fixed halves on two
        // threads: after the time loop this product was a serial tail of every batch
        // (the same halves for any thread count, so the same bits).
        let (n, s) = (tokens.distinct, &grads.token_sums);
        let half = f / 2;
        let (top, bottom) = grads.kernel.split_at_mut(half * w);
        let rows_of = |f0: usize, f1: usize, out: &mut [f32]| {
            let x = MatRef::strided(&tokens.x[f0..], n, f1 - f0, f);
            let out = MatMut::new(out, f1 - f0, w);
            matmul(x.t(), MatRef::new(s, n, w), 0.0, out);
        };
        if half == 0 {
            rows_of(0, f, bottom);
        } else if n * f * w < JOIN_MIN_PRODUCT {
            // Too small to pay for waking another thread: the same halves here.
            rows_of(0, half, top);
            rows_of(half, f, bottom);
        } else {
            rayon::join(|| rows_of(0, half, top), || rows_of(half, f, bottom));
        }
    }
    if let Some(mask) = cache.mask.as_deref() {
        rec::apply_mask(&mut dx, mask, steps, f);
    }
    let dx = ArrayD::from_shape_vec(ndarray::IxDyn(&[batch, steps, f]), dx)
        .expect("batch*steps*features");
    (dx, grads)
}

/// One block's forward caches (sample-major, or step-major as `step_major` left
/// them).
pub(super) struct ChunkState<'a> {
    pub gates: &'a [f32],
    pub cs: &'a [f32],
    pub tanh_c: &'a [f32],
    pub hs: &'a [f32],
    /// The layer input (rows, steps, features), sample-major; unused with `slots`.
    pub x: &'a [f32],
    /// With token rows: each row's token slot and the number of distinct tokens.
    pub slots: Option<(&'a [u32], usize)>,
}

/// The time loop of `fused_backward` for one block of samples.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn chunk_backward_fused(
    mut dx: rec::SampleRows<'_, '_>,
    st: ChunkState<'_>,
    dy: &[f32],
    (kernel_t, recurrent_t): (&PackedB, &PackedB),
    masks: BlockMasks<'_>,
    (steps, u, f, seq): (usize, usize, usize, bool),
    zeros: &[f32],
) -> rec::WeightGrads {
    let w = 4 * u;
    let rows = st.cs.len() / (steps * u);
    let mut grads = rec::WeightGrads::zeros(f * w, u * w, w);
    let mut dh = vec![0.0f32; rows * u];
    let mut dh_new = vec![0.0f32; rows * u];
    let mut dc = vec![0.0f32; rows * u];
    let mut active = Vec::with_capacity(rows);
    // The current gradient block: dz rows, with the h_{t-1} and x rows they pair with
    // and where each row's input gradient goes.
    let cap = GRAD_BLOCK_ROWS + rows;
    let mut blk = rec::GradBlock::with_capacity(cap, w, u, f);
    if let Some((_, distinct)) = st.slots {
        grads.token_sums = vec![0.0; distinct * w];
    }
    // Before its first real step a row holds the constant zero initial state: nothing
    // flows back from there, so the loop ends at the block's earliest first real step
    // (pre-padded text: the per-step bookkeeping of the padding is skipped).
    let first_real = rec::first_real_steps(&masks, rows, steps);
    let stop = first_real.iter().copied().min().unwrap_or(0);
    for t in (stop..steps).rev() {
        rec::active_rows(&masks, rows, t, steps, &mut active);
        for j in 0..rows {
            if let Some(d) = rec::output_grad_at(dy, j, t, steps, u, seq) {
                let dhj = &mut dh[j * u..(j + 1) * u];
                dhj.iter_mut().zip(d).for_each(|(a, b)| *a += b);
            }
        }
        // A row whose dh and dc are exactly zero has zero gate gradients and passes
        // zeros back (the step is linear in them): skip it. Flushing (fm::flush_tiny)
        // makes long sequences reach exact zeros, after which their early steps cost
        // nothing. Without output gradients still to come, a block that is all zero
        // is done.
        let live = |j: usize| {
            fm::any_nonzero(&dh[j * u..(j + 1) * u]) || fm::any_nonzero(&dc[j * u..(j + 1) * u])
        };
        if !seq && !(0..rows).any(live) {
            break;
        }
        active.retain(|&j| live(j));
        let base = blk.rows();
        blk.dz.resize((base + active.len()) * w, 0.0);
        for (k, &j) in active.iter().enumerate() {
            let at = j * steps + t;
            let c_prev = if t == 0 {
                zeros
            } else {
                &st.cs[(at - 1) * u..at * u]
            };
            let dz = &mut blk.dz[(base + k) * w..(base + k + 1) * w];
            let dcj = &mut dc[j * u..(j + 1) * u];
            lstm_backward_row(
                &st.gates[at * w..(at + 1) * w],
                c_prev,
                &st.tanh_c[at * u..(at + 1) * u],
                &dh[j * u..(j + 1) * u],
                dcj,
                dz,
            );
            // Long sequences decay gradients towards subnormals (see fast_math).
            fm::flush_tiny(dz);
            fm::flush_tiny(dcj);
            let h_prev = if t == 0 {
                zeros
            } else {
                &st.hs[(at - 1) * u..at * u]
            };
            match st.slots {
                Some((slots, _)) => blk.push_token_row(h_prev, slots[at], at),
                None => blk.push_row(h_prev, &st.x[at * f..(at + 1) * f], at),
            }
        }
        if t > 0 {
            prefetch_step(&st, &active, t - 1, (steps, u, f));
        }
        if t > 0 && !active.is_empty() {
            let dz_now = &blk.dz[base * w..];
            pass_dh_back(dz_now, recurrent_t, &active, u, &mut dh, &mut dh_new);
        }
        if blk.rows() >= GRAD_BLOCK_ROWS {
            blk.fold_into(&mut grads, &mut dx, kernel_t);
        }
    }
    blk.finish(&mut grads, &mut dx, kernel_t);
    grads
}

/// dh_{t-1} = dZ_t · U^T for the `active` rows (their dz rows in order in `dz`);
/// masked rows keep their dh (and dc).
#[inline(always)]
fn pass_dh_back(
    dz: &[f32],
    recurrent_t: &PackedB,
    active: &[usize],
    u: usize,
    dh: &mut [f32],
    dh_new: &mut [f32],
) {
    let (n, w) = (active.len(), 4 * u);
    if rec::is_prefix(active) {
        // Active rows 0..n (all, or a longest-first batch): the product writes dh
        // directly.
        packed_gemm::gemm(dz, w, recurrent_t, dh, u, n, false);
        fm::flush_tiny(&mut dh[..n * u]);
    } else {
        packed_gemm::gemm(dz, w, recurrent_t, dh_new, u, n, false);
        fm::flush_tiny(&mut dh_new[..n * u]);
        for (k, &j) in active.iter().enumerate() {
            dh[j * u..(j + 1) * u].copy_from_slice(&dh_new[k * u..(k + 1) * u]);
        }
    }
}

/// Prefetches what step `t` of `chunk_backward_fused` reads of the `active` rows: their
/// cached inputs, gates, tanh(c) and (as the states of t - 1) c and h, rows of each
/// sample far apart, going back in time, more streams than the hardware prefetchers
/// follow (see `prefetch`).
#[inline(always)]
fn prefetch_step(
    st: &ChunkState<'_>,
    active: &[usize],
    t: usize,
    (steps, u, f): (usize, usize, usize),
) {
    let w = 4 * u;
    for &j in active {
        let at = j * steps + t;
        if st.slots.is_none() {
            prefetch(&st.x[at * f..(at + 1) * f]);
        }
        prefetch(&st.gates[at * w..(at + 1) * w]);
        prefetch(&st.tanh_c[at * u..(at + 1) * u]);
        if t > 0 {
            prefetch(&st.cs[(at - 1) * u..at * u]);
            prefetch(&st.hs[(at - 1) * u..at * u]);
        }
    }
}

// The time loop above, compiled for the CPU's widest vectors (see `simd_fn!`).
crate::simd_fn! {
    pub(super) fn simd_chunk_backward_fused(
        dx: rec::SampleRows<'_, '_>,
        st: ChunkState<'_>,
        dy: &[f32],
        transposed: (&PackedB, &PackedB),
        masks: BlockMasks<'_>,
        dims: (usize, usize, usize, bool),
        zeros: &[f32],
    ) -> rec::WeightGrads {
        chunk_backward_fused(dx, st, dy, transposed, masks, dims, zeros)
    }
}
