//! What SimpleRNN, LSTM and GRU share: argument checks, input validation, the
//! per-sequence dropout mask, the all-steps input projection, output assembly and the
//! after-the-loop weight-gradient products.
//!
//! Buffer layout is batch-major, (batch, time_steps, width) row-major, so a fixed block
//! of `CHUNK_ROWS` samples owns one contiguous region of every buffer and runs its whole
//! time loop on one rayon task. The block size does not depend on the thread count, so
//! results are bit-identical for any number of threads.

use ndarray::{ArrayD, IxDyn};
use rayon::prelude::*;

use super::batch_order::BatchOrder;
use super::{LayerInput, Param, Shape};
use crate::error::{Error, Result};
use crate::kernels::packed_gemm::{self, PackedB};
use crate::kernels::{MatMut, MatRef, column_sums, matmul};
use crate::rng::SeededRng;

/// Samples per parallel task in the time loop. Fixed (never derived from the thread
/// count) so that results do not depend on it.
pub(crate) const CHUNK_ROWS: usize = 16;

/// Rows per parallel task in the all-steps products.
const PROJECTION_ROWS: usize = 256;

/// Checks shared by the three recurrent layers' arguments.
pub(crate) fn validate_args(
    layer: &str,
    units: usize,
    dropout: f32,
    recurrent_dropout: f32,
) -> Result<()> {
    if units == 0 {
        return Err(Error::invalid_argument(
            layer,
            "units",
            "must be a positive integer, got 0",
        ));
    }
    if !(0.0..1.0).contains(&dropout) {
        return Err(Error::invalid_argument(
            layer,
            "dropout",
            format!("must be in [0, 1), got {dropout}"),
        ));
    }
    if !(0.0..1.0).contains(&recurrent_dropout) {
        return Err(Error::invalid_argument(
            layer,
            "recurrent_dropout",
            format!("must be in [0, 1), got {recurrent_dropout}"),
        ));
    }
    Ok(())
}

/// Output shape (without batch) of a recurrent layer for `input_shape` (time, features).
pub(crate) fn output_shape(
    layer: &str,
    input_shape: &[Option<usize>],
    units: usize,
    return_sequences: bool,
) -> Result<Shape> {
    // Validates rank and feature dimension; the output does not depend on them.
    input_features(layer, input_shape)?;
    Ok(if return_sequences {
        vec![input_shape[0], Some(units)]
    } else {
        vec![Some(units)]
    })
}

/// The feature count of a (time, features) input shape.
pub(crate) fn input_features(layer: &str, input_shape: &[Option<usize>]) -> Result<usize> {
    match input_shape {
        [_, Some(f)] if *f > 0 => Ok(*f),
        [_, _] => Err(Error::Shape(format!(
            "layer '{layer}' needs a known, positive feature dimension, got input shape {}",
            show_shape(input_shape)
        ))),
        _ => Err(Error::Shape(format!(
            "layer '{layer}' expects input of shape (batch, time_steps, features), got {}",
            show_shape(input_shape)
        ))),
    }
}

/// Keras-style `(None, 10, 8)` rendering, batch included.
pub(crate) fn show_shape(shape: &[Option<usize>]) -> String {
    let dims: Vec<String> = std::iter::once("None".to_string())
        .chain(
            shape
                .iter()
                .map(|d| d.map_or("None".to_string(), |v| v.to_string())),
        )
        .collect();
    format!("({})", dims.join(", "))
}

/// Copies a float (batch, time, features) input into `x`, checking its shape and that
/// every value is finite. Returns (batch, time_steps).
pub(crate) fn load_sequence(
    layer: &str,
    input: &LayerInput<'_>,
    features: usize,
    x: &mut Vec<f32>,
) -> Result<(usize, usize)> {
    let dims = sequence_dims(layer, input, features)?;
    load_sequence_in(layer, input, features, &BatchOrder::input_order(), x)?;
    Ok(dims)
}

/// Checks that `input` is a float (batch, time, features) sequence; returns (batch,
/// time_steps).
pub(crate) fn sequence_dims(
    layer: &str,
    input: &LayerInput<'_>,
    features: usize,
) -> Result<(usize, usize)> {
    let view = float_input(layer, input)?;
    let shape = view.shape();
    if shape.len() != 3 || shape[2] != features {
        return Err(Error::Shape(format!(
            "layer '{layer}' expects input (batch, time_steps, {features}), got {shape:?}"
        )));
    }
    if shape[1] == 0 {
        return Err(Error::Shape(format!(
            "layer '{layer}' got sequences with 0 time steps"
        )));
    }
    Ok((shape[0], shape[1]))
}

fn float_input<'a>(
    layer: &str,
    input: &'a LayerInput<'_>,
) -> Result<&'a ndarray::ArrayViewD<'a, f32>> {
    match input {
        LayerInput::Floats(v) => Ok(v),
        LayerInput::Ids(_) => Err(Error::Shape(format!(
            "layer '{layer}' expects float input (batch, time_steps, features), got integer \
             token ids; put an Embedding layer first"
        ))),
    }
}

