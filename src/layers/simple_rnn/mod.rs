//! Keras `SimpleRNN`: h_t = activation(x_t W + b + h_{t-1} U), kernel (input_dim, u),
//! recurrent_kernel (u, u), bias (u). Supports `recurrent_dropout` (Keras: one mask per
//! sequence on h_{t-1}).

use ndarray::{Array2, ArrayD};
use rayon::prelude::*;

pub mod reference;

use super::config::{LayerConfig, RecurrentArgs, SimpleRnnConfig};
use super::gate_dropout::{self as gd, GateMasks};
use super::recurrent::{self as rec, BlockMasks, CHUNK_ROWS};
use super::rnn::{self, Cell, CellKind, Recurrent};
use super::token_projection::{self as tp, TokenInput};
use super::{Activation, ForwardContext, LayerInput, Param};
use crate::error::{Error, Result};
use crate::kernels::{MatMut, MatRef, RowActivation, matmul, rnn_backward_row, rnn_forward_row};
use crate::rng::SeededRng;

/// Fully-connected recurrent layer (Keras 3 `keras.layers.SimpleRNN`).
#[allow(clippy::upper_case_acronyms)] // Keras's class name.
pub type SimpleRNN = Recurrent<SimpleRnnCell>;

/// The SimpleRNN cell: its buffers of the last forward pass, kept across batches to
/// avoid reallocation.
#[derive(Clone, Debug, Default)]
pub struct SimpleRnnCell {
    batch: usize,
    steps: usize,
    ready: bool,
    x: Vec<f32>,
    mask: Option<Vec<f32>>,
    /// Step mask (batch, steps), true = real step; empty = none.
    step_mask: Vec<bool>,
    /// Recurrent dropout mask (batch, u), entries 0 or 1 / (1 - rate).
    recurrent_mask: Option<Vec<f32>>,
    /// Outputs h_t (batch, steps, u); first the pre-activations, activated in place.
    hs: Vec<f32>,
    dpre: Vec<f32>,
    hp: Vec<f32>,
}

impl SimpleRNN {
    /// The time loops over `cache.hs` (holding every step's input projection), then the
    /// output; `training` keeps the caches for `backward`.
    fn time_loops(&mut self, batch: usize, steps: usize, training: bool) -> Result<ArrayD<f32>> {
        let (name, u) = (&self.name, self.config.units);
        let act = RowActivation::from(self.config.activation);
        let recurrent = rec::values(name, &self.params[1])?;
        let cache = &mut self.cell;
        let rmask = cache.recurrent_mask.as_deref();
        let step_mask = &cache.step_mask;
        cache
            .hs
            .par_chunks_mut(CHUNK_ROWS * steps * u)
            .enumerate()
            .for_each(|(ci, hs)| {
                let rm = rmask.map(|m| &m[ci * CHUNK_ROWS * u..][..hs.len() / steps]);
                let sm = BlockMasks::of_block(&[], step_mask, ci, steps).steps;
                simd_chunk_forward(hs, recurrent, (rm, sm), act, steps, u)
            });
        cache.batch = batch;
        cache.steps = steps;
        cache.ready = training;
        Ok(rec::collect_output(
            &cache.hs,
            batch,
            steps,
            u,
            self.config.return_sequences,
        ))
    }
}

impl Cell for SimpleRnnCell {
    type Config = SimpleRnnConfig;
    const CLASS_NAME: &'static str = "SimpleRNN";
    const DEFAULT_NAME: &'static str = "simple_rnn";
    const GATES: usize = 1;

    fn default_config(units: usize) -> SimpleRnnConfig {
        SimpleRnnConfig {
            common: RecurrentArgs::new(units),
        }
    }

    fn layer_config(config: SimpleRnnConfig) -> LayerConfig {
        LayerConfig::SimpleRnn(config)
    }

    fn validate(c: &SimpleRnnConfig, layer: &str) -> Result<()> {
        if c.activation == Activation::Softmax {
            return Err(Error::Unsupported(format!(
                "{layer}: activation='softmax' is not element-wise; use tanh, relu, sigmoid \
                 or linear"
            )));
        }
        Ok(())
    }

    fn init_params(
        c: &SimpleRnnConfig,
        layer: &str,
        f: usize,
        rng: &mut SeededRng,
    ) -> Result<Vec<Param>> {
        let u = c.units;
        let mut params = rnn::init_kernels(c, layer, f, 1, rng)?;
        if c.use_bias {
            let bias = (c.bias_initializer).init_for(layer, "bias_initializer", &[u], rng)?;
            params.push(Param::new("bias", bias));
        }
        Ok(params)
    }

