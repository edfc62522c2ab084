//! Keras `LSTM`: kernel (input_dim, 4u), recurrent_kernel (u, 4u), bias (4u), gate
//! order i, f, c, o; c_t = f c_{t-1} + i tanh(.), h_t = o tanh(c_t).

use ndarray::{Array2, ArrayD};
use rayon::prelude::*;

use super::batch_order::BatchOrder;
use super::config::{LayerConfig, LstmConfig};
use super::gate_dropout::{self as gd, GateMasks};
use super::lstm_one_sequence as one_sequence;
use super::lstm_step_major as step_major;

use super::recurrent::{self as rec, BlockMasks, CHUNK_ROWS};
use super::token_projection::{self as tp, TokenInput, TokenProjection};
use super::token_rows::InputTokens;
use super::{Activation, ForwardContext, Initializer, Layer, LayerInput, Param, Shape};
use crate::error::{Error, Result};
use crate::kernels::fast_math as fm;
use crate::kernels::packed_gemm::{self, PackedB};
use crate::kernels::prefetch::prefetch;
use crate::kernels::small_gemm;
use crate::kernels::{
    MatMut, MatRef, lstm_backward_row, lstm_forward_row, lstm_forward_rows, matmul,
};
use crate::rng::SeededRng;

/// Long short-term memory layer (Keras 3 `keras.layers.LSTM`).
#[allow(clippy::upper_case_acronyms)] // Keras's class name.
#[derive(Clone, Debug)]
pub struct LSTM {
    config: LstmConfig,
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
    /// Backward allowed: the last forward was in training mode.
    ready: bool,
    /// Input (batch, steps, features) after dropout, in `order`.
    x: Vec<f32>,
    /// The order the samples run in (the caches, masks and gradients are in it), and
    /// inference's token ids in that order.
    order: BatchOrder,
    run_ids: Vec<usize>,
    mask: Option<Vec<f32>>,
    /// Step mask (batch, steps), true = real step; empty = none.
    step_mask: Vec<bool>,
    /// How a single sequence's units are split between two threads at inference.
    balance: one_sequence::Balance,
    /// Per-gate masks, used instead of `mask` when recurrent_dropout > 0 (as Keras).
    gate_masks: GateMasks,
    /// Gate activations (batch, steps, 4u).
    gates: Vec<f32>,
    /// Cell states c_t, tanh(c_t) and outputs h_t, each (batch, steps, u).
    cs: Vec<f32>,
    tanh_c: Vec<f32>,
    hs: Vec<f32>,
    /// Backward scratch: pre-activation gradients (batch, steps, 4u), shifted states.
    dgates: Vec<f32>,
    hp: Vec<f32>,
    /// Token ids of the input rows when it is an Embedding's output (`token_rows`).
    input_tokens: InputTokens,
    /// The last training forward ran `lstm_step_major`: each block's (of
    /// `lstm_step_major::BLOCK_ROWS` samples, see `block_rows`) gates, cs, tanh_c and hs
    /// are step-major (and the gates gate-major), not sample-major.
    step_major: bool,
}

impl LSTM {
    /// An LSTM with `units` units and Keras's defaults.
    pub fn new(units: usize) -> Self {
        Self::with_config(LstmConfig {
            name: None,
            units,
            activation: Activation::Tanh,
            recurrent_activation: Activation::Sigmoid,
            use_bias: true,
            kernel_initializer: Initializer::GlorotUniform,
            recurrent_initializer: Initializer::Orthogonal,
            bias_initializer: Initializer::Zeros,
            unit_forget_bias: true,
            dropout: 0.0,
            recurrent_dropout: 0.0,
            return_sequences: false,
            go_backwards: false,
            input_shape: None,
        })
    }

    /// From a (deserialised) config, checking every argument.
    pub fn from_config(config: LstmConfig) -> Result<Self> {
        let layer = Self::with_config(config);
        layer.validate()?;
        Ok(layer)
    }