/// Copies a checked (`sequence_dims`) input into `x` with its samples in `order`,
/// checking that every value is finite (the error names the sample in input order).
pub(crate) fn load_sequence_in(
    layer: &str,
    input: &LayerInput<'_>,
    features: usize,
    order: &BatchOrder,
    x: &mut Vec<f32>,
) -> Result<()> {
    let view = float_input(layer, input)?;
    let steps = view.shape()[1];
    let contiguous;
    let src = match view.as_slice() {
        Some(s) => s,
        None => {
            contiguous = view.as_standard_layout();
            contiguous.as_slice().expect("standard layout")
        }
    };
    let finite = if order.is_input_order() {
        copy_checking_finite(src, x)
    } else {
        let all_finite = crate::kernels::fast_math::all_finite;
        order.copy_to_run_order(src, steps * features, x, all_finite)
    };
    if let Some(pos) = (!finite)
        .then(|| src.iter().position(|v| !v.is_finite()))
        .flatten()
    {
        let (sample, step) = (pos / (steps * features), pos / features % steps);
        return Err(Error::Data(format!(
            "layer '{layer}': input value {} at sample {sample}, time step {step}, feature {} \
             is not finite",
            src[pos],
            pos % features
        )));
    }
    Ok(())
}

/// Floats per block of `copy_checking_finite` (~20 us: smaller blocks on other threads
/// cost more in thread wake-ups than they save).
const COPY_BLOCK: usize = 1 << 17;

/// Copies `src` into `dst` (resized) and says whether every value is finite: in blocks
/// across threads, one pass (a batch of IMDB sequences is 8 MB, copied and scanned
/// serially it took ~4% of a training step while the other core waited).
pub(crate) fn copy_checking_finite(src: &[f32], dst: &mut Vec<f32>) -> bool {
    dst.resize(src.len(), 0.0);
    dst.par_chunks_mut(COPY_BLOCK)
        .zip(src.par_chunks(COPY_BLOCK))
        .map(|(d, s)| {
            d.copy_from_slice(s);
            crate::kernels::fast_math::all_finite(s)
        })
        .reduce(|| true, |a, b| a & b)
}

/// Draws Keras's input dropout mask, one per sequence: (batch, features), each entry 0
/// or 1 / (1 - rate), reused at every time step and for every gate. Drawn on the
/// calling thread in row-major order.
pub(crate) fn draw_mask(rng: &mut SeededRng, rate: f32, batch: usize, features: usize) -> Vec<f32> {
    let scale = 1.0 / (1.0 - rate);
    (0..batch * features)
        .map(|_| if rng.uniform01() < rate { 0.0 } else { scale })
        .collect()
}

/// Multiplies each time step of `x` (batch, steps, features) by the sample's mask row.
pub(crate) fn apply_mask(x: &mut [f32], mask: &[f32], steps: usize, features: usize) {
    for (sample, m) in x.chunks_mut(steps * features).zip(mask.chunks(features)) {
        for row in sample.chunks_mut(features) {
            row.iter_mut().zip(m).for_each(|(v, k)| *v *= k);
        }
    }
}

/// `out` (rows, width) = x (rows, features) · kernel (features, width) + bias, as one
/// product split into fixed row blocks across threads.
///
/// With a `step_mask` ((batch, steps) flattened, true = real; empty = all real), only
/// the rows whose step is real: with pre-padded text most rows are padding, and their
/// projections are never read (masked steps do no gate work). Masked rows of `out` are
/// left unspecified. Real rows are gathered contiguous per row block, projected in one
/// product and scattered back; K is packed once for both cases, so real rows get the
/// same bits as without a mask.
#[allow(clippy::too_many_arguments)]
pub(crate) fn project_inputs(
    x: &[f32],
    rows: usize,
    features: usize,
    kernel: &[f32],
    width: usize,
    bias: Option<&[f32]>,
    step_mask: &[bool],
    out: &mut Vec<f32>,
) {
    // Not cleared: every row is overwritten below (bias, or zeros, then the product),
    // or is a masked row nobody reads; clearing 32 MB per IMDB batch was a serial
    // memset of ~5% of a W2 step.
    out.resize(rows * width, 0.0);
    let mut packed = PackedB::new();
    packed.pack(kernel, width, features, width);
    let packed = &packed;
    if step_mask.is_empty() {
        out.par_chunks_mut(PROJECTION_ROWS * width)
            .zip(x.par_chunks(PROJECTION_ROWS * features))
            .for_each(|(o, xs)| {
                let r = xs.len() / features;
                packed_gemm::gemm_bias(xs, features, packed, bias, o, r);
            });
        return;
    }
    out.par_chunks_mut(PROJECTION_ROWS * width)
        .zip(x.par_chunks(PROJECTION_ROWS * features))
        .zip(step_mask.par_chunks(PROJECTION_ROWS))
        .for_each(|((o, xs), real)| {
            let active: Vec<usize> = (0..real.len()).filter(|&r| real[r]).collect();
            let n = active.len();
            if n == 0 {
                return;
            }
            // Padding before or after the text leaves each sample's real steps as one
            // run of consecutive rows: project each run in place, with no copies.
            let runs = real_runs(real);
            if runs.len() * MIN_RUN_ROWS <= n {
                for (start, end) in runs {
                    let o = &mut o[start * width..end * width];
                    let xs = &xs[start * features..end * features];
                    packed_gemm::gemm_bias(xs, features, packed, bias, o, end - start);
                }
                return;
            }
            let mut gathered = Vec::with_capacity(n * features);
            for &r in &active {
                gathered.extend_from_slice(&xs[r * features..(r + 1) * features]);
            }
            let mut z = vec![0.0f32; n * width];
            packed_gemm::gemm_bias(&gathered, features, packed, bias, &mut z, n);
            for (k, &r) in active.iter().enumerate() {
                o[r * width..(r + 1) * width].copy_from_slice(&z[k * width..(k + 1) * width]);
            }
        });
}

