//! Training time loops of a small LSTM (units < `MAX_UNITS`), step-major.
//!
//! With 8 units a row's four gate segments are shorter than one vector register, so
//! the row-by-row loops of `rows.rs` spend most of their time in vector tails and
//! per-row bookkeeping. Here each block of samples keeps its buffers step-major,
//! (steps, rows, ...), and a step's gate activations gate-major, (4, rows, units):
//! every gate, cell and output pass of a step runs over all rows of the block as one
//! contiguous slice (`lstm_forward_row` / `lstm_backward_row` over rows * units
//! "units"), and h_{t-1}, c_{t-1} are contiguous (rows, units) slabs.
//!
//! Bit-identical to the row loops of `rows.rs`: every pre-activation is the same
//! projection plus the same in-order product sums (`small_gemm` here, `packed_gemm`
//! in the row loops: the same bits), every gate the same element-wise
//! arithmetic; only the order in which rows are visited changes. (The row loops skip
//! rows whose state gradients are exactly zero, which changes how the weight-gradient
//! rows are grouped; this loop only stops when all rows are.)
//!
//! Used without masks of any kind (no step mask, no recurrent dropout): those need
//! per-row decisions, which the row loops make.

use ndarray::{ArrayD, IxDyn};

use super::fused_backward::ChunkState;
use crate::kernels::fast_math as fm;
use crate::kernels::packed_gemm::PackedB;
use crate::kernels::{lstm_backward_row, lstm_forward_row, small_gemm};
use crate::layers::recurrent::{GradBlock, SampleRows, WeightGrads};

/// Layers with fewer units than this run these loops.
pub(super) const MAX_UNITS: usize = 16;

/// Samples per block (the row loops take `CHUNK_ROWS`): a step of a small layer costs
/// about as much in per-step work (the product call, the gate-major copies) for 32 rows
/// as for 16, so wider blocks halve it; 32 still gives a batch of 64 two parallel
/// blocks. W1 (LSTM(8), batch 64), 4 alternated runs: 2 threads 120-129k -> 116-140k
/// samples/s (3 of 4 pairs +8-10%), 1 thread 106-117k -> 119-122k.
pub(super) const BLOCK_ROWS: usize = 32;

/// Where a block's pre-activation inputs (projection plus bias) come from.
#[derive(Clone, Copy)]
pub(super) enum Projected<'a> {
    /// Each row's projected token row: the row's slot (sample-major, `j * steps + t`)
    /// in the table (distinct tokens, 4u).
    Tokens { slots: &'a [u32], table: &'a [f32] },
    /// Already in the block's gate buffer, sample-major (rows, steps, 4u), as the
    /// projection product wrote it; copied out before the loop overwrites it.
    InGates,
}

/// Forward for one block of `rows` samples. `gates` (steps, 4, rows, u) receives the
/// activations; `cs`, `tanh_c`, `hs` (steps, rows, u) the cell states, their tanh and
/// the outputs. `scratch` is reused across calls.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub(super) fn chunk_forward(
    gates: &mut [f32],
    cs: &mut [f32],
    tanh_c: &mut [f32],
    hs: &mut [f32],
    projected: Projected<'_>,
    recurrent: &[f32],
    steps: usize,
    u: usize,
) {
    let w = 4 * u;
    let rows = hs.len() / (steps * u);
    let (ru, rw) = (rows * u, rows * w);
    let pre;
    let (slots, table): (&[u32], &[f32]) = match projected {
        Projected::Tokens { slots, table } => (slots, table),
        Projected::InGates => {
            pre = gates.to_vec();
            (&[], &pre)
        }
    };
    let zeros = vec![0.0f32; ru];
    let mut product = vec![0.0f32; rw];
    let mut moved = vec![0.0f32; rw];
    for t in 0..steps {
        // The initial state is zero, so step 0 has no recurrent term.
        if t > 0 {
            let h_prev = &hs[(t - 1) * ru..t * ru];
            small_gemm::gemm(h_prev, recurrent, &mut product, rows, u, w, false);
        }
        let z = &mut gates[t * rw..(t + 1) * rw];
        // Rows (rows, 4u) to gate-major (4, rows, u): the projected inputs into z, the
        // product into `moved`, then one contiguous sum (the same p + r per element).
        crate::with_known_units!(u, |u| {
            for j in 0..rows {
                let at = j * steps + t;
                let s = if slots.is_empty() {
                    at
                } else {
                    slots[at] as usize
                };
                let p = &table[s * w..(s + 1) * w];
                for q in 0..4 {
                    let to = q * ru + j * u..q * ru + (j + 1) * u;
                    z[to.clone()].copy_from_slice(&p[q * u..(q + 1) * u]);
                    if t > 0 {
                        moved[to].copy_from_slice(&product[j * w + q * u..j * w + (q + 1) * u]);
                    }
                }
            }
        });
        if t > 0 {
            z.iter_mut().zip(&moved).for_each(|(a, b)| *a += b);
        }
        let (done, now) = cs.split_at_mut(t * ru);
        let c_prev = if t == 0 {
            &zeros[..]
        } else {
            &done[(t - 1) * ru..]
        };
        let tc = &mut tanh_c[t * ru..(t + 1) * ru];
        let h = &mut hs[t * ru..(t + 1) * ru];
        lstm_forward_row(z, c_prev, &mut now[..ru], tc, h);
    }
}

