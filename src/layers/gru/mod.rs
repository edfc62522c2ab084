//! Keras `GRU`: kernel (input_dim, 3u), recurrent_kernel (u, 3u), gate order z, r, h;
//! h_t = z h_{t-1} + (1 - z) candidate. With `reset_after` (default) the bias is (2, 3u):
//! row 0 input bias, row 1 recurrent bias, and the reset gate multiplies the recurrent
//! product; without it the bias is (3u) and the reset gate multiplies h_{t-1} first.

use ndarray::{Array2, ArrayD};
use rayon::prelude::*;

mod loops;
pub mod reference;

use self::loops::{
    Chunk, simd_backward_reset_after, simd_backward_reset_before, simd_forward_reset_after,
    simd_forward_reset_before,
};
use super::batch_order::BatchOrder;
use super::config::{GruConfig, LayerConfig, RecurrentArgs};
use super::gate_dropout::{self as gd, GateMasks};
use super::recurrent::{self as rec, BlockMasks, CHUNK_ROWS};
use super::rnn::{self, Cell, CellKind, Recurrent};
use super::token_projection::{self as tp, TokenInput};
use super::token_rows::InputTokens;
use super::{Activation, ForwardContext, LayerInput, Param};
use crate::error::Result;
use crate::kernels::MatMut;
use crate::kernels::small_gemm;
use crate::rng::SeededRng;

/// Gated recurrent unit layer (Keras 3 `keras.layers.GRU`).
#[allow(clippy::upper_case_acronyms)] // Keras's class name.
pub type GRU = Recurrent<GruCell>;

/// The GRU cell; its caches are the buffers of the last forward pass.
#[derive(Clone, Debug, Default)]
pub struct GruCell {
    cache: Cache,
}

/// Buffers of the last forward pass, kept across batches to avoid reallocation.
#[derive(Clone, Debug, Default)]
struct Cache {
    batch: usize,
    steps: usize,
    ready: bool,
    /// Input (batch, steps, features) after dropout, in `order`.
    x: Vec<f32>,
    mask: Option<Vec<f32>>,
    /// The order the samples run in (the caches, masks and gradients are in it), and
    /// inference's token ids in that order.
    order: BatchOrder,
    run_ids: Vec<usize>,
    /// Step mask (batch, steps), true = real step; empty = none.
    step_mask: Vec<bool>,
    /// Per-gate masks, used instead of `mask` when recurrent_dropout > 0 (as Keras).
    gate_masks: GateMasks,
    /// Gate activations z, r, candidate (batch, steps, 3u).
    gates: Vec<f32>,
    /// Outputs h_t (batch, steps, u).
    hs: Vec<f32>,
    /// reset_after: h_{t-1} U_h + b_hh; reset_before: r * h_{t-1}; (batch, steps, u).
    rh: Vec<f32>,
    /// Gradients w.r.t. the input-side pre-activations (batch, steps, 3u).
    dgates: Vec<f32>,
    /// reset_after only: gradients w.r.t. h_{t-1} U + b_hh (batch, steps, 3u).
    drec: Vec<f32>,
    hp: Vec<f32>,
    /// Token ids of the input rows when it is an Embedding's output (`token_rows`).
    input_tokens: InputTokens,
}

impl GRU {
    rnn::config_builders! {
        reset_after: bool,
        recurrent_activation: Activation,
    }