    fn kind(c: &SimpleRnnConfig) -> CellKind {
        CellKind::Simple(c.activation)
    }

    fn ready(&self) -> bool {
        self.ready
    }

    fn forward(
        layer: &mut SimpleRNN,
        input: LayerInput<'_>,
        ctx: &mut ForwardContext<'_>,
    ) -> Result<ArrayD<f32>> {
        let (name, f, u) = (&layer.name, layer.input_dim, layer.config.units);
        let cache = &mut layer.cell;
        cache.ready = false;
        let (batch, steps) = rec::load_sequence(name, &input, f, &mut cache.x)?;
        cache.step_mask = rec::step_mask(name, ctx.mask, batch, steps)?;
        if layer.config.go_backwards {
            // Keras go_backwards: the loop reads the reversed sequence and mask.
            rec::reverse_steps(&mut cache.x, steps, f);
            rec::reverse_steps(&mut cache.step_mask, steps, 1);
        }
        cache.mask = None;
        cache.recurrent_mask = None;
        if ctx.training && layer.config.dropout > 0.0 {
            let mask = rec::draw_mask(ctx.rng, layer.config.dropout, batch, f);
            rec::apply_mask(&mut cache.x, &mask, steps, f);
            cache.mask = Some(mask);
        }
        if ctx.training && layer.config.recurrent_dropout > 0.0 {
            let rate = layer.config.recurrent_dropout;
            cache.recurrent_mask = Some(rec::draw_mask(ctx.rng, rate, batch, u));
        }
        let (kernel, _, bias) = rnn::weights(name, &layer.params)?;
        rec::project_inputs(
            &cache.x,
            batch * steps,
            f,
            kernel,
            u,
            bias,
            &[],
            &mut cache.hs,
        );
        layer.time_loops(batch, steps, ctx.training)
    }

    fn infer_tokens(
        layer: &mut SimpleRNN,
        tokens: TokenInput<'_>,
        mask: Option<&Array2<bool>>,
    ) -> Result<ArrayD<f32>> {
        let (name, f, u) = (&layer.name, layer.input_dim, layer.config.units);
        let (batch, steps) = (tokens.batch, tokens.steps);
        let cache = &mut layer.cell;
        cache.ready = false;
        cache.step_mask = rec::step_mask(name, mask, batch, steps)?;
        cache.mask = None;
        cache.recurrent_mask = None;
        let (kernel, _, bias) = rnn::weights(name, &layer.params)?;
        let project = |x: &[f32], n: usize, out: &mut Vec<f32>| {
            rec::project_inputs(x, n, f, kernel, u, bias, &[], out)
        };
        let table = layer.tokens.update(&tokens, kernel, u, bias, project);
        // Every row, as `project_inputs` writes them (the loop reads masked ones too).
        tp::gather_projected(&tokens, table, u, &[], &mut cache.hs);
        layer.time_loops(batch, steps, false)
    }

    fn backward(layer: &mut SimpleRNN, grad_output: ArrayD<f32>) -> Result<ArrayD<f32>> {
        let (name, f, u) = (&layer.name, layer.input_dim, layer.config.units);
        let act = RowActivation::from(layer.config.activation);
        let seq = layer.config.return_sequences;
        let cache = &mut layer.cell;
        let (batch, steps) = (cache.batch, cache.steps);
        let dy = rec::grad_output_slice(name, &grad_output, batch, steps, u, seq)?;
        let recurrent = rec::values(name, &layer.params[1])?;
        cache.dpre.resize(batch * steps * u, 0.0);
        let rows_u = CHUNK_ROWS * steps * u;
        let dy_rows = if seq { rows_u } else { CHUNK_ROWS * u };
        let rmask = cache.recurrent_mask.as_deref();
        let step_mask = &cache.step_mask;
        cache
            .dpre
            .par_chunks_mut(rows_u)
            .zip(cache.hs.par_chunks(rows_u))
            .zip(dy.par_chunks(dy_rows))
            .enumerate()
            .for_each(|(ci, ((dp, hs), dy))| {
                let rm = rmask.map(|m| &m[ci * CHUNK_ROWS * u..][..hs.len() / steps]);
                let sm = BlockMasks::of_block(&[], step_mask, ci, steps).steps;
                chunk_backward(dp, hs, dy, recurrent, (rm, sm), act, steps, u, seq)
            });
        let rows = batch * steps;
        let (kp, rest) = layer.params.split_at_mut(1);
        let (rp, bp) = rest.split_at_mut(1);
        let (kernel, kg) = rec::value_and_grad(name, &mut kp[0])?;
        let (x, mask, dims) = (&cache.x, cache.mask.as_deref(), (batch, steps, f, u));
        let no_gates = GateMasks::default();
        let dx = gd::input_and_kernel_grads(&no_gates, x, mask, &cache.dpre, kernel, dims, kg);
        rec::shift_states(&cache.hs, steps, u, &mut cache.hp);
        if let Some(m) = rmask {
            rec::apply_mask(&mut cache.hp, m, steps, u);
        }
        let rg = rec::grads_mut(name, &mut rp[0])?;
        rec::weight_grad(
            &cache.hp,
            u,
            u,
            &cache.dpre,
            u,
            u,
            rows,
            MatMut::new(rg, u, u),
        );
        if let Some(b) = bp.first_mut() {
            rec::bias_grad(&cache.dpre, rows, u, rec::grads_mut(name, b)?);
        }
        Ok(dx)
    }
}