/// Real-step runs at least this long on average are projected in place.
const MIN_RUN_ROWS: usize = 16;

/// The maximal runs of `true` in `real`, as (start, end) half-open ranges.
fn real_runs(real: &[bool]) -> Vec<(usize, usize)> {
    let mut runs = Vec::new();
    let mut start = None;
    for (i, &r) in real.iter().enumerate() {
        match (r, start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                runs.push((s, i));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        runs.push((s, real.len()));
    }
    runs
}

/// The layer's output from the states `hs` (batch, steps, units): all of them when
/// `return_sequences`, else the last step's.
pub(crate) fn collect_output(
    hs: &[f32],
    batch: usize,
    steps: usize,
    units: usize,
    return_sequences: bool,
) -> ArrayD<f32> {
    if return_sequences {
        ArrayD::from_shape_vec(IxDyn(&[batch, steps, units]), hs.to_vec())
            .expect("state buffer is batch * steps * units")
    } else {
        let mut last = Vec::with_capacity(batch * units);
        for sample in hs.chunks(steps * units) {
            last.extend_from_slice(&sample[(steps - 1) * units..]);
        }
        ArrayD::from_shape_vec(IxDyn(&[batch, units]), last).expect("batch * units")
    }
}

/// An inference output buffer as an array: (batch, steps, u) with `seq`, else (batch, u).
pub(crate) fn output_array(
    out: Vec<f32>,
    batch: usize,
    steps: usize,
    u: usize,
    seq: bool,
) -> ArrayD<f32> {
    let shape: &[usize] = if seq { &[batch, steps, u] } else { &[batch, u] };
    ArrayD::from_shape_vec(ndarray::IxDyn(shape), out).expect("output buffer matches its shape")
}

/// Checks `grad_output` against the last forward and returns it as a contiguous buffer
/// of shape (batch, steps, units) or (batch, units).
pub(crate) fn grad_output_slice(
    layer: &str,
    grad: &ArrayD<f32>,
    batch: usize,
    steps: usize,
    units: usize,
    return_sequences: bool,
) -> Result<Vec<f32>> {
    let want: Vec<usize> = if return_sequences {
        vec![batch, steps, units]
    } else {
        vec![batch, units]
    };
    if grad.shape() != want.as_slice() {
        return Err(Error::Shape(format!(
            "layer '{layer}': output gradient has shape {:?}, expected {want:?}",
            grad.shape()
        )));
    }
    Ok(grad.iter().copied().collect())
}

/// dL/dh_t contributed directly by the output for sample-row `row` of a chunk at step
/// `t` (zero slice if the output does not see this step).
pub(crate) fn output_grad_at(
    dy: &[f32],
    row: usize,
    t: usize,
    steps: usize,
    units: usize,
    return_sequences: bool,
) -> Option<&[f32]> {
    if return_sequences {
        let o = (row * steps + t) * units;
        Some(&dy[o..o + units])
    } else if t == steps - 1 {
        Some(&dy[row * units..(row + 1) * units])
    } else {
        None
    }
}

/// `hp` (batch, steps, units) = states shifted one step later: hp[b, t] = hs[b, t - 1],
/// hp[b, 0] = 0 (the initial state), so that dU = hp^T · dGates is one product.
pub(crate) fn shift_states(hs: &[f32], steps: usize, units: usize, hp: &mut Vec<f32>) {
    hp.clear();
    hp.resize(hs.len(), 0.0);
    for (dst, src) in hp.chunks_mut(steps * units).zip(hs.chunks(steps * units)) {
        dst[units..].copy_from_slice(&src[..(steps - 1) * units]);
    }
}

/// Output rows of a weight gradient per parallel task.
const GRAD_OUT_ROWS: usize = 16;

/// dW (left_cols, width) = left^T (left_cols x rows) · grads (rows, width);
/// `left`/`grads` may be column blocks of wider rows (`left_stride`, `grad_stride`).
/// Split over blocks of output rows across threads: each element is still one sum
/// computed by one task, so the result does not depend on the thread count.
#[allow(clippy::too_many_arguments)]
pub(crate) fn weight_grad(
    left: &[f32],
    left_cols: usize,
    left_stride: usize,
    grads: &[f32],
    width: usize,
    grad_stride: usize,
    rows: usize,
    out: MatMut<'_>,
) {
    let out_stride = out.row_stride;
    let g = MatRef::strided(grads, rows, width, grad_stride);
    out.data
        .par_chunks_mut(GRAD_OUT_ROWS * out_stride)
        .take(left_cols.div_ceil(GRAD_OUT_ROWS))
        .enumerate()
        .for_each(|(bi, o)| {
            let c0 = bi * GRAD_OUT_ROWS;
            let n = GRAD_OUT_ROWS.min(left_cols - c0);
            matmul(
                MatRef::strided(&left[c0..], rows, n, left_stride).t(),
                g,
                0.0,
                MatMut::strided(o, n, width, out_stride),
            );
        });
}

/// dX (batch, steps, features) = dGates · kernel^T, times the dropout mask.
pub(crate) fn input_grad(
    dgates: &[f32],
    kernel: &[f32],
    width: usize,
    batch: usize,
    steps: usize,
    features: usize,
    mask: Option<&[f32]>,
) -> ArrayD<f32> {
    let rows = batch * steps;
    let mut dx = vec![0.0f32; rows * features];
    let kernel_t = MatRef::new(kernel, features, width).t();
    dx.par_chunks_mut(PROJECTION_ROWS * features)
        .zip(dgates.par_chunks(PROJECTION_ROWS * width))
        .for_each(|(o, g)| {
            let r = g.len() / width;
            matmul(
                MatRef::new(g, r, width),
                kernel_t,
                0.0,
                MatMut::new(o, r, features),
            );
        });
    if let Some(mask) = mask {
        apply_mask(&mut dx, mask, steps, features);
    }
    ArrayD::from_shape_vec(IxDyn(&[batch, steps, features]), dx).expect("batch*steps*features")
}

/// Column sums of `grads` (rows, width) into a bias gradient.
pub(crate) fn bias_grad(grads: &[f32], rows: usize, width: usize, out: &mut [f32]) {
    column_sums(grads, rows, width, width, out, false);
}

/// Contiguous weights of a parameter (ours are always created in standard layout).
pub(crate) fn values<'a>(layer: &str, p: &'a Param) -> Result<&'a [f32]> {
    p.value.as_slice().ok_or_else(|| {
        Error::State(format!(
            "layer '{layer}': weight '{}' is not a contiguous array",
            p.name
        ))
    })
}