/// Backward for one block: per step the gate gradients of all rows in one pass, then
/// dh_{t-1} = dZ_t U^T; every `grad_block_rows` rows the weight and input gradients
/// (`GradBlock::fold_into`). `dy` is the block's output gradient, (rows, steps, u) with
/// `seq` else (rows, u); `dx` (rows, steps, features) receives the input gradient.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub(super) fn chunk_backward(
    mut dx: SampleRows<'_, '_>,
    st: ChunkState<'_>,
    dy: &[f32],
    kernel_t: &PackedB,
    recurrent_t: &[f32],
    (steps, u, f, seq): (usize, usize, usize, bool),
    grad_block_rows: usize,
) -> WeightGrads {
    let w = 4 * u;
    let rows = st.cs.len() / (steps * u);
    let (ru, rw) = (rows * u, rows * w);
    let mut grads = WeightGrads::zeros(f * w, u * w, w);
    if let Some((_, distinct)) = st.slots {
        grads.token_sums = vec![0.0; distinct * w];
    }
    let zeros = vec![0.0f32; ru];
    let mut dh = vec![0.0f32; ru];
    let mut dc = vec![0.0f32; ru];
    let mut dz = vec![0.0f32; rw];
    let mut blk = GradBlock::with_capacity(grad_block_rows + rows, w, u, f);
    for t in (0..steps).rev() {
        if seq {
            for j in 0..rows {
                let d = &dy[(j * steps + t) * u..(j * steps + t + 1) * u];
                dh[j * u..(j + 1) * u]
                    .iter_mut()
                    .zip(d)
                    .for_each(|(a, b)| *a += b);
            }
        } else if t == steps - 1 {
            dh.iter_mut().zip(&dy[..ru]).for_each(|(a, b)| *a += b);
        } else if !fm::any_nonzero(&dh) && !fm::any_nonzero(&dc) {
            // Zero state gradients stay zero further back and add nothing (the step is
            // linear in them): with no output gradient still to come, the block is done.
            break;
        }
        let c_prev = if t == 0 {
            &zeros[..]
        } else {
            &st.cs[(t - 1) * ru..t * ru]
        };
        lstm_backward_row(
            &st.gates[t * rw..(t + 1) * rw],
            c_prev,
            &st.tanh_c[t * ru..(t + 1) * ru],
            &dh,
            &mut dc,
            &mut dz,
        );
        // Long sequences decay gradients towards subnormals (see fast_math).
        fm::flush_tiny(&mut dz);
        fm::flush_tiny(&mut dc);
        // Gate-major (4, rows, u) to the rows (rows, 4u) the products take, straight
        // into the gradient block.
        let base = blk.rows();
        blk.dz.resize((base + rows) * w, 0.0);
        let dz_rows = &mut blk.dz[base * w..];
        crate::with_known_units!(u, |u| {
            for j in 0..rows {
                for q in 0..4 {
                    let from = q * ru + j * u..q * ru + (j + 1) * u;
                    dz_rows[j * w + q * u..j * w + (q + 1) * u].copy_from_slice(&dz[from]);
                }
            }
        });
        let h_prev = if t == 0 {
            &zeros[..]
        } else {
            &st.hs[(t - 1) * ru..t * ru]
        };
        let at = (0..rows).map(|j| j * steps + t);
        match st.slots {
            Some((slots, _)) => blk.push_token_rows(h_prev, slots, at),
            None => blk.push_rows(h_prev, st.x, at),
        }
        if t > 0 {
            small_gemm::gemm(&blk.dz[base * w..], recurrent_t, &mut dh, rows, w, u, false);
            fm::flush_tiny(&mut dh);
        }
        if blk.rows() >= grad_block_rows {
            blk.fold_into(&mut grads, &mut dx, kernel_t);
        }
    }
    blk.finish(&mut grads, &mut dx, kernel_t);
    grads
}

/// The layer output from step-major blocks of `block_rows` samples: (batch, steps, u)
/// with `seq`, else the last step's (batch, u).
pub(super) fn collect_output(
    hs: &[f32],
    batch: usize,
    steps: usize,
    u: usize,
    seq: bool,
    block_rows: usize,
) -> ArrayD<f32> {
    if !seq {
        let mut last = Vec::with_capacity(batch * u);
        for block in hs.chunks(block_rows * steps * u) {
            let ru = block.len() / steps;
            last.extend_from_slice(&block[(steps - 1) * ru..]);
        }
        return ArrayD::from_shape_vec(IxDyn(&[batch, u]), last).expect("batch * units");
    }
    let mut out = vec![0.0f32; batch * steps * u];
    for (block, dst) in hs
        .chunks(block_rows * steps * u)
        .zip(out.chunks_mut(block_rows * steps * u))
    {
        let ru = block.len() / steps;
        for (t, slab) in block.chunks_exact(ru).enumerate() {
            for (j, h) in slab.chunks_exact(u).enumerate() {
                dst[(j * steps + t) * u..(j * steps + t + 1) * u].copy_from_slice(h);
            }
        }
    }
    ArrayD::from_shape_vec(IxDyn(&[batch, steps, u]), out).expect("batch * steps * units")
}
// The loops above, compiled for the CPU's widest vectors (see `simd_fn!`).
crate::simd_fn! {
    pub(super) fn simd_chunk_forward(
        gates: &mut [f32],
        cs: &mut [f32],
        tanh_c: &mut [f32],
        hs: &mut [f32],
        projected: Projected<'_>,
        recurrent: &[f32],
        steps: usize,
        u: usize,
    ) {
        chunk_forward(gates, cs, tanh_c, hs, projected, recurrent, steps, u)
    }
}

crate::simd_fn! {
    pub(super) fn simd_chunk_backward(
        dx: SampleRows<'_, '_>,
        st: ChunkState<'_>,
        dy: &[f32],
        weights: (&PackedB, &[f32]),
        dims: (usize, usize, usize, bool),
        grad_block_rows: usize,
    ) -> WeightGrads {
        let (kernel_t, recurrent_t) = weights;
        chunk_backward(dx, st, dy, kernel_t, recurrent_t, dims, grad_block_rows)
    }
}