    fn with_config(config: LstmConfig) -> Self {
        let name = config.name.clone().unwrap_or_else(|| "lstm".to_string());
        LSTM {
            config,
            name,
            input_dim: 0,
            params: Vec::new(),
            input_mask: None,
            tokens: Box::default(),
            cache: Cache::default(),
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
    pub fn unit_forget_bias(mut self, on: bool) -> Self {
        self.config.unit_forget_bias = on;
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
    pub fn settings(&self) -> &LstmConfig {
        &self.config
    }

    fn validate(&self) -> Result<()> {
        let c = &self.config;
        let ctx = format!("LSTM '{}'", self.name);
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
}

impl Layer for LSTM {
    fn class_name(&self) -> &'static str {
        "LSTM"
    }
    fn default_name(&self) -> &'static str {
        "lstm"
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
        let kernel = c.kernel_initializer.init(&[f, 4 * u], rng);
        let recurrent = c.recurrent_initializer.init(&[u, 4 * u], rng);
        self.params = vec![
            Param::new("kernel", kernel),
            Param::new("recurrent_kernel", recurrent),
        ];
        if c.use_bias {
            let bias = if c.unit_forget_bias {
                // Keras: concat(init((u,)), ones((u,)), init((2u,))), in that draw order.
                let mut v = c
                    .bias_initializer
                    .init(&[u], rng)
                    .into_raw_vec_and_offset()
                    .0;
                v.extend(std::iter::repeat_n(1.0, u));
                v.extend(c.bias_initializer.init(&[2 * u], rng).iter());
                ArrayD::from_shape_vec(ndarray::IxDyn(&[4 * u]), v).expect("4u values")
            } else {
                c.bias_initializer.init(&[4 * u], rng)
            };
            self.params.push(Param::new("bias", bias));
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
        let w = 4 * u;
        let cache = &mut self.cache;
        cache.ready = false;
        let (batch, steps) = rec::sequence_dims(name, &input, f)?;
        cache.step_mask = rec::step_mask(name, self.input_mask.as_ref(), batch, steps)?;
        // Masked batches run longest first (`batch_order`), the input loaded in that
        // order; not with recurrent dropout, whose per-gate masks are drawn per row of x.
        let order = if ctx.training && self.config.recurrent_dropout > 0.0 {
            BatchOrder::input_order()
        } else {
            BatchOrder::by_real_steps(&cache.step_mask, batch, steps)
        };
        rec::load_sequence_in(name, &input, f, &order, &mut cache.x)?;
        order.to_run_order(&mut cache.step_mask, steps, &mut Vec::new());
        cache.input_tokens.reorder(&order, batch, steps);
        if self.config.go_backwards {
            // Keras go_backwards: the loop reads the reversed sequence and mask.
            rec::reverse_steps(&mut cache.x, steps, f);
            rec::reverse_steps(&mut cache.step_mask, steps, 1);
        }
        cache.mask = None;
        cache.input_tokens.folded = false;
        cache.gate_masks = GateMasks::default();
        if ctx.training && self.config.recurrent_dropout > 0.0 {
            let (rate, rrate) = (self.config.dropout, self.config.recurrent_dropout);
            cache.gate_masks =
                GateMasks::draw(ctx.rng, 4, rate, rrate, &cache.x, batch, steps, f, u);
        } else if ctx.training && self.config.dropout > 0.0 {
            // Drawn per sample in input order, whatever the run order, and kept so for
            // dX (which the time loops write in input order).
            let mask = rec::draw_mask(ctx.rng, self.config.dropout, batch, f);
            let mut in_run_order = mask.clone();
            order.to_run_order(&mut in_run_order, f, &mut Vec::new());
            rec::apply_mask(&mut cache.x, &in_run_order, steps, f);
            cache.mask = Some(mask);
        }
        cache.order = order;
        let kernel = rec::values(name, &self.params[0])?;
        let recurrent = rec::values(name, &self.params[1])?;
        let bias = match self.params.get(2) {
            Some(p) => Some(rec::values(name, p)?),
            None => None,
        };
        if !ctx.training {
            // Inference keeps no per-step caches: the output is all it needs.
            let seq = self.config.return_sequences;
            let inputs = StepInputs::Features {
                x: &cache.x,
                f,
                kernel,
                bias,
            };
            let balance = &mut cache.balance;
            let out = infer(
                inputs,
                &cache.step_mask,
                batch,
                steps,
                (u, seq),
                recurrent,
                balance,
            );
            let mut out = out;
            cache
                .order
                .to_input_order(&mut out, if seq { steps * u } else { u });
            return Ok(rec::output_array(out, batch, steps, u, seq));
        }
        if cache.gate_masks.per_gate_inputs() {
            let xs = &cache.gate_masks.inputs;
            gd::project_inputs_per_gate(xs, batch * steps, f, kernel, u, bias, &mut cache.gates);
        } else {
            // Rows looked up from an Embedding: one projection per distinct token.
            // The time loop reads them from there (without recurrent dropout masks).
            let usable = cache.mask.is_none() && !self.config.go_backwards;
            let fill = !cache.gate_masks.recurrent.is_empty();
            cache.input_tokens.project(
                usable,
                &cache.x,
                batch * steps,
                f,
                kernel,
                w,
                bias,
                &cache.step_mask,
                fill,
                &mut cache.gates,
            );
        }
        for buf in [&mut cache.cs, &mut cache.tanh_c, &mut cache.hs] {
            buf.resize(batch * steps * u, 0.0);
        }
        let zeros = vec![0.0f32; u];
        let rmasks = &cache.gate_masks.recurrent;
        cache.step_major = u < step_major::MAX_UNITS
            && rmasks.is_empty()
            && !cache.gate_masks.per_gate_inputs()
            && cache.step_mask.iter().all(|&real| real);
        let step_major = cache.step_major;
        let block = block_rows(step_major);
        let rows_u = block * steps * u;
        let tokens = &cache.input_tokens;
        let rows = block * steps;
        let token_rows = |ci: usize| {
            let (rows_of, table) = (&tokens.rows, tokens.rows.projected());
            (tokens.folded && rmasks.is_empty()).then(|| (rows_of.block_slots(ci, rows), table))
        };
        // U packed once per batch for the row loops' per-step products.
        let mut packed_u = PackedB::new();
        if !step_major {
            packed_u.pack(recurrent, w, u, w);
        }
        let packed_u = &packed_u;
        cache
            .gates
            .par_chunks_mut(block * steps * w)
            .zip(cache.cs.par_chunks_mut(rows_u))
            .zip(cache.tanh_c.par_chunks_mut(rows_u))
            .zip(cache.hs.par_chunks_mut(rows_u))
            .enumerate()
            .for_each(|(ci, (((g, cs), tc), hs))| {
                if step_major {
                    let projected = match token_rows(ci) {
                        Some((slots, table)) => step_major::Projected::Tokens { slots, table },
                        None => step_major::Projected::InGates,
                    };
                    simd_step_major_forward(g, cs, tc, hs, projected, recurrent, steps, u)
                } else {
                    let masks = BlockMasks::of_block(rmasks, &cache.step_mask, ci, steps);
                    let inputs = token_rows(ci);
                    let weights = (recurrent, packed_u);
                    simd_chunk_forward(g, cs, tc, hs, inputs, weights, masks, steps, u, &zeros)
                }
            });
        cache.batch = batch;
        cache.steps = steps;
        cache.ready = ctx.training;
        let seq = self.config.return_sequences;
        let out = if step_major {
            step_major::collect_output(&cache.hs, batch, steps, u, seq, block)
        } else {
            rec::collect_output(&cache.hs, batch, steps, u, seq)
        };
        Ok(cache.order.array_to_input_order(out))
    }

    fn backward(&mut self, grad_output: ArrayD<f32>) -> Result<Option<ArrayD<f32>>> {
        if !self.is_built() {
            return Err(rec::not_built(&self.name));
        }
        if !self.cache.ready {
            return Err(rec::no_forward(&self.name));
        }
        let (name, f, u) = (&self.name, self.input_dim, self.config.units);
        let w = 4 * u;
        let seq = self.config.return_sequences;
        let cache = &mut self.cache;
        let (batch, steps) = (cache.batch, cache.steps);
        let mut dy = rec::grad_output_slice(name, &grad_output, batch, steps, u, seq)?;
        let dy_width = if seq { steps * u } else { u };
        cache.order.to_run_order(&mut dy, dy_width, &mut Vec::new());
        if cache.gate_masks.recurrent.is_empty() && !cache.gate_masks.per_gate_inputs() {
            let kernel = rec::values(name, &self.params[0])?;
            let recurrent = rec::values(name, &self.params[1])?;
            let (dx, grads) = fused_backward(cache, &dy, kernel, recurrent, f, u, seq);
            let (kp, rest) = self.params.split_at_mut(1);
            let (rp, bp) = rest.split_at_mut(1);
            rec::grads_mut(name, &mut kp[0])?.copy_from_slice(&grads.kernel);
            rec::grads_mut(name, &mut rp[0])?.copy_from_slice(&grads.recurrent);
            if let Some(b) = bp.first_mut() {
                rec::grads_mut(name, b)?.copy_from_slice(&grads.bias);
            }
            return Ok(Some(rec::in_input_order(self.config.go_backwards, dx)));
        }
        let recurrent = rec::values(name, &self.params[1])?;
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
        if gm.recurrent.is_empty() {
            rec::weight_grad(
                &cache.hp,
                u,
                u,
                &cache.dgates,
                w,
                w,
                rows,
                MatMut::new(rg, u, w),
            );
        } else {
            gd::recurrent_grad_per_gate(&cache.hp, steps, u, &gm.recurrent, &cache.dgates, w, rg);
        }
        if let Some(b) = bp.first_mut() {
            rec::bias_grad(&cache.dgates, rows, w, rec::grads_mut(name, b)?);
        }
        let dx = cache.order.array_to_input_order(dx);
        Ok(Some(rec::in_input_order(self.config.go_backwards, dx)))
    }

    fn folds_embedding(&self, vocab: usize, dim: usize) -> bool {
        let width = 4 * self.config.units;
        self.is_built() && !self.config.go_backwards && tp::fits(vocab, dim, self.input_dim, width)
    }

    fn infer_tokens(&mut self, tokens: TokenInput<'_>) -> Result<ArrayD<f32>> {
        if !self.folds_embedding(tokens.vocab(), tokens.dim) {
            return Err(tp::not_foldable(&self.name));
        }
        let (name, u, seq) = (&self.name, self.config.units, self.config.return_sequences);
        let input_dim = self.input_dim;
        let (batch, steps) = (tokens.batch, tokens.steps);
        self.cache.ready = false;
        self.cache.step_mask = rec::step_mask(name, self.input_mask.as_ref(), batch, steps)?;
        let order = BatchOrder::by_real_steps(&self.cache.step_mask, batch, steps);
        order.to_run_order(&mut self.cache.step_mask, steps, &mut Vec::new());
        // In run order, into a buffer kept across calls (a batch of IMDB ids is 1 MB).
        let ids = if order.is_input_order() {
            tokens.ids
        } else {
            let run_ids = &mut self.cache.run_ids;
            order.copy_to_run_order(tokens.ids, steps, run_ids, |_| true);
            &run_ids[..]
        };
        let kernel = rec::values(name, &self.params[0])?;
        let recurrent = rec::values(name, &self.params[1])?;
        let bias = match self.params.get(2) {
            Some(p) => Some(rec::values(name, p)?),
            None => None,
        };
        let w = 4 * u;
        // The product of the unfolded steps (`chunk_infer`), for bit-identical rows.
        let project = |x: &[f32], n: usize, out: &mut Vec<f32>| {
            out.resize(n * w, 0.0);
            if n < FEW_ROWS {
                return small_gemm::gemm_bias(x, kernel, bias, out, n, input_dim, w);
            }
            let mut packed_k = PackedB::new();
            packed_k.pack(kernel, w, input_dim, w);
            packed_gemm::gemm_bias(x, input_dim, &packed_k, bias, out, n)
        };
        if one_sequence::splits(batch, u) {
            one_sequence::wake_helper();
        }
        let table = self.tokens.update(&tokens, kernel, w, bias, project);
        let inputs = StepInputs::Tokens { ids, table };
        let out = infer(
            inputs,
            &self.cache.step_mask,
            batch,
            steps,
            (u, seq),
            recurrent,
            &mut self.cache.balance,
        );
        let mut out = out;
        order.to_input_order(&mut out, if seq { steps * u } else { u });
        Ok(rec::output_array(out, batch, steps, u, seq))
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
        serde_json::to_value(LayerConfig::Lstm(c)).expect("configs serialise")
    }
}

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

/// Multiply-adds below which the folded kernel gradient's two halves run on one thread
/// (~30 us of work, about what waking another thread costs on a VM).
const JOIN_MIN_PRODUCT: usize = 1 << 20;

/// Rows (sample-steps) per weight-gradient product in the fused backward: large enough
/// for an efficient product, small enough to stay in cache.
const GRAD_BLOCK_ROWS: usize = 512;

/// Backward without per-gate dropout masks: every block of samples runs its time loop
/// and, every few steps, folds the block's gate gradients into its own partial weight
/// gradients and its input gradient while they are still in cache (no (batch, steps,
/// 4u) gradient buffer). Partials are summed in block order, so the result does not
/// depend on the thread count. Returns dX (batch, steps, features) and the gradients.
fn fused_backward(
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
    let block = block_rows(cache.step_major);
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
                return simd_step_major_backward(dx, state, dy, kt, dims, GRAD_BLOCK_ROWS);
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

/// One block's forward caches (sample-major, or step-major as `lstm_step_major` left
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
            // The next step reads these rows' cached inputs, gates, tanh(c) and (as the
            // states of t - 2) c and h: rows of each sample far apart, going back in
            // time, more streams than the hardware prefetchers follow (see `prefetch`).
            for &j in &active {
                let at = j * steps + t - 1;
                if st.slots.is_none() {
                    prefetch(&st.x[at * f..(at + 1) * f]);
                }
                prefetch(&st.gates[at * w..(at + 1) * w]);
                prefetch(&st.tanh_c[at * u..(at + 1) * u]);
                if t > 1 {
                    prefetch(&st.cs[(at - 1) * u..at * u]);
                    prefetch(&st.hs[(at - 1) * u..at * u]);
                }
            }
        }
        let n = active.len();
        let dz_now = &blk.dz[base * w..];
        if t > 0 && n > 0 && rec::is_prefix(&active) {
            // Active rows 0..n (all, or a longest-first batch): the product writes dh
            // directly.
            packed_gemm::gemm(dz_now, w, recurrent_t, &mut dh, u, n, false);
            fm::flush_tiny(&mut dh[..n * u]);
        } else if t > 0 && n > 0 {
            packed_gemm::gemm(dz_now, w, recurrent_t, &mut dh_new, u, n, false);
            fm::flush_tiny(&mut dh_new[..n * u]);
            // Active rows take the new gradient; masked rows keep theirs (and dc).
            for (k, &j) in active.iter().enumerate() {
                dh[j * u..(j + 1) * u].copy_from_slice(&dh_new[k * u..(k + 1) * u]);
            }
        }
        if blk.rows() >= GRAD_BLOCK_ROWS {
            blk.fold_into(&mut grads, &mut dx, kernel_t);
        }
    }
    blk.finish(&mut grads, &mut dx, kernel_t);
    grads
}

/// Samples per block of the training time loops: the step-major loops' wider blocks,
/// else `CHUNK_ROWS` (whose masks `BlockMasks::of_block` cuts; the step-major loops take
/// none).
fn block_rows(step_major: bool) -> usize {
    if step_major {
        step_major::BLOCK_ROWS
    } else {
        CHUNK_ROWS
    }
}

/// Blocks with fewer rows than this project their inputs ahead, PROJECTION_STEPS
/// steps at a time (see `chunk_infer`).
const FEW_ROWS: usize = 8;
pub(super) const PROJECTION_STEPS: usize = 64;
/// Below this many units the inference gate pass runs over all rows of a step at once
/// (`lstm_forward_rows`): per-gate segments shorter than a vector register.
const ROWS_GATE_PASS_UNITS: usize = 16;

/// Inference forward: per block of samples and per step, the input projection (or the
/// folded embedding's projected rows) and the recurrent product of the active rows only
/// (small products on gathered rows), then the gate pass; only h and c of the current
/// step are kept. Returns the output, (batch, steps, u) with `seq` else (batch, u).
fn infer(
    inputs: StepInputs<'_>,
    step_mask: &[bool],
    batch: usize,
    steps: usize,
    (u, seq): (usize, bool),
    recurrent: &[f32],
    balance: &mut one_sequence::Balance,
) -> Vec<f32> {
    if one_sequence::splits(batch, u) {
        return one_sequence::infer(inputs, step_mask, steps, (u, seq), recurrent, balance);
    }
    infer_in_blocks(inputs, step_mask, batch, steps, (u, seq), recurrent)
}

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
    fn block(self, ci: usize, steps: usize) -> Self {
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
                let in_place = weights.packed_k.filter(|_| rec::is_prefix(&active));
                if let (Some(k), true) = (in_place, n > 0) {
                    packed_gemm::gemm_bias(&x[t * f..], steps * f, k, bias, &mut z, n);
                } else if n > 0 {
                    xg.clear();
                    for &j in &active {
                        xg.extend_from_slice(&x[(j * steps + t) * f..(j * steps + t + 1) * f]);
                    }
                    match weights.packed_k {
                        Some(k) => packed_gemm::gemm_bias(&xg, f, k, bias, &mut z, n),
                        None => small_gemm::gemm_bias(&xg, kernel, bias, &mut z, n, f, w),
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

// The time loops above, each compiled for the CPU's widest vectors (see `simd_fn!`).
crate::simd_fn! {
    fn simd_chunk_forward(
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
    fn simd_chunk_backward(
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

crate::simd_fn! {
    fn simd_chunk_backward_fused(
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

crate::simd_fn! {
    fn simd_step_major_forward(
        gates: &mut [f32],
        cs: &mut [f32],
        tanh_c: &mut [f32],
        hs: &mut [f32],
        projected: step_major::Projected<'_>,
        recurrent: &[f32],
        steps: usize,
        u: usize,
    ) {
        step_major::chunk_forward(gates, cs, tanh_c, hs, projected, recurrent, steps, u)
    }
}

crate::simd_fn! {
    fn simd_step_major_backward(
        dx: rec::SampleRows<'_, '_>,
        st: ChunkState<'_>,
        dy: &[f32],
        weights: (&PackedB, &[f32]),
        dims: (usize, usize, usize, bool),
        grad_block_rows: usize,
    ) -> rec::WeightGrads {
        let (kernel_t, recurrent_t) = weights;
        step_major::chunk_backward(dx, st, dy, kernel_t, recurrent_t, dims, grad_block_rows)
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    fn random(n: usize, rng: &mut SeededRng, scale: f32) -> Vec<f32> {
        (0..n).map(|_| rng.uniform(-scale, scale)).collect()
    }

    fn bits(v: &[f32]) -> Vec<u32> {
        v.iter().map(|x| x.to_bits()).collect()
    }

    /// The step-major loops (small layers) against the row loops on one block: the
    /// same bits for every cache, output, input gradient and weight gradient, with
    /// features and with token rows, one and several gradient folds.
    #[test]
    fn step_major_loops_give_the_bits_of_the_row_loops() {
        let mut rng = SeededRng::new(5);
        // (units, rows, steps, features, return_sequences, token rows)
        let cases = [
            (8, 16, 40, 5, false, false), // 640 rows: a fold at 512 and one at the end
            (8, 16, 40, 5, true, true),
            (5, 9, 6, 3, true, false),
            (1, 3, 4, 2, false, true),
            (15, 16, 3, 4, false, false),
        ];
        for (u, rows, steps, f, seq, tokens) in cases {
            let w = 4 * u;
            let n = rows * steps;
            let what = format!("{u} units, {rows} rows, {steps} steps, seq {seq}, tokens {tokens}");
            let recurrent = random(u * w, &mut rng, 0.6);
            let kernel = random(f * w, &mut rng, 0.6);
            let x = random(n * f, &mut rng, 1.0);
            // Token rows: 7 distinct tokens, each with its projected row in `table`.
            let distinct = 7;
            let table = random(distinct * w, &mut rng, 2.0);
            let slots: Vec<u32> = (0..n)
                .map(|r| ((r * 5 + r / 3) % distinct) as u32)
                .collect();
            let pre = if tokens {
                vec![0.0; n * w]
            } else {
                random(n * w, &mut rng, 2.0)
            };
            let zeros = vec![0.0f32; u];
            let no_masks = BlockMasks {
                recurrent: &[],
                row0: 0,
                steps: &[],
            };
            let (mut g1, mut c1, mut t1, mut h1) = (
                pre.clone(),
                vec![0.0; n * u],
                vec![0.0; n * u],
                vec![0.0; n * u],
            );
            let token_rows = tokens.then_some((&slots[..], &table[..]));
            let mut packed_u = PackedB::new();
            packed_u.pack(&recurrent, w, u, w);
            let weights = (&recurrent[..], &packed_u);
            simd_chunk_forward(
                &mut g1, &mut c1, &mut t1, &mut h1, token_rows, weights, no_masks, steps, u, &zeros,
            );
            let (mut g2, mut c2, mut t2, mut h2) = (
                pre.clone(),
                vec![0.0; n * u],
                vec![0.0; n * u],
                vec![0.0; n * u],
            );
            let projected = if tokens {
                step_major::Projected::Tokens {
                    slots: &slots,
                    table: &table,
                }
            } else {
                step_major::Projected::InGates
            };
            simd_step_major_forward(
                &mut g2, &mut c2, &mut t2, &mut h2, projected, &recurrent, steps, u,
            );
            // Sample-major (rows, steps, ..) against step-major (steps, rows, ..), gates
            // (steps, 4, rows, u).
            for j in 0..rows {
                for t in 0..steps {
                    let (a, b) = ((j * steps + t) * u, (t * rows + j) * u);
                    for (name, p, q) in [("c", &c1, &c2), ("tanh c", &t1, &t2), ("h", &h1, &h2)] {
                        assert_eq!(bits(&p[a..a + u]), bits(&q[b..b + u]), "{name}, {what}");
                    }
                    for gate in 0..4 {
                        let a = (j * steps + t) * w + gate * u;
                        let b = t * rows * w + gate * rows * u + j * u;
                        assert_eq!(bits(&g1[a..a + u]), bits(&g2[b..b + u]), "gates, {what}");
                    }
                }
            }
            let ys = step_major::collect_output(&h2, rows, steps, u, seq, rows);
            let want = rec::collect_output(&h1, rows, steps, u, seq);
            assert_eq!(ys.shape(), want.shape());
            let (ys, want) = (ys.iter().copied().collect::<Vec<_>>(), want.iter().copied());
            assert_eq!(bits(&ys), bits(&want.collect::<Vec<_>>()), "output, {what}");

            let dy = random(if seq { n * u } else { rows * u }, &mut rng, 1.0);
            let mut recurrent_t = Vec::new();
            small_gemm::transpose(&recurrent, u, w, &mut recurrent_t);
            let (mut packed_ut, mut packed_kt) = (PackedB::new(), PackedB::new());
            packed_ut.pack_transposed(&recurrent, w, w, u);
            packed_kt.pack_transposed(&kernel, w, w, f);
            let token_slots = tokens.then_some((&slots[..], distinct));
            let mut dx1 = vec![0.0f32; n * f];
            let st = ChunkState {
                gates: &g1,
                cs: &c1,
                tanh_c: &t1,
                hs: &h1,
                x: &x,
                slots: token_slots,
            };
            let dims = (steps, u, f, seq);
            let dx = rec::SampleRows {
                samples: &mut rec::samples_of(&mut dx1, steps, f),
                steps,
                features: f,
            };
            let want = simd_chunk_backward_fused(
                dx,
                st,
                &dy,
                (&packed_kt, &packed_ut),
                no_masks,
                dims,
                &zeros,
            );
            let mut dx2 = vec![0.0f32; n * f];
            let st = ChunkState {
                gates: &g2,
                cs: &c2,
                tanh_c: &t2,
                hs: &h2,
                x: &x,
                slots: token_slots,
            };
            let weights = (&packed_kt, &recurrent_t[..]);
            let dx = rec::SampleRows {
                samples: &mut rec::samples_of(&mut dx2, steps, f),
                steps,
                features: f,
            };
            let got = simd_step_major_backward(dx, st, &dy, weights, dims, GRAD_BLOCK_ROWS);
            assert_eq!(bits(&dx1), bits(&dx2), "dX, {what}");
            assert_eq!(bits(&want.kernel), bits(&got.kernel), "kernel grad, {what}");
            assert_eq!(
                bits(&want.recurrent),
                bits(&got.recurrent),
                "recurrent grad, {what}"
            );
            assert_eq!(bits(&want.bias), bits(&got.bias), "bias grad, {what}");
            assert_eq!(
                bits(&want.token_sums),
                bits(&got.token_sums),
                "token sums, {what}"
            );
            assert!(want.recurrent.iter().any(|&v| v != 0.0), "{what}");
        }
    }
}