/// Contiguous gradient buffer of a parameter.
pub(crate) fn grads_mut<'a>(layer: &str, p: &'a mut Param) -> Result<&'a mut [f32]> {
    let name = p.name;
    p.grad.as_slice_mut().ok_or_else(|| {
        Error::State(format!(
            "layer '{layer}': gradient of '{name}' is not a contiguous array"
        ))
    })
}

/// A parameter's contiguous values and gradient buffer at once.
pub(crate) fn value_and_grad<'a>(
    layer: &str,
    p: &'a mut Param,
) -> Result<(&'a [f32], &'a mut [f32])> {
    let name = p.name;
    let missing = |what: &str| {
        Error::State(format!(
            "layer '{layer}': {what} of '{name}' is not a contiguous array"
        ))
    };
    let value = p.value.as_slice().ok_or_else(|| missing("weight"))?;
    let grad = p.grad.as_slice_mut().ok_or_else(|| missing("gradient"))?;
    Ok((value, grad))
}

/// Error for `backward` without a preceding training `forward`.
pub(crate) fn no_forward(layer: &str) -> Error {
    Error::State(format!(
        "layer '{layer}': backward called without a preceding training forward pass"
    ))
}

/// What the last training `forward` cached, or the error for `backward` without one.
pub(crate) fn cached<'c, T>(cache: &'c Option<T>, layer: &str) -> Result<&'c T> {
    cache.as_ref().ok_or_else(|| no_forward(layer))
}

/// Error for a second `build`.
pub(crate) fn already_built(layer: &str) -> Error {
    Error::State(format!("layer '{layer}' is already built"))
}

/// Error for use before `build`.
pub(crate) fn not_built(layer: &str) -> Error {
    Error::State(format!("layer '{layer}' is used before it was built"))
}

/// What one block of samples needs to know about masks.
#[derive(Clone, Copy, Debug)]
pub(crate) struct BlockMasks<'a> {
    /// Per-gate recurrent dropout masks over the whole batch, (batch, u) each, or none.
    pub recurrent: &'a [Vec<f32>],
    /// First sample of the block (to index `recurrent`).
    pub row0: usize,
    /// This block's step mask (rows, steps), true = real step; empty = no masking.
    pub steps: &'a [bool],
}

impl<'a> BlockMasks<'a> {
    /// Masks of block `index` (of `CHUNK_ROWS` samples) given the whole batch's.
    pub fn of_block(
        recurrent: &'a [Vec<f32>],
        step_mask: &'a [bool],
        index: usize,
        steps: usize,
    ) -> Self {
        let row0 = index * CHUNK_ROWS;
        let steps = if step_mask.is_empty() {
            step_mask
        } else {
            let end = ((row0 + CHUNK_ROWS) * steps).min(step_mask.len());
            &step_mask[row0 * steps..end]
        };
        BlockMasks {
            recurrent,
            row0,
            steps,
        }
    }

    /// Whether row `j` of the block skips step `t` (Keras mask false: carry the state).
    pub fn skips(&self, j: usize, t: usize, steps: usize) -> bool {
        !self.steps.is_empty() && !self.steps[j * steps + t]
    }
}

/// Checks the input mask set by the model against the input; returns it row-major
/// (batch, steps), or empty when there is none.
pub(crate) fn step_mask(
    layer: &str,
    mask: Option<&ndarray::Array2<bool>>,
    batch: usize,
    steps: usize,
) -> Result<Vec<bool>> {
    match mask {
        None => Ok(Vec::new()),
        Some(m) if m.dim() == (batch, steps) => Ok(m.iter().copied().collect()),
        Some(m) => Err(Error::Shape(format!(
            "layer '{layer}': input mask has shape {:?}, expected ({batch}, {steps})",
            m.dim()
        ))),
    }
}

