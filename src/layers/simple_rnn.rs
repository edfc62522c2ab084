//! Keras `SimpleRNN`: h_t = activation(x_t W + b + h_{t-1} U), kernel (input_dim, u),
//! recurrent_kernel (u, u), bias (u). Supports `recurrent_dropout` (Keras: one mask per
//! sequence on h_{t-1}).

use ndarray::{Array2, ArrayD};
use rayon::prelude::*;

use super::config::{LayerConfig, SimpleRnnConfig};
use super::recurrent::{self as rec, BlockMasks, CHUNK_ROWS};
use super::token_projection::{self as tp, TokenInput, TokenProjection};
use super::{Activation, ForwardContext, Initializer, Layer, LayerInput, Param, Shape};
use crate::error::{Error, Result};
use crate::kernels::{MatMut, MatRef, matmul, rnn_backward_row, rnn_forward_row};
use crate::rng::SeededRng;

/// Fully-connected recurrent layer (Keras 3 `keras.layers.SimpleRNN`).
#[allow(clippy::upper_case_acronyms)] // Keras's class name.
#[derive(Clone, Debug)]
pub struct SimpleRNN {
    config: SimpleRnnConfig,
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
    /// A SimpleRNN with `units` units and Keras's defaults (tanh).
    pub fn new(units: usize) -> Self {
        Self::with_config(SimpleRnnConfig {
            name: None,
            units,
            activation: Activation::Tanh,
            use_bias: true,
            kernel_initializer: Initializer::GlorotUniform,
            recurrent_initializer: Initializer::Orthogonal,
            bias_initializer: Initializer::Zeros,
            dropout: 0.0,
            recurrent_dropout: 0.0,
            return_sequences: false,
            go_backwards: false,
            input_shape: None,
        })
    }

    /// From a (deserialised) config, checking every argument.
    pub fn from_config(config: SimpleRnnConfig) -> Result<Self> {
        let layer = Self::with_config(config);
        layer.validate()?;
        Ok(layer)
    }