    /// The time loops over `cache.gates` (the input projection of every real step),
    /// then the output; `training` keeps the caches for `backward`.
    fn time_loops(&mut self, batch: usize, steps: usize, training: bool) -> Result<ArrayD<f32>> {
        let (name, u) = (&self.name, self.config.units);
        let w = 3 * u;
        let reset_after = self.config.reset_after;
        let recurrent = rec::values(name, &self.params[1])?;
        let zeros = vec![0.0f32; w];
        // reset_after: bias row 1 goes into each step (row 0 is in the projection).
        let rec_bias = match self.params.get(2) {
            Some(p) if reset_after => &rec::values(name, p)?[w..],
            _ => &zeros[..],
        };
        let cache = &mut self.cell.cache;
        cache.hs.resize(batch * steps * u, 0.0);
        cache.rh.resize(batch * steps * u, 0.0);
        let rows_u = CHUNK_ROWS * steps * u;
        let rmasks = &cache.gate_masks.recurrent;
        let step_mask = &cache.step_mask;
        cache
            .gates
            .par_chunks_mut(CHUNK_ROWS * steps * w)
            .zip(cache.hs.par_chunks_mut(rows_u))
            .zip(cache.rh.par_chunks_mut(rows_u))
            .enumerate()
            .for_each(|(ci, ((g, hs), rh))| {
                let chunk = Chunk {
                    steps,
                    u,
                    recurrent,
                    recurrent_t: &[],
                    zeros: &zeros,
                    rmasks,
                    row0: ci * CHUNK_ROWS,
                    step_mask: BlockMasks::of_block(rmasks, step_mask, ci, steps).steps,
                };
                if reset_after {
                    simd_forward_reset_after(&chunk, g, hs, rh, rec_bias)
                } else {
                    simd_forward_reset_before(&chunk, g, hs, rh)
                }
            });
        cache.batch = batch;
        cache.steps = steps;
        cache.ready = training;
        let out = rec::collect_output(&cache.hs, batch, steps, u, self.config.return_sequences);
        Ok(cache.order.array_to_input_order(out))
    }
}

/// The bias of the input projection: the whole bias (3u), or its row 0 with
/// reset_after (row 1 is added inside each step).
fn input_bias<'a>(name: &str, params: &'a [Param], u: usize) -> Result<Option<&'a [f32]>> {
    match params.get(2) {
        Some(p) => Ok(Some(&rec::values(name, p)?[..3 * u])),
        None => Ok(None),
    }
}

impl Cell for GruCell {
    type Config = GruConfig;
    const CLASS_NAME: &'static str = "GRU";
    const DEFAULT_NAME: &'static str = "gru";
    const GATES: usize = 3;

    fn default_config(units: usize) -> GruConfig {
        GruConfig {
            common: RecurrentArgs::new(units),
            recurrent_activation: Activation::Sigmoid,
            reset_after: true,
        }
    }

    fn layer_config(config: GruConfig) -> LayerConfig {
        LayerConfig::Gru(config)
    }

    fn validate(c: &GruConfig, layer: &str) -> Result<()> {
        rnn::check_gate_activations(layer, c.activation, c.recurrent_activation)
    }

    fn init_params(
        c: &GruConfig,
        layer: &str,
        f: usize,
        rng: &mut SeededRng,
    ) -> Result<Vec<Param>> {
        let u = c.units;
        let mut params = rnn::init_kernels(c, layer, f, 3, rng)?;
        if c.use_bias {
            let shape: &[usize] = if c.reset_after { &[2, 3 * u] } else { &[3 * u] };
            let bias = (c.bias_initializer).init_for(layer, "bias_initializer", shape, rng)?;
            params.push(Param::new("bias", bias));
        }
        Ok(params)
    }

    fn kind(c: &GruConfig) -> CellKind {
        if c.reset_after {
            CellKind::GruResetAfter
        } else {
            CellKind::GruResetBefore
        }
    }

    fn ready(&self) -> bool {
        self.cache.ready
    }