/// Masked step: slot `t` of sample-row `j` in `buf` (rows, steps, u) takes the value of
/// slot t - 1 (the zero initial state at t = 0).
pub(crate) fn carry_state(buf: &mut [f32], j: usize, t: usize, steps: usize, u: usize) {
    let at = (j * steps + t) * u;
    if t == 0 {
        buf[at..at + u].fill(0.0);
    } else {
        buf.copy_within(at - u..at, at);
    }
}

/// Per row of the block, its first unmasked step (`steps` if none; 0 without a mask).
pub(crate) fn first_real_steps(masks: &BlockMasks<'_>, rows: usize, steps: usize) -> Vec<usize> {
    (0..rows)
        .map(|j| {
            (0..steps)
                .find(|&t| !masks.skips(j, t, steps))
                .unwrap_or(steps)
        })
        .collect()
}

/// After a step's backward product into `dh_new`: rows that skipped step `t` pass their
/// gradient through unchanged, the others take the new one.
pub(crate) fn merge_state_grad(
    dh: &mut Vec<f32>,
    dh_new: &mut Vec<f32>,
    masks: &BlockMasks<'_>,
    t: usize,
    steps: usize,
    u: usize,
) {
    if masks.steps.is_empty() {
        std::mem::swap(dh, dh_new);
        return;
    }
    for (j, (d, n)) in dh.chunks_mut(u).zip(dh_new.chunks(u)).enumerate() {
        if !masks.skips(j, t, steps) {
            d.copy_from_slice(n);
        }
    }
}

/// The rows of a block that compute step `t` (mask true, or no mask), in order, into
/// `active`. Returns whether that is every row.
pub(crate) fn active_rows(
    masks: &BlockMasks<'_>,
    rows: usize,
    t: usize,
    steps: usize,
    active: &mut Vec<usize>,
) -> bool {
    active.clear();
    if masks.steps.is_empty() {
        active.extend(0..rows);
        return true;
    }
    active.extend((0..rows).filter(|&j| !masks.skips(j, t, steps)));
    active.len() == rows
}

/// Whether the (ascending) active rows of a step are 0..n.
pub(crate) fn is_prefix(active: &[usize]) -> bool {
    active.last().is_none_or(|&j| j + 1 == active.len())
}

/// Rows `which` of a buffer whose row j (`width` values) starts at `j * stride`,
/// packed contiguous into `out`.
pub(crate) fn gather_rows(
    src: &[f32],
    width: usize,
    stride: usize,
    which: &[usize],
    out: &mut Vec<f32>,
) {
    out.clear();
    for &j in which {
        out.extend_from_slice(&src[j * stride..j * stride + width]);
    }
}

/// Weight gradients of a recurrent layer (kernel, recurrent kernel, bias), each
/// row-major as the parameters.
pub(crate) struct WeightGrads {
    pub kernel: Vec<f32>,
    pub recurrent: Vec<f32>,
    pub bias: Vec<f32>,
    /// With token rows (`token_rows`): per distinct token, the sum of its rows' gate
    /// gradients (distinct, width), from which the kernel gradient is one product;
    /// `kernel` then stays zero. Empty otherwise.
    pub token_sums: Vec<f32>,
}

impl WeightGrads {
    pub fn zeros(kernel: usize, recurrent: usize, bias: usize) -> Self {
        WeightGrads {
            kernel: vec![0.0; kernel],
            recurrent: vec![0.0; recurrent],
            bias: vec![0.0; bias],
            token_sums: Vec::new(),
        }
    }

    /// Copies the sums into the gradients of `params` (kernel, recurrent_kernel, bias
    /// if any) of layer `layer`.
    pub fn write_to(&self, layer: &str, params: &mut [Param]) -> Result<()> {
        let (kp, rest) = params.split_at_mut(1);
        let (rp, bp) = rest.split_at_mut(1);
        grads_mut(layer, &mut kp[0])?.copy_from_slice(&self.kernel);
        grads_mut(layer, &mut rp[0])?.copy_from_slice(&self.recurrent);
        if let Some(b) = bp.first_mut() {
            grads_mut(layer, b)?.copy_from_slice(&self.bias);
        }
        Ok(())
    }

    /// Sum of per-block partials, in block order (the same for any thread count): each
    /// element is `0 + p_0 + p_1 + ...`, ranges of elements on all threads (with token
    /// rows the partials are ~1.6 MB each, and summed on one thread this was a serial
    /// tail of every batch).
    pub fn sum(parts: Vec<WeightGrads>, kernel: usize, recurrent: usize, bias: usize) -> Self {
        let mut total = WeightGrads::zeros(kernel, recurrent, bias);
        let token_floats = parts.iter().map(|p| p.token_sums.len()).max();
        total.token_sums = vec![0.0; token_floats.unwrap_or(0)];
        let add = |total: &mut Vec<f32>, field: fn(&WeightGrads) -> &[f32]| {
            total
                .par_chunks_mut(SUM_CHUNK)
                .enumerate()
                .for_each(|(c, out)| {
                    for p in &parts {
                        let part = field(p).get(c * SUM_CHUNK..).unwrap_or(&[]);
                        out.iter_mut().zip(part).for_each(|(x, y)| *x += y);
                    }
                });
        };
        add(&mut total.kernel, |p| &p.kernel);
        add(&mut total.recurrent, |p| &p.recurrent);
        add(&mut total.bias, |p| &p.bias);
        add(&mut total.token_sums, |p| &p.token_sums);
        total
    }
}