    fn with_config(config: SimpleRnnConfig) -> Self {
        let name = config
            .name
            .clone()
            .unwrap_or_else(|| "simple_rnn".to_string());
        SimpleRNN {
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
    pub fn settings(&self) -> &SimpleRnnConfig {
        &self.config
    }

    fn validate(&self) -> Result<()> {
        let c = &self.config;
        let ctx = format!("SimpleRNN '{}'", self.name);
        rec::validate_args(&ctx, c.units, c.dropout, c.recurrent_dropout)?;
        if c.activation == Activation::Softmax {
            return Err(Error::Unsupported(format!(
                "{ctx}: activation='softmax' is not element-wise; use tanh, relu, sigmoid or \
                 linear"
            )));
        }
        Ok(())
    }

    /// The time loops over `cache.hs` (holding every step's input projection), then the
    /// output; `training` keeps the caches for `backward`.
    fn time_loops(&mut self, batch: usize, steps: usize, training: bool) -> Result<ArrayD<f32>> {
        let (name, u) = (&self.name, self.config.units);
        let act = self.config.activation;
        let recurrent = rec::values(name, &self.params[1])?;
        let cache = &mut self.cache;
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

impl Layer for SimpleRNN {
    fn class_name(&self) -> &'static str {
        "SimpleRNN"
    }
    fn default_name(&self) -> &'static str {
        "simple_rnn"
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
            Param::new("kernel", c.kernel_initializer.init(&[f, u], rng)),
            Param::new(
                "recurrent_kernel",
                c.recurrent_initializer.init(&[u, u], rng),
            ),
        ];
        if c.use_bias {
            self.params
                .push(Param::new("bias", c.bias_initializer.init(&[u], rng)));
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
        let cache = &mut self.cache;
        cache.ready = false;
        let (batch, steps) = rec::load_sequence(name, &input, f, &mut cache.x)?;
        cache.step_mask = rec::step_mask(name, self.input_mask.as_ref(), batch, steps)?;
        if self.config.go_backwards {
            // Keras go_backwards: the loop reads the reversed sequence and mask.
            rec::reverse_steps(&mut cache.x, steps, f);
            rec::reverse_steps(&mut cache.step_mask, steps, 1);
        }
        cache.mask = None;
        cache.recurrent_mask = None;
        if ctx.training && self.config.dropout > 0.0 {
            let mask = rec::draw_mask(ctx.rng, self.config.dropout, batch, f);
            rec::apply_mask(&mut cache.x, &mask, steps, f);
            cache.mask = Some(mask);
        }
        if ctx.training && self.config.recurrent_dropout > 0.0 {
            let rate = self.config.recurrent_dropout;
            cache.recurrent_mask = Some(rec::draw_mask(ctx.rng, rate, batch, u));
        }
        let kernel = rec::values(name, &self.params[0])?;
        let bias = match self.params.get(2) {
            Some(p) => Some(rec::values(name, p)?),
            None => None,
        };
        rec::project_inputs(&cache.x, batch * steps, f, kernel, u, bias, &mut cache.hs);
        self.time_loops(batch, steps, ctx.training)
    }

    fn folds_embedding(&self, vocab: usize, dim: usize) -> bool {
        let width = self.config.units;
        self.is_built() && !self.config.go_backwards && tp::fits(vocab, dim, self.input_dim, width)
    }

    fn infer_tokens(&mut self, tokens: TokenInput<'_>) -> Result<ArrayD<f32>> {
        if !self.folds_embedding(tokens.vocab(), tokens.dim) {
            return Err(tp::not_foldable(&self.name));
        }
        let (name, f, u) = (&self.name, self.input_dim, self.config.units);
        let (batch, steps) = (tokens.batch, tokens.steps);
        let cache = &mut self.cache;
        cache.ready = false;
        cache.step_mask = rec::step_mask(name, self.input_mask.as_ref(), batch, steps)?;
        cache.mask = None;
        cache.recurrent_mask = None;
        let kernel = rec::values(name, &self.params[0])?;
        let bias = match self.params.get(2) {
            Some(p) => Some(rec::values(name, p)?),
            None => None,
        };
        let project = |x: &[f32], n: usize, out: &mut Vec<f32>| {
            rec::project_inputs(x, n, f, kernel, u, bias, out)
        };
        let table = self.tokens.update(&tokens, kernel, u, bias, project);
        // Every row, as `project_inputs` writes them (the loop reads masked ones too).
        tp::gather_projected(&tokens, table, u, &[], &mut cache.hs);
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
        let (act, seq) = (self.config.activation, self.config.return_sequences);
        let cache = &mut self.cache;
        let (batch, steps) = (cache.batch, cache.steps);
        let dy = rec::grad_output_slice(name, &grad_output, batch, steps, u, seq)?;
        let recurrent = rec::values(name, &self.params[1])?;
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
        let kernel = rec::values(name, &self.params[0])?;
        let dx = rec::input_grad(
            &cache.dpre,
            kernel,
            u,
            batch,
            steps,
            f,
            cache.mask.as_deref(),
        );
        let rows = batch * steps;
        rec::shift_states(&cache.hs, steps, u, &mut cache.hp);
        if let Some(m) = rmask {
            rec::apply_mask(&mut cache.hp, m, steps, u);
        }
        let (kp, rest) = self.params.split_at_mut(1);
        let (rp, bp) = rest.split_at_mut(1);
        let kg = rec::grads_mut(name, &mut kp[0])?;
        rec::weight_grad(
            &cache.x,
            f,
            f,
            &cache.dpre,
            u,
            u,
            rows,
            MatMut::new(kg, f, u),
        );
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

    fn params(&self) -> Vec<&Param> {
        self.params.iter().collect()
    }
    fn params_mut(&mut self) -> Vec<&mut Param> {
        self.params.iter_mut().collect()
    }

    fn config(&self) -> serde_json::Value {
        let mut c = self.config.clone();
        c.name = Some(self.name.clone());
        serde_json::to_value(LayerConfig::SimpleRnn(c)).expect("configs serialise")
    }
}

// Compiled for the CPU's widest vectors, so the activations vectorise (see `simd_fn!`).
crate::simd_fn! {
    fn simd_chunk_forward(
        hs: &mut [f32],
        recurrent: &[f32],
        masks: (Option<&[f32]>, &[bool]),
        act: Activation,
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
    act: Activation,
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
    act: Activation,
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