    fn forward(
        layer: &mut GRU,
        input: LayerInput<'_>,
        ctx: &mut ForwardContext<'_>,
    ) -> Result<ArrayD<f32>> {
        let (name, f, u) = (&layer.name, layer.input_dim, layer.config.units);
        let w = 3 * u;
        let cache = &mut layer.cell.cache;
        cache.ready = false;
        cache.input_tokens.set(ctx.tokens);
        let (batch, steps) = rec::sequence_dims(name, &input, f)?;
        cache.step_mask = rec::step_mask(name, ctx.mask, batch, steps)?;
        // Masked batches run longest first (`batch_order`), the input loaded in that
        // order; not with recurrent dropout, whose per-gate masks are drawn per row of x.
        cache.order = if ctx.training && layer.config.recurrent_dropout > 0.0 {
            BatchOrder::input_order()
        } else {
            BatchOrder::by_real_steps(&cache.step_mask, batch, steps)
        };
        let order = &cache.order;
        rec::load_sequence_in(name, &input, f, order, &mut cache.x)?;
        order.to_run_order(&mut cache.step_mask, steps, &mut Vec::new());
        cache.input_tokens.reorder(order, batch, steps);
        if layer.config.go_backwards {
            // Keras go_backwards: the loop reads the reversed sequence and mask.
            rec::reverse_steps(&mut cache.x, steps, f);
            rec::reverse_steps(&mut cache.step_mask, steps, 1);
        }
        cache.mask = None;
        cache.gate_masks = GateMasks::default();
        if ctx.training && layer.config.recurrent_dropout > 0.0 {
            let (rate, rrate) = (layer.config.dropout, layer.config.recurrent_dropout);
            cache.gate_masks =
                GateMasks::draw(ctx.rng, 3, rate, rrate, &cache.x, batch, steps, f, u);
        } else if ctx.training && layer.config.dropout > 0.0 {
            // Drawn per sample in input order, whatever the run order; kept in run order
            // like the rest of the caches.
            let mut mask = rec::draw_mask(ctx.rng, layer.config.dropout, batch, f);
            cache.order.to_run_order(&mut mask, f, &mut Vec::new());
            rec::apply_mask(&mut cache.x, &mask, steps, f);
            cache.mask = Some(mask);
        }
        let kernel = rec::values(name, &layer.params[0])?;
        let input_bias = input_bias(name, &layer.params, u)?;
        if cache.gate_masks.per_gate_inputs() {
            let (xs, rows) = (&cache.gate_masks.inputs, batch * steps);
            gd::project_inputs_per_gate(xs, rows, f, kernel, u, input_bias, &mut cache.gates);
        } else {
            // Rows looked up from an Embedding: one projection per distinct token.
            let usable = cache.mask.is_none() && !layer.config.go_backwards;
            cache.input_tokens.project(
                usable,
                &cache.x,
                batch * steps,
                f,
                kernel,
                w,
                input_bias,
                &cache.step_mask,
                true,
                &mut cache.gates,
            );
        }
        layer.time_loops(batch, steps, ctx.training)
    }

    fn infer_tokens(
        layer: &mut GRU,
        tokens: TokenInput<'_>,
        mask: Option<&Array2<bool>>,
    ) -> Result<ArrayD<f32>> {
        let (name, u) = (&layer.name, layer.config.units);
        let w = 3 * u;
        let (batch, steps) = (tokens.batch, tokens.steps);
        let cache = &mut layer.cell.cache;
        cache.ready = false;
        cache.step_mask = rec::step_mask(name, mask, batch, steps)?;
        cache.order = BatchOrder::by_real_steps(&cache.step_mask, batch, steps);
        cache
            .order
            .to_run_order(&mut cache.step_mask, steps, &mut Vec::new());
        cache.mask = None;
        cache.gate_masks = GateMasks::default();
        let kernel = rec::values(name, &layer.params[0])?;
        let input_bias = input_bias(name, &layer.params, u)?;
        let f = layer.input_dim;
        let project = |x: &[f32], n: usize, out: &mut Vec<f32>| {
            rec::project_inputs(x, n, f, kernel, w, input_bias, &[], out)
        };
        let table = layer.tokens.update(&tokens, kernel, w, input_bias, project);
        let mut tokens = tokens;
        if !cache.order.is_input_order() {
            let run_ids = &mut cache.run_ids;
            cache
                .order
                .copy_to_run_order(tokens.ids, steps, run_ids, |_| true);
            tokens.ids = run_ids;
        }
        tp::gather_projected(&tokens, table, w, &cache.step_mask, &mut cache.gates);
        layer.time_loops(batch, steps, false)
    }