// Compiled for the CPU's widest vectors, so the activations vectorise (see `simd_fn!`).
crate::simd_fn! {
    fn simd_chunk_forward(
        hs: &mut [f32],
        recurrent: &[f32],
        masks: (Option<&[f32]>, &[bool]),
        act: RowActivation,
        steps: usize,
        u: usize,
    ) {
        chunk_forward(hs, recurrent, masks, act, steps, u)
    }
}

/// Time loop for one block of samples. `hs` holds the input projections and becomes
/// the outputs; `state` is h_{t-1} (times the recurrent mask), contiguous for the
/// product because the previous and current step interleave in `hs`. Rows whose step
/// is masked (`smask` false) keep their previous state.
#[inline(always)]
fn chunk_forward(
    hs: &mut [f32],
    recurrent: &[f32],
    (rmask, smask): (Option<&[f32]>, &[bool]),
    act: RowActivation,
    steps: usize,
    u: usize,
) {
    let rows = hs.len() / (steps * u);
    let mut state = vec![0.0f32; rows * u];
    for t in 0..steps {
        if t > 0 {
            matmul(
                MatRef::new(&state, rows, u),
                MatRef::new(recurrent, u, u),
                1.0,
                MatMut::strided(&mut hs[t * u..], rows, u, steps * u),
            );
        }
        for (j, s) in state.chunks_mut(u).enumerate() {
            let at = j * steps + t;
            if !smask.is_empty() && !smask[j * steps + t] {
                rec::carry_state(hs, j, t, steps, u);
                continue;
            }
            let h = &mut hs[at * u..(at + 1) * u];
            rnn_forward_row(act, h);
            s.copy_from_slice(h);
            if let Some(m) = rmask {
                s.iter_mut()
                    .zip(&m[j * u..(j + 1) * u])
                    .for_each(|(v, k)| *v *= k);
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn chunk_backward(
    dpre: &mut [f32],
    hs: &[f32],
    dy: &[f32],
    recurrent: &[f32],
    (rmask, smask): (Option<&[f32]>, &[bool]),
    act: RowActivation,
    steps: usize,
    u: usize,
    seq: bool,
) {
    let rows = hs.len() / (steps * u);
    let mut dh = vec![0.0f32; rows * u];
    let mut dh_new = vec![0.0f32; rows * u];
    let skips = |j: usize, t: usize| !smask.is_empty() && !smask[j * steps + t];
    for t in (0..steps).rev() {
        for (j, dhj) in dh.chunks_mut(u).enumerate() {
            if let Some(d) = rec::output_grad_at(dy, j, t, steps, u, seq) {
                dhj.iter_mut().zip(d).for_each(|(a, b)| *a += b);
            }
            let at = j * steps + t;
            let dp = &mut dpre[at * u..(at + 1) * u];
            if skips(j, t) {
                dp.fill(0.0);
            } else {
                rnn_backward_row(act, &hs[at * u..(at + 1) * u], dhj, dp);
            }
        }
        if t == 0 {
            break;
        }
        matmul(
            MatRef::strided(&dpre[t * u..], rows, u, steps * u),
            MatRef::new(recurrent, u, u).t(),
            0.0,
            MatMut::new(&mut dh_new, rows, u),
        );
        if let Some(m) = rmask {
            dh_new.iter_mut().zip(m).for_each(|(v, k)| *v *= k);
        }
        for (j, (d, n)) in dh.chunks_mut(u).zip(dh_new.chunks(u)).enumerate() {
            if !skips(j, t) {
                d.copy_from_slice(n);
            }
        }
    }
}