/// Floats per parallel task of `WeightGrads::sum`.
const SUM_CHUNK: usize = 1 << 14;

/// A block of backward rows (sample-steps) collected over a few time steps so that
/// the weight and input gradients are a few cache-resident products instead of one
/// pass over (batch, steps, gates * u) buffers.
pub(crate) struct GradBlock {
    width: usize,
    units: usize,
    features: usize,
    /// Pre-activation gradients (rows, width).
    pub dz: Vec<f32>,
    /// h_{t-1} of each row (rows, units).
    h_prev: FactorRows,
    /// Layer input of each row (rows, features); empty with token rows.
    x: FactorRows,
    /// Row index (sample * steps + t) within the block's samples, for dX.
    at: Vec<usize>,
    /// With token rows: each row's token slot, in place of its `x` (see `fold_into`).
    slots: Vec<u32>,
    /// Scratch for dX rows.
    dx: Vec<f32>,
}

/// Widest h_{t-1} or x rows whose weight gradient is `packed_gemm::gemm_at`'s `dZ^T
/// H` (transposed) rather than matrixmultiply's `H^T dZ`. Per 512-row block
/// (`benches/kernels.rs`, us, matrixmultiply / packed): 8 units 7.6 / 3.9, 32 units
/// 37.5 / 27.6, 100 units 311-394 / 318-381, 128 units 478-561 / 541-604; W1 training
/// (LSTM(8), one thread) 52,680 -> 59,770 samples/s, median of 5 alternated runs.
/// (Those on the AVX2 Xeon; on the AVX-512 Zen 5 see `PACKED_FACTOR_MIN_WIDE_AVX512`.)
const PACKED_FACTOR_MAX_WIDTH: usize = 64;

/// With AVX-512, rows at least this wide are packed too. On the Zen 5 build machine
/// `gemm_at` runs the 512x128x512 product at 255 GFLOP/s against matrixmultiply's 204
/// (263 vs 330 us), and W3 training (LSTM(128)) gained 1.8% (1,795 -> 1,848 samples/s
/// over 3 alternated pairs, +0.3% over 2 more); at 100 units the product is only 9%
/// faster and W4 training lost 9% (7,428-7,789 -> 6,873-6,888), so narrower rows stay
/// with matrixmultiply.
const PACKED_FACTOR_MIN_WIDE_AVX512: usize = 128;

/// Whether `FactorRows` packs rows of `width`.
fn packs_factor(width: usize) -> bool {
    width <= PACKED_FACTOR_MAX_WIDTH
        || (width >= PACKED_FACTOR_MIN_WIDE_AVX512 && crate::kernels::fast_math::has_avx512())
}

/// The rows of one weight-gradient product's right factor, in the layout its product
/// reads: narrow rows packed as they are collected (`gemm_at` reads dZ in place, so
/// nothing is packed or transposed per block), wide ones row-major for matrixmultiply.
enum FactorRows {
    Plain {
        rows: Vec<f32>,
        width: usize,
    },
    /// With the product's running sum, transposed: (block width, row width).
    Packed {
        rows: PackedB,
        sums_t: Vec<f32>,
    },
}

impl FactorRows {
    fn new(capacity: usize, width: usize, gates_width: usize) -> Self {
        if packs_factor(width) {
            FactorRows::Packed {
                rows: PackedB::with_row_capacity(capacity, width),
                sums_t: vec![0.0; gates_width * width],
            }
        } else {
            FactorRows::Plain {
                rows: Vec::with_capacity(capacity * width),
                width,
            }
        }
    }

    fn push(&mut self, row: &[f32]) {
        match self {
            FactorRows::Plain { rows, .. } => rows.extend_from_slice(row),
            FactorRows::Packed { rows, .. } => rows.push_row(row),
        }
    }

    fn clear(&mut self) {
        match self {
            FactorRows::Plain { rows, .. } => rows.clear(),
            FactorRows::Packed { rows, .. } => rows.clear_rows(),
        }
    }

    /// grad (row width, w) += rows^T dz for the m rows of `dz` (m, w); packed, the sum
    /// stays transposed in `sums_t` until `finish`.
    fn add_product(&mut self, dz: &[f32], m: usize, w: usize, grad: &mut [f32]) {
        match self {
            FactorRows::Plain { rows, width } => matmul(
                MatRef::new(rows, m, *width).t(),
                MatRef::new(dz, m, w),
                1.0,
                MatMut::new(grad, *width, w),
            ),
            FactorRows::Packed { rows, sums_t } => {
                packed_gemm::gemm_at(dz, w, rows, sums_t, rows.n(), w, true)
            }
        }
    }

    /// Adds a packed factor's transposed sums to `grad` (row width, w).
    fn finish(&self, w: usize, grad: &mut [f32]) {
        if let FactorRows::Packed { rows, sums_t } = self {
            add_transposed(sums_t, rows.n(), w, grad);
        }
    }
}

