//! Keras `GRU`: kernel (input_dim, 3u), recurrent_kernel (u, 3u), gate order z, r, h;
//! h_t = z h_{t-1} + (1 - z) candidate. With `reset_after` (default) the bias is (2, 3u):
//! row 0 input bias, row 1 recurrent bias, and the reset gate multiplies the recurrent
//! product; without it the bias is (3u) and the reset gate multiplies h_{t-1} first.

use ndarray::{Array2, ArrayD};
use rayon::prelude::*;

use super::batch_order::BatchOrder;
use super::config::{GruConfig, LayerConfig};
use super::gate_dropout::{self as gd, GateMasks};
use super::recurrent::{self as rec, BlockMasks, CHUNK_ROWS};
use super::token_projection::{self as tp, TokenInput, TokenProjection};
use super::token_rows::InputTokens;
use super::{Activation, ForwardContext, Initializer, Layer, LayerInput, Param, Shape};
use crate::error::{Error, Result};
use crate::kernels::fast_math as fm;
use crate::kernels::small_gemm;
use crate::kernels::{
    MatMut, MatRef, gru_backward_row, gru_forward_row, gru_reset_before_backward_output_row,
    gru_reset_before_backward_reset_row, gru_reset_before_gates_row, gru_reset_before_output_row,
    matmul,
};
use crate::rng::SeededRng;

/// Gated recurrent unit layer (Keras 3 `keras.layers.GRU`).
#[allow(clippy::upper_case_acronyms)] // Keras's class name.
#[derive(Clone, Debug)]
pub struct GRU {
    config: GruConfig,
    name: String,
    input_dim: usize,
    /// kernel, recurrent_kernel, then bias if `use_bias`; empty until built.
    params: Vec<Param>,
    /// Step mask of the next forward's input (from Embedding(mask_zero=True)).
    input_mask: Option<Array2<bool>>,
    cache: Cache,
    /// Projected rows per token when an Embedding is folded in (inference only).
    tokens: Box<TokenProjection>,
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
    /// A GRU with `units` units and Keras's defaults (reset_after = true).
    pub fn new(units: usize) -> Self {
        Self::with_config(GruConfig {
            name: None,
            units,
            activation: Activation::Tanh,
            recurrent_activation: Activation::Sigmoid,
            use_bias: true,
            kernel_initializer: Initializer::GlorotUniform,
            recurrent_initializer: Initializer::Orthogonal,
            bias_initializer: Initializer::Zeros,
            dropout: 0.0,
            recurrent_dropout: 0.0,
            return_sequences: false,
            go_backwards: false,
            reset_after: true,
            input_shape: None,
        })
    }

    /// From a (deserialised) config, checking every argument.
    pub fn from_config(config: GruConfig) -> Result<Self> {
        let layer = Self::with_config(config);
        layer.validate()?;
        Ok(layer)
    }

    fn with_config(config: GruConfig) -> Self {
        let name = config.name.clone().unwrap_or_else(|| "gru".to_string());
        GRU {
            config,
            name,
            input_dim: 0,
            params: Vec::new(),
            input_mask: None,
            cache: Cache::default(),
            tokens: Box::default(),
        }
    }