    fn backward(layer: &mut GRU, grad_output: ArrayD<f32>) -> Result<ArrayD<f32>> {
        let (name, f, u) = (&layer.name, layer.input_dim, layer.config.units);
        let w = 3 * u;
        let (seq, reset_after) = (layer.config.return_sequences, layer.config.reset_after);
        let cache = &mut layer.cell.cache;
        let (batch, steps) = (cache.batch, cache.steps);
        let mut dy = rec::grad_output_slice(name, &grad_output, batch, steps, u, seq)?;
        let dy_width = if seq { steps * u } else { u };
        cache.order.to_run_order(&mut dy, dy_width, &mut Vec::new());
        let recurrent = rec::values(name, &layer.params[1])?;
        cache.dgates.resize(batch * steps * w, 0.0);
        if reset_after {
            cache.drec.resize(batch * steps * w, 0.0);
        } else {
            cache.drec.clear();
        }
        let rows_u = CHUNK_ROWS * steps * u;
        let rows_w = CHUNK_ROWS * steps * w;
        let dy_rows = if seq { rows_u } else { CHUNK_ROWS * u };
        let zeros = vec![0.0f32; w];
        let rmasks = &cache.gate_masks.recurrent;
        let step_mask = &cache.step_mask;
        let mut recurrent_t = Vec::new();
        if reset_after && rmasks.is_empty() {
            small_gemm::transpose(recurrent, u, w, &mut recurrent_t);
        }
        let recurrent_t = &recurrent_t[..];
        let chunk = |ci: usize| Chunk {
            steps,
            u,
            recurrent,
            recurrent_t,
            zeros: &zeros,
            rmasks,
            row0: ci * CHUNK_ROWS,
            step_mask: BlockMasks::of_block(rmasks, step_mask, ci, steps).steps,
        };
        let work = cache
            .dgates
            .par_chunks_mut(rows_w)
            .zip(cache.gates.par_chunks(rows_w))
            .zip(cache.hs.par_chunks(rows_u))
            .zip(cache.rh.par_chunks(rows_u))
            .zip(dy.par_chunks(dy_rows))
            .enumerate();
        if reset_after {
            work.zip(cache.drec.par_chunks_mut(rows_w)).for_each(
                |((ci, ((((dg, g), hs), rh), dy)), dr)| {
                    simd_backward_reset_after(&chunk(ci), dg, dr, g, hs, rh, dy, seq)
                },
            );
        } else {
            work.for_each(|(ci, ((((dg, g), hs), _rh), dy))| {
                simd_backward_reset_before(&chunk(ci), dg, g, hs, dy, seq)
            });
        }
        let dx = input_and_weight_grads(name, &mut layer.params, cache, f, u, reset_after)?;
        Ok(cache.order.array_to_input_order(dx))
    }
}

/// After the time loops of `backward`: dX (in run order) from the gate gradients, and
/// the weight gradients written into `params`.
fn input_and_weight_grads(
    name: &str,
    params: &mut [Param],
    cache: &mut Cache,
    f: usize,
    u: usize,
    reset_after: bool,
) -> Result<ArrayD<f32>> {
    let (batch, steps, w) = (cache.batch, cache.steps, 3 * u);
    let rows = batch * steps;
    let gm = &cache.gate_masks;
    let (x, mask, dims) = (&cache.x, cache.mask.as_deref(), (batch, steps, f, u));
    let states = (&cache.hs[..], &mut cache.hp);
    let (dx, rg, bg) =
        gd::input_grads_and_buffers(name, params, gm, x, mask, &cache.dgates, states, dims)?;
    let rm = &gm.recurrent;
    if reset_after && rm.is_empty() {
        rec::weight_grad(
            &cache.hp,
            u,
            u,
            &cache.drec,
            w,
            w,
            rows,
            MatMut::new(rg, u, w),
        );
    } else if reset_after {
        gd::recurrent_grad_per_gate(&cache.hp, steps, u, rm, &cache.drec, w, rg);
    } else {
        // z, r columns see h_{t-1}; the candidate columns see r * h_{t-1} (its
        // recurrent mask already applied in forward).
        let dg = &cache.dgates;
        if rm.is_empty() {
            let out = MatMut::strided(rg, u, 2 * u, w);
            rec::weight_grad(&cache.hp, u, u, dg, 2 * u, w, rows, out);
        } else {
            gd::recurrent_grad_per_gate(&cache.hp, steps, u, &rm[..2], dg, w, rg);
        }
        let rg_h = MatMut::strided(&mut rg[2 * u..], u, u, w);
        rec::weight_grad(&cache.rh, u, u, &dg[2 * u..], u, w, rows, rg_h);
    }
    if let Some(bg) = bg {
        rec::bias_grad(&cache.dgates, rows, w, &mut bg[..w]);
        if reset_after {
            rec::bias_grad(&cache.drec, rows, w, &mut bg[w..]);
        }
    }
    Ok(dx)
}
