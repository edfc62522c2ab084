//! Keras's "implementation 1" dropout, which Keras switches to whenever
//! `recurrent_dropout > 0` in LSTM and GRU: every gate block gets its own mask per
//! sequence, for the input (when `dropout > 0`) and for h_{t-1}. The products then run
//! once per gate block instead of once for all gates.

use ndarray::{ArrayD, IxDyn};

use super::Param;
use super::recurrent::{
    apply_mask, draw_mask, grads_mut, input_grad, shift_states, value_and_grad, weight_grad,
};
use crate::error::Result;
use crate::kernels::{MatMut, MatRef, matmul};
use crate::rng::SeededRng;

/// Per-gate masks of one forward pass; empty vectors mean "no mask of that kind".
#[derive(Clone, Debug, Default)]
pub(crate) struct GateMasks {
    /// `gates` masks (batch, features) on the input.
    pub input: Vec<Vec<f32>>,
    /// `gates` masks (batch, units) on h_{t-1}.
    pub recurrent: Vec<Vec<f32>>,
    /// The input after each input mask, (batch, steps, features) each.
    pub inputs: Vec<Vec<f32>>,
}

impl GateMasks {
    /// Draws Keras's masks: first the input masks (if `dropout > 0`), then the
    /// recurrent ones, on the calling thread.
    #[allow(clippy::too_many_arguments)]
    pub fn draw(
        rng: &mut SeededRng,
        gates: usize,
        dropout: f32,
        recurrent_dropout: f32,
        x: &[f32],
        batch: usize,
        steps: usize,
        features: usize,
        units: usize,
    ) -> Self {
        let input: Vec<Vec<f32>> = if dropout > 0.0 {
            (0..gates)
                .map(|_| draw_mask(rng, dropout, batch, features))
                .collect()
        } else {
            Vec::new()
        };
        let recurrent = (0..gates)
            .map(|_| draw_mask(rng, recurrent_dropout, batch, units))
            .collect();
        let inputs = input
            .iter()
            .map(|m| {
                let mut xg = x.to_vec();
                apply_mask(&mut xg, m, steps, features);
                xg
            })
            .collect();
        GateMasks {
            input,
            recurrent,
            inputs,
        }
    }

    pub fn per_gate_inputs(&self) -> bool {
        !self.inputs.is_empty()
    }
}

/// dX, and the gradient buffers of the recurrent kernel and of the bias (if any).
pub(crate) type InputGrads<'p> = (ArrayD<f32>, &'p mut [f32], Option<&'p mut [f32]>);

/// The start of a recurrent cell's weight gradients once its time loops wrote `dgates`:
/// dX and dK (`input_and_kernel_grads`), h_{t-1} shifted from `hs` into `hp` for dU, and
/// the gradient buffers of the recurrent kernel and of the bias (if any), which the cell
/// fills with its own products. Errors name `layer`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn input_grads_and_buffers<'p>(
    layer: &str,
    params: &'p mut [Param],
    masks: &GateMasks,
    x: &[f32],
    mask: Option<&[f32]>,
    dgates: &[f32],
    (hs, hp): (&[f32], &mut Vec<f32>),
    dims: (usize, usize, usize, usize),
) -> Result<InputGrads<'p>> {
    let (kp, rest) = params.split_at_mut(1);
    let (rp, bp) = rest.split_at_mut(1);
    let (kernel, kg) = value_and_grad(layer, &mut kp[0])?;
    let dx = input_and_kernel_grads(masks, x, mask, dgates, kernel, dims, kg);
    shift_states(hs, dims.1, dims.3, hp);
    let rg = grads_mut(layer, &mut rp[0])?;
    let bg = match bp.first_mut() {
        Some(b) => Some(grads_mut(layer, b)?),
        None => None,
    };
    Ok((dx, rg, bg))
}

/// After a backward's time loops wrote the gate gradients `dgates` (batch, steps, width):
/// dX (batch, steps, features) = dGates · Kᵀ, times the input dropout `mask`, and dK =
/// Xᵀ · dGates into `kernel_grad`; per gate block where each gate saw its own masked
/// input (`masks`, Keras's gate dropout), else one product each.
#[allow(clippy::too_many_arguments)]
pub(crate) fn input_and_kernel_grads(
    masks: &GateMasks,
    x: &[f32],
    mask: Option<&[f32]>,
    dgates: &[f32],
    kernel: &[f32],
    (batch, steps, features, units): (usize, usize, usize, usize),
    kernel_grad: &mut [f32],
) -> ArrayD<f32> {
    let (rows, f) = (batch * steps, features);
    let width = dgates.len() / rows.max(1);
    if masks.per_gate_inputs() {
        kernel_grad_per_gate(&masks.inputs, rows, f, dgates, units, kernel_grad);
        let dx = input_grad_per_gate(&masks.input, dgates, kernel, units, steps, f);
        return ArrayD::from_shape_vec(IxDyn(&[batch, steps, f]), dx)
            .expect("batch*steps*features");
    }
    let dk = MatMut::new(kernel_grad, f, width);
    weight_grad(x, f, f, dgates, width, width, rows, dk);
    input_grad(dgates, kernel, width, batch, steps, f, mask)
}