/// Side of the tiles `add_transposed` walks: 16 rows of 16 floats, one cache line each,
/// on both sides.
const TRANSPOSE_TILE: usize = 16;

/// `grad (n, w) += t^T` for `t` (w, n), tile by tile: walking one whole side in order
/// strides the other by a full row per element, a cache miss each once the matrices
/// outgrow L1 (LSTM(128): 256 KiB each, 4.5% of W3's training time untiled).
fn add_transposed(t: &[f32], n: usize, w: usize, grad: &mut [f32]) {
    for q0 in (0..w).step_by(TRANSPOSE_TILE) {
        for i0 in (0..n).step_by(TRANSPOSE_TILE) {
            for i in i0..(i0 + TRANSPOSE_TILE).min(n) {
                let row = &mut grad[i * w..(i + 1) * w];
                for q in q0..(q0 + TRANSPOSE_TILE).min(w) {
                    row[q] += t[q * n + i];
                }
            }
        }
    }
}

impl GradBlock {
    pub fn with_capacity(rows: usize, width: usize, units: usize, features: usize) -> Self {
        GradBlock {
            width,
            units,
            features,
            dz: Vec::with_capacity(rows * width),
            h_prev: FactorRows::new(rows, units, width),
            x: FactorRows::new(rows, features, width),
            at: Vec::with_capacity(rows),
            slots: Vec::new(),
            dx: Vec::with_capacity(rows * features),
        }
    }

    /// Rows whose h_{t-1} and x are recorded (`dz` may be filled ahead of them).
    pub fn rows(&self) -> usize {
        self.at.len()
    }

    /// Records the h_{t-1} and x paired with the next dz row, and where its dX goes.
    pub fn push_row(&mut self, h_prev: &[f32], x: &[f32], at: usize) {
        self.h_prev.push(h_prev);
        self.x.push(x);
        self.at.push(at);
    }

    /// `push_row` for a row whose input is token `slot` of the layer's `TokenRows`.
    pub fn push_token_row(&mut self, h_prev: &[f32], slot: u32, at: usize) {
        self.h_prev.push(h_prev);
        self.slots.push(slot);
        self.at.push(at);
    }

    /// `push_row` for the rows `at` (sample * steps + t) of one step, whose h_{t-1} are
    /// the consecutive rows of `h_prev` (n, units) and inputs rows of `x` (_, features).
    pub fn push_rows(&mut self, h_prev: &[f32], x: &[f32], at: impl Iterator<Item = usize>) {
        let (f, u) = (self.features, self.units);
        for (h, a) in h_prev.chunks_exact(u).zip(at) {
            self.h_prev.push(h);
            self.x.push(&x[a * f..(a + 1) * f]);
            self.at.push(a);
        }
    }

    /// `push_rows` with token rows: each row's slot is `slots[at]`.
    pub fn push_token_rows(
        &mut self,
        h_prev: &[f32],
        slots: &[u32],
        at: impl Iterator<Item = usize>,
    ) {
        for (h, a) in h_prev.chunks_exact(self.units).zip(at) {
            self.h_prev.push(h);
            self.slots.push(slots[a]);
            self.at.push(a);
        }
    }

    /// dK += X^T dZ (with token rows: each row's dZ added to its token's sum in
    /// `grads.token_sums` instead), dU += H^T dZ, db += Σ dZ, dX rows = dZ K^T
    /// (scattered to `dx`, (samples, steps, features)); then empties the block. Sums
    /// kept transposed (narrow factors) reach `grads` in `finish`.
    pub fn fold_into(&mut self, grads: &mut WeightGrads, dx: &mut SampleRows, kernel_t: &PackedB) {
        let (m, w, f) = (self.at.len(), self.width, self.features);
        if m > 0 {
            let dz = &self.dz[..m * w];
            if self.slots.is_empty() {
                self.x.add_product(dz, m, w, &mut grads.kernel);
            } else {
                add_rows_to_slots(dz, w, &self.slots, &mut grads.token_sums);
            }
            self.h_prev.add_product(dz, m, w, &mut grads.recurrent);
            column_sums(dz, m, w, w, &mut grads.bias, true);
            self.dx.resize(m * f, 0.0);
            packed_gemm::gemm(dz, w, kernel_t, &mut self.dx, f, m, false);
            for (row, &at) in self.dx.chunks(f).zip(&self.at) {
                dx.row(at).copy_from_slice(row);
            }
        }
        self.dz.clear();
        self.h_prev.clear();
        self.x.clear();
        self.at.clear();
        self.slots.clear();
    }

    /// The last `fold_into`, then the sums kept transposed added to `grads`.
    pub fn finish(&mut self, grads: &mut WeightGrads, dx: &mut SampleRows, kernel_t: &PackedB) {
        self.fold_into(grads, dx, kernel_t);
        self.x.finish(self.width, &mut grads.kernel);
        self.h_prev.finish(self.width, &mut grads.recurrent);
    }
}