    pub fn return_sequences(mut self, on: bool) -> Self {
        self.config.return_sequences = on;
        self
    }
    /// Keras `go_backwards`: process the sequence time-reversed.
    pub fn go_backwards(mut self, on: bool) -> Self {
        self.config.go_backwards = on;
        self
    }
    pub fn reset_after(mut self, on: bool) -> Self {
        self.config.reset_after = on;
        self
    }
    pub fn dropout(mut self, rate: f32) -> Self {
        self.config.dropout = rate;
        self
    }
    pub fn recurrent_dropout(mut self, rate: f32) -> Self {
        self.config.recurrent_dropout = rate;
        self
    }
    pub fn use_bias(mut self, on: bool) -> Self {
        self.config.use_bias = on;
        self
    }
    pub fn activation(mut self, a: Activation) -> Self {
        self.config.activation = a;
        self
    }
    pub fn recurrent_activation(mut self, a: Activation) -> Self {
        self.config.recurrent_activation = a;
        self
    }
    pub fn kernel_initializer(mut self, i: Initializer) -> Self {
        self.config.kernel_initializer = i;
        self
    }
    pub fn recurrent_initializer(mut self, i: Initializer) -> Self {
        self.config.recurrent_initializer = i;
        self
    }
    pub fn bias_initializer(mut self, i: Initializer) -> Self {
        self.config.bias_initializer = i;
        self
    }
    /// (time_steps, features) of the model input when this is the first layer.
    pub fn input_shape(mut self, shape: Vec<Option<usize>>) -> Self {
        self.config.input_shape = Some(shape);
        self
    }
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self.config.name = Some(self.name.clone());
        self
    }

    pub fn units(&self) -> usize {
        self.config.units
    }
    pub fn settings(&self) -> &GruConfig {
        &self.config
    }

    fn validate(&self) -> Result<()> {
        let c = &self.config;
        let ctx = format!("GRU '{}'", self.name);
        rec::validate_args(&ctx, c.units, c.dropout, c.recurrent_dropout)?;
        if c.activation != Activation::Tanh || c.recurrent_activation != Activation::Sigmoid {
            return Err(Error::Unsupported(format!(
                "{ctx}: only activation='tanh' with recurrent_activation='sigmoid' is \
                 implemented, got activation='{}', recurrent_activation='{}'",
                c.activation.name(),
                c.recurrent_activation.name()
            )));
        }

        Ok(())
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
        let cache = &mut self.cache;
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

impl Layer for GRU {
    fn class_name(&self) -> &'static str {
        "GRU"
    }
    fn default_name(&self) -> &'static str {
        "gru"
    }
    fn name(&self) -> &str {
        &self.name
    }
    fn set_name(&mut self, name: String) {
        self.config.name = Some(name.clone());
        self.name = name;
    }

    fn input_shape_hint(&self) -> Option<Shape> {
        self.config.input_shape.clone()
    }

    fn compute_output_shape(&self, input_shape: &[Option<usize>]) -> Result<Shape> {
        rec::output_shape(
            &self.name,
            input_shape,
            self.config.units,
            self.config.return_sequences,
        )
    }

    fn build(&mut self, input_shape: &[Option<usize>], rng: &mut SeededRng) -> Result<()> {
        self.validate()?;
        if self.is_built() {
            return Err(Error::State(format!(
                "layer '{}' is already built",
                self.name
            )));
        }
        let f = rec::input_features(&self.name, input_shape)?;
        let (u, c) = (self.config.units, &self.config);
        self.params = vec![
            Param::new("kernel", c.kernel_initializer.init(&[f, 3 * u], rng)),
            Param::new(
                "recurrent_kernel",
                c.recurrent_initializer.init(&[u, 3 * u], rng),
            ),
        ];
        if c.use_bias {
            let shape: &[usize] = if c.reset_after { &[2, 3 * u] } else { &[3 * u] };
            self.params
                .push(Param::new("bias", c.bias_initializer.init(shape, rng)));
        }
        self.input_dim = f;
        Ok(())
    }

    fn is_built(&self) -> bool {
        !self.params.is_empty()
    }

    fn forward(
        &mut self,
        input: LayerInput<'_>,
        ctx: &mut ForwardContext<'_>,
    ) -> Result<ArrayD<f32>> {
        if !self.is_built() {
            return Err(rec::not_built(&self.name));
        }
        let (name, f, u) = (&self.name, self.input_dim, self.config.units);
        let w = 3 * u;
        let cache = &mut self.cache;
        cache.ready = false;
        let (batch, steps) = rec::sequence_dims(name, &input, f)?;
        cache.step_mask = rec::step_mask(name, self.input_mask.as_ref(), batch, steps)?;
        // Masked batches run longest first (`batch_order`), the input loaded in that
        // order; not with recurrent dropout, whose per-gate masks are drawn per row of x.
        cache.order = if ctx.training && self.config.recurrent_dropout > 0.0 {
            BatchOrder::input_order()
        } else {
            BatchOrder::by_real_steps(&cache.step_mask, batch, steps)
        };
        let order = &cache.order;
        rec::load_sequence_in(name, &input, f, order, &mut cache.x)?;
        order.to_run_order(&mut cache.step_mask, steps, &mut Vec::new());
        cache.input_tokens.reorder(order, batch, steps);
        if self.config.go_backwards {
            // Keras go_backwards: the loop reads the reversed sequence and mask.
            rec::reverse_steps(&mut cache.x, steps, f);
            rec::reverse_steps(&mut cache.step_mask, steps, 1);
        }
        cache.mask = None;
        cache.gate_masks = GateMasks::default();
        if ctx.training && self.config.recurrent_dropout > 0.0 {
            let (rate, rrate) = (self.config.dropout, self.config.recurrent_dropout);
            cache.gate_masks =
                GateMasks::draw(ctx.rng, 3, rate, rrate, &cache.x, batch, steps, f, u);
        } else if ctx.training && self.config.dropout > 0.0 {
            // Drawn per sample in input order, whatever the run order; kept in run order
            // like the rest of the caches.
            let mut mask = rec::draw_mask(ctx.rng, self.config.dropout, batch, f);
            cache.order.to_run_order(&mut mask, f, &mut Vec::new());
            rec::apply_mask(&mut cache.x, &mask, steps, f);
            cache.mask = Some(mask);
        }
        let kernel = rec::values(name, &self.params[0])?;
        let input_bias = input_bias(name, &self.params, u)?;
        if cache.gate_masks.per_gate_inputs() {
            let (xs, rows) = (&cache.gate_masks.inputs, batch * steps);
            gd::project_inputs_per_gate(xs, rows, f, kernel, u, input_bias, &mut cache.gates);
        } else {
            // Rows looked up from an Embedding: one projection per distinct token.
            let usable = cache.mask.is_none() && !self.config.go_backwards;
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
        self.time_loops(batch, steps, ctx.training)
    }

    fn folds_embedding(&self, vocab: usize, dim: usize) -> bool {
        let width = 3 * self.config.units;
        self.is_built() && !self.config.go_backwards && tp::fits(vocab, dim, self.input_dim, width)
    }

    fn infer_tokens(&mut self, tokens: TokenInput<'_>) -> Result<ArrayD<f32>> {
        if !self.folds_embedding(tokens.vocab(), tokens.dim) {
            return Err(tp::not_foldable(&self.name));
        }
        let (name, u) = (&self.name, self.config.units);
        let w = 3 * u;
        let (batch, steps) = (tokens.batch, tokens.steps);
        let cache = &mut self.cache;
        cache.ready = false;
        cache.step_mask = rec::step_mask(name, self.input_mask.as_ref(), batch, steps)?;
        cache.order = BatchOrder::by_real_steps(&cache.step_mask, batch, steps);
        cache
            .order
            .to_run_order(&mut cache.step_mask, steps, &mut Vec::new());
        cache.mask = None;
        cache.gate_masks = GateMasks::default();
        let kernel = rec::values(name, &self.params[0])?;
        let input_bias = input_bias(name, &self.params, u)?;
        let f = self.input_dim;
        let project = |x: &[f32], n: usize, out: &mut Vec<f32>| {
            rec::project_inputs(x, n, f, kernel, w, input_bias, out)
        };
        let table = self.tokens.update(&tokens, kernel, w, input_bias, project);
        let mut tokens = tokens;
        if !cache.order.is_input_order() {
            let run_ids = &mut cache.run_ids;
            cache
                .order
                .copy_to_run_order(tokens.ids, steps, run_ids, |_| true);
            tokens.ids = run_ids;
        }
        tp::gather_projected(&tokens, table, w, &cache.step_mask, &mut cache.gates);
        self.time_loops(batch, steps, false)
    }

    fn backward(&mut self, grad_output: ArrayD<f32>) -> Result<Option<ArrayD<f32>>> {
        if !self.is_built() {
            return Err(rec::not_built(&self.name));
        }
        if !self.cache.ready {
            return Err(rec::no_forward(&self.name));
        }
        let (name, f, u) = (&self.name, self.input_dim, self.config.units);
        let w = 3 * u;
        let (seq, reset_after) = (self.config.return_sequences, self.config.reset_after);
        let cache = &mut self.cache;
        let (batch, steps) = (cache.batch, cache.steps);
        let mut dy = rec::grad_output_slice(name, &grad_output, batch, steps, u, seq)?;
        let dy_width = if seq { steps * u } else { u };
        cache.order.to_run_order(&mut dy, dy_width, &mut Vec::new());
        let recurrent = rec::values(name, &self.params[1])?;
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
        let kernel = rec::values(name, &self.params[0])?;
        let gm = &cache.gate_masks;
        let dx = if gm.per_gate_inputs() {
            let dx = gd::input_grad_per_gate(&gm.input, &cache.dgates, kernel, u, steps, f);
            ArrayD::from_shape_vec(ndarray::IxDyn(&[batch, steps, f]), dx)
                .expect("batch*steps*features")
        } else {
            rec::input_grad(
                &cache.dgates,
                kernel,
                w,
                batch,
                steps,
                f,
                cache.mask.as_deref(),
            )
        };
        let rows = batch * steps;
        rec::shift_states(&cache.hs, steps, u, &mut cache.hp);
        let (kp, rest) = self.params.split_at_mut(1);
        let (rp, bp) = rest.split_at_mut(1);
        let kg = rec::grads_mut(name, &mut kp[0])?;
        if gm.per_gate_inputs() {
            gd::kernel_grad_per_gate(&gm.inputs, rows, f, &cache.dgates, u, kg);
        } else {
            rec::weight_grad(
                &cache.x,
                f,
                f,
                &cache.dgates,
                w,
                w,
                rows,
                MatMut::new(kg, f, w),
            );
        }
        let rg = rec::grads_mut(name, &mut rp[0])?;
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
        if let Some(b) = bp.first_mut() {
            let bg = rec::grads_mut(name, b)?;
            rec::bias_grad(&cache.dgates, rows, w, &mut bg[..w]);
            if reset_after {
                rec::bias_grad(&cache.drec, rows, w, &mut bg[w..]);
            }
        }
        let dx = cache.order.array_to_input_order(dx);
        Ok(Some(rec::in_input_order(self.config.go_backwards, dx)))
    }

    fn compute_mask(
        &self,
        _input: &LayerInput<'_>,
        input_mask: Option<&Array2<bool>>,
    ) -> Option<Array2<bool>> {
        // Keras: the mask follows the sequence output and ends with the last state.
        input_mask.filter(|_| self.config.return_sequences).cloned()
    }

    fn set_input_mask(&mut self, mask: Option<Array2<bool>>) {
        self.input_mask = mask;
    }

    fn set_input_tokens(&mut self, tokens: Option<&[usize]>) {
        self.cache.input_tokens.set(tokens);
    }

    fn params(&self) -> Vec<&Param> {
        self.params.iter().collect()
    }
    fn params_mut(&mut self) -> Vec<&mut Param> {
        self.params.iter_mut().collect()
    }

    fn config(&self) -> serde_json::Value {
        let mut c = self.config.clone();
        c.name = Some(self.name.clone());
        serde_json::to_value(LayerConfig::Gru(c)).expect("configs serialise")
    }
}

/// What every block of samples shares in one pass.
struct Chunk<'a> {
    steps: usize,
    u: usize,
    recurrent: &'a [f32],
    /// U^T (3u x u) for the backward's per-step product (empty in forward).
    recurrent_t: &'a [f32],
    /// At least 3u zeros: the initial state and absent biases.
    zeros: &'a [f32],
    /// Per-gate recurrent dropout masks (batch, u) each, or none.
    rmasks: &'a [Vec<f32>],
    /// First sample of this block, to index the masks.
    row0: usize,
    /// This block's step mask (rows, steps); empty = no masking.
    step_mask: &'a [bool],
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
    fn simd_forward_reset_after(
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
    fn simd_forward_reset_before(chunk: &Chunk<'_>, gates: &mut [f32], hs: &mut [f32], rh: &mut [f32]) {
        chunk.forward_reset_before(gates, hs, rh)
    }
}

crate::simd_fn! {
    fn simd_backward_reset_after(
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
    fn simd_backward_reset_before(
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