/// `out` (rows, gates * u) = Σ blocks: (x ∘ m_g) · K[:, block g] + bias block g.
pub(crate) fn project_inputs_per_gate(
    inputs: &[Vec<f32>],
    rows: usize,
    features: usize,
    kernel: &[f32],
    units: usize,
    bias: Option<&[f32]>,
    out: &mut Vec<f32>,
) {
    let w = inputs.len() * units;
    out.clear();
    out.resize(rows * w, 0.0);
    if let Some(b) = bias {
        out.chunks_mut(w)
            .for_each(|row| row.copy_from_slice(&b[..w]));
    }
    let beta = if bias.is_some() { 1.0 } else { 0.0 };
    for (g, xg) in inputs.iter().enumerate() {
        matmul(
            MatRef::new(xg, rows, features),
            MatRef::strided(&kernel[g * units..], features, units, w),
            beta,
            MatMut::strided(&mut out[g * units..], rows, units, w),
        );
    }
}

/// dK[:, block g] = (x ∘ m_g)^T · dGates[:, block g].
pub(crate) fn kernel_grad_per_gate(
    inputs: &[Vec<f32>],
    rows: usize,
    features: usize,
    dgates: &[f32],
    units: usize,
    out: &mut [f32],
) {
    let w = inputs.len() * units;
    for (g, xg) in inputs.iter().enumerate() {
        gate_block_grad(xg, features, rows, dgates, g, units, w, out);
    }
}

/// out[:, block g] = xᵀ · dGates[:, block g] for `x` (rows, cols), both `w` wide.
#[allow(clippy::too_many_arguments)]
fn gate_block_grad(
    x: &[f32],
    cols: usize,
    rows: usize,
    dgates: &[f32],
    g: usize,
    units: usize,
    w: usize,
    out: &mut [f32],
) {
    let (dg, out) = (&dgates[g * units..], &mut out[g * units..]);
    weight_grad(
        x,
        cols,
        cols,
        dg,
        units,
        w,
        rows,
        MatMut::strided(out, cols, units, w),
    );
}

/// dX = Σ_g (dGates[:, block g] · K_g^T) ∘ m_g, (batch, steps, features).
pub(crate) fn input_grad_per_gate(
    masks: &[Vec<f32>],
    dgates: &[f32],
    kernel: &[f32],
    units: usize,
    steps: usize,
    features: usize,
) -> Vec<f32> {
    let w = masks.len() * units;
    let rows = dgates.len() / w;
    let mut dx = vec![0.0f32; rows * features];
    let mut tmp = vec![0.0f32; rows * features];
    for (g, m) in masks.iter().enumerate() {
        matmul(
            MatRef::strided(&dgates[g * units..], rows, units, w),
            MatRef::strided(&kernel[g * units..], features, units, w).t(),
            0.0,
            MatMut::new(&mut tmp, rows, features),
        );
        apply_mask(&mut tmp, m, steps, features);
        dx.iter_mut().zip(&tmp).for_each(|(a, b)| *a += b);
    }
    dx
}

/// One step's recurrent products with per-gate masks, for a block of `rows` samples
/// starting at sample `row0`: for each mask g, out[:, block g] = (h ∘ m_g) · U[:, block g]
/// (+ beta * out). `h` rows are `h_stride` apart; `scratch` holds rows * u values.
#[allow(clippy::too_many_arguments)]
pub(crate) fn recurrent_product(
    h: &[f32],
    h_stride: usize,
    rows: usize,
    units: usize,
    masks: &[Vec<f32>],
    row0: usize,
    recurrent: &[f32],
    w: usize,
    beta: f32,
    out: &mut [f32],
    out_stride: usize,
    scratch: &mut [f32],
) {
    let u = units;
    for (g, m) in masks.iter().enumerate() {
        for j in 0..rows {
            let (hj, mj) = (&h[j * h_stride..j * h_stride + u], &m[(row0 + j) * u..]);
            for ((s, &a), &b) in scratch[j * u..(j + 1) * u].iter_mut().zip(hj).zip(mj) {
                *s = a * b;
            }
        }
        matmul(
            MatRef::new(&scratch[..rows * u], rows, u),
            MatRef::strided(&recurrent[g * u..], u, u, w),
            beta,
            MatMut::strided(&mut out[g * u..], rows, u, out_stride),
        );
    }
}

/// Backward of `recurrent_product`: dh (rows, u) += Σ_g (dG[:, block g] · U_g^T) ∘ m_g.
#[allow(clippy::too_many_arguments)]
pub(crate) fn recurrent_product_grad(
    dg: &[f32],
    dg_stride: usize,
    rows: usize,
    units: usize,
    masks: &[Vec<f32>],
    row0: usize,
    recurrent: &[f32],
    w: usize,
    dh: &mut [f32],
    scratch: &mut [f32],
) {
    let u = units;
    for (g, m) in masks.iter().enumerate() {
        matmul(
            MatRef::strided(&dg[g * u..], rows, u, dg_stride),
            MatRef::strided(&recurrent[g * u..], u, u, w).t(),
            0.0,
            MatMut::new(&mut scratch[..rows * u], rows, u),
        );
        let m = &m[row0 * u..(row0 + rows) * u];
        for ((d, &s), &k) in dh.iter_mut().zip(&scratch[..rows * u]).zip(m) {
            *d += s * k;
        }
    }
}

/// dU[:, block g] = (h_prev ∘ m_g)^T · dG[:, block g] over all (batch * steps) rows;
/// `hp` is (batch, steps, u), `dgates` rows are `w` wide.
pub(crate) fn recurrent_grad_per_gate(
    hp: &[f32],
    steps: usize,
    units: usize,
    masks: &[Vec<f32>],
    dgates: &[f32],
    w: usize,
    out: &mut [f32],
) {
    let rows = hp.len() / units;
    let mut masked = vec![0.0f32; hp.len()];
    for (g, m) in masks.iter().enumerate() {
        masked.copy_from_slice(hp);
        apply_mask(&mut masked, m, steps, units);
        gate_block_grad(&masked, units, rows, dgates, g, units, w, out);
    }
}