crate::simd_fn! {
    /// `sums[slots[i]] += rows[i]` for each row of `width` values, in row order (in
    /// vector registers: compiled for the baseline target this loop was half of
    /// `fold_into` with LSTM(8)).
    fn add_rows_to_slots(rows: &[f32], width: usize, slots: &[u32], sums: &mut [f32]) {
        for (row, &s) in rows.chunks_exact(width).zip(slots) {
            let s = s as usize;
            sums[s * width..(s + 1) * width]
                .iter_mut()
                .zip(row)
                .for_each(|(a, b)| *a += b);
        }
    }
}

/// Where a block's input gradient goes: per sample of the block (in run order, see
/// `batch_order`), its (steps, features) rows, wherever the sample is in the batch's dX.
pub(crate) struct SampleRows<'a, 'b> {
    pub samples: &'a mut [&'b mut [f32]],
    pub steps: usize,
    pub features: usize,
}

impl SampleRows<'_, '_> {
    /// Row `at` = j * steps + t of the block: sample j's step t.
    pub fn row(&mut self, at: usize) -> &mut [f32] {
        let (j, t, f) = (at / self.steps, at % self.steps, self.features);
        &mut self.samples[j][t * f..(t + 1) * f]
    }
}

/// A (batch, steps, features) buffer's samples as slices, to fill through `SampleRows`.
pub(crate) fn samples_of(buf: &mut [f32], steps: usize, features: usize) -> Vec<&mut [f32]> {
    buf.chunks_mut((steps * features).max(1)).collect()
}

/// Reverses the time axis of a row-major (batch, steps, width) buffer in place: Keras's
/// `go_backwards` input (and mask) order, and the flip back of gradients and outputs.
pub(crate) fn reverse_steps<T>(buf: &mut [T], steps: usize, width: usize) {
    if steps < 2 || width == 0 {
        return;
    }
    for sample in buf.chunks_mut(steps * width) {
        for t in 0..steps / 2 {
            let (head, tail) = sample.split_at_mut((steps - 1 - t) * width);
            head[t * width..(t + 1) * width].swap_with_slice(&mut tail[..width]);
        }
    }
}

/// `x` (batch, steps, ...) with its time axis (1) reversed, as an owned standard-layout
/// array.
pub(crate) fn reversed_time(x: ndarray::ArrayViewD<'_, f32>) -> ArrayD<f32> {
    let mut y = x.as_standard_layout().into_owned();
    if y.ndim() >= 2 {
        let (steps, width) = (y.shape()[1], y.shape()[2..].iter().product());
        let buf = y.as_slice_mut().expect("standard layout");
        reverse_steps(buf, steps, width);
    }
    y
}

/// A layer's input gradient in input order: with `go_backwards` the layer computed it for
/// the reversed sequence it read.
pub(crate) fn in_input_order(go_backwards: bool, dx: ArrayD<f32>) -> ArrayD<f32> {
    if go_backwards {
        reversed_time(dx.view())
    } else {
        dx
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiled_transposed_add_matches_the_definition() {
        for (n, w) in [(1, 1), (5, 33), (16, 16), (17, 40), (128, 512), (100, 400)] {
            let t: Vec<f32> = (0..w * n).map(|v| v as f32 * 0.5).collect();
            let base: Vec<f32> = (0..n * w).map(|v| 1.0 - v as f32).collect();
            let mut grad = base.clone();
            add_transposed(&t, n, w, &mut grad);
            for i in 0..n {
                for q in 0..w {
                    assert_eq!(grad[i * w + q], base[i * w + q] + t[q * n + i], "{n}x{w}");
                }
            }
        }
    }

    #[test]
    fn runs_of_real_steps() {
        let r = |v: &[u8]| real_runs(&v.iter().map(|&b| b == 1).collect::<Vec<_>>());
        assert_eq!(r(&[]), vec![]);
        assert_eq!(r(&[0, 0]), vec![]);
        assert_eq!(r(&[1, 1, 0, 1]), vec![(0, 2), (3, 4)]);
        assert_eq!(r(&[0, 1, 1, 1]), vec![(1, 4)]);
    }

    /// Real rows get exactly `project_inputs`'s values, by runs (pre-padding) and by
    /// gathering (scattered gaps), across row blocks.
    #[test]
    fn active_projection_matches_the_full_one_on_real_rows() {
        let (rows, f, w) = (700, 5, 12);
        let mut rng = crate::rng::SeededRng::new(4);
        let x: Vec<f32> = (0..rows * f).map(|_| rng.uniform(-1.0, 1.0)).collect();
        let k: Vec<f32> = (0..f * w).map(|_| rng.uniform(-1.0, 1.0)).collect();
        let b: Vec<f32> = (0..w).map(|_| rng.uniform(-1.0, 1.0)).collect();
        let mut full = Vec::new();
        project_inputs(&x, rows, f, &k, w, Some(&b), &[], &mut full);
        let masks: [Vec<bool>; 2] = [
            (0..rows).map(|r| r % 100 >= 60).collect(), // pre-padded samples of 100
            (0..rows).map(|r| r % 3 == 0).collect(),    // scattered
        ];
        for mask in &masks {
            let mut part = vec![f32::NAN; rows * w];
            project_inputs(&x, rows, f, &k, w, Some(&b), mask, &mut part);
            for r in (0..rows).filter(|&r| mask[r]) {
                assert_eq!(
                    part[r * w..(r + 1) * w],
                    full[r * w..(r + 1) * w],
                    "row {r}"
                );
            }
        }
    }
}
