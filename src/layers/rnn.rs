//! One recurrent layer, many cells (Keras's `RNN(LSTMCell)`, candle's `trait RNN` +
//! `step`): `Recurrent<C>` owns what SimpleRNN, LSTM and GRU share (the arguments in
//! `RecurrentArgs`, the builders, the weights, the folded-embedding table and the whole `Layer` plumbing: built checks, `go_backwards` order of the input
//! gradient, the bias lookup, output shape and mask); a `Cell` holds only what differs:
//! its gate count, its own arguments, its weights' shapes and initialisation, and its
//! time loops (forward, backward, inference on folded tokens) with their caches.
//!
//! `LSTM`, `GRU` and `SimpleRNN` are `Recurrent<LstmCell>`, `Recurrent<GruCell>` and
//! `Recurrent<SimpleRnnCell>`. The cell's loops are called once per batch, never per
//! step, so the trait costs nothing inside a time loop (all of it is monomorphised).

use ndarray::{Array2, ArrayD};

use super::config::{LayerConfig, RecurrentArgs};
use super::folding::Folding;
use super::recurrent as rec;
use super::stateful::Carried;
use super::token_projection::{self as tp, TokenInput, TokenProjection};
use super::{Activation, ForwardContext, Initializer, Layer, LayerInput, Param, Shape};
use crate::error::{Error, Result};
use crate::rng::SeededRng;

/// What differs between SimpleRNN, LSTM and GRU (see the module doc). The loops take the
/// whole layer (`Recurrent<Self>`: weights, arguments, masks) and keep their caches in
/// the cell (`layer.cell`).
pub trait Cell: Clone + std::fmt::Debug + Default + Send + Sync + Sized + 'static {
    /// The layer's config: `RecurrentArgs` plus the cell's own arguments.
    type Config: Clone
        + std::fmt::Debug
        + Send
        + Sync
        + std::ops::Deref<Target = RecurrentArgs>
        + std::ops::DerefMut;
    /// Keras class name and default instance name (`"LSTM"`, `"lstm"`).
    const CLASS_NAME: &'static str;
    const DEFAULT_NAME: &'static str;
    /// Gate blocks per unit: the kernels are (features, GATES * units).
    const GATES: usize;

    /// The config of `units` units with Keras's defaults.
    fn default_config(units: usize) -> Self::Config;
    /// The config as the `LayerConfig` variant that saves it.
    fn layer_config(config: Self::Config) -> LayerConfig;
    /// Checks of the cell's own arguments (the shared ones are checked by the layer);
    /// `layer` names the layer in errors (`LSTM 'lstm'`).
    fn validate(config: &Self::Config, layer: &str) -> Result<()>;
    /// kernel, recurrent_kernel, then bias if `use_bias`, for `features` inputs, drawn
    /// in Keras's order; an initializer that cannot fill its weight is an error naming
    /// `layer` (`Initializer::init_for`).
    fn init_params(
        config: &Self::Config,
        layer: &str,
        features: usize,
        rng: &mut SeededRng,
    ) -> Result<Vec<Param>>;

    /// Forward over a float input (checked built), with the input's mask and token ids
    /// from `ctx`. Returns the output in input order.
    fn forward(
        layer: &mut Recurrent<Self>,
        input: LayerInput<'_>,
        ctx: &mut ForwardContext<'_>,
    ) -> Result<ArrayD<f32>>;
    /// Whether the last forward kept what `backward` needs (was in training mode).
    fn ready(&self) -> bool;
    /// Backward through the last training forward: writes the weight gradients and
    /// returns dX in the order the loop read the input (reversed with `go_backwards`).
    fn backward(layer: &mut Recurrent<Self>, grad_output: ArrayD<f32>) -> Result<ArrayD<f32>>;
    /// Inference on the rows an embedding would give for `tokens` (checked foldable),
    /// whose step mask is `mask`.
    fn infer_tokens(
        layer: &mut Recurrent<Self>,
        tokens: TokenInput<'_>,
        mask: Option<&Array2<bool>>,
    ) -> Result<ArrayD<f32>>;
    /// The cell's step, for the plain whole-batch loop of `call_with_state`.
    fn kind(config: &Self::Config) -> CellKind;
}

/// The per-step update of a cell, as `recurrent_state`'s plain loop runs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CellKind {
    /// SimpleRNN with its activation.
    Simple(Activation),
    Lstm,
    /// GRU, reset_after = true (bias rows: input, recurrent).
    GruResetAfter,
    /// GRU, reset_after = false (one bias, on the input side).
    GruResetBefore,
}

impl CellKind {
    /// Gate blocks per unit.
    pub fn gates(self) -> usize {
        match self {
            CellKind::Simple(_) => 1,
            CellKind::Lstm => 4,
            CellKind::GruResetAfter | CellKind::GruResetBefore => 3,
        }
    }
    /// State arrays: [h, c] for LSTM, [h] otherwise.
    pub fn states(self) -> usize {
        if self == CellKind::Lstm { 2 } else { 1 }
    }
}

/// Builder methods that set config fields of the same names (`.dropout(0.2)`).
macro_rules! config_builders {
    ($($(#[$doc:meta])* $field:ident: $ty:ty),* $(,)?) => {$(
        $(#[$doc])*
        pub fn $field(mut self, value: $ty) -> Self {
            self.config.$field = value;
            self
        }
    )*};
}
pub(crate) use config_builders;

/// A recurrent layer: the shared arguments and plumbing around cell `C`.
#[derive(Clone, Debug)]
pub struct Recurrent<C: Cell> {
    pub(crate) config: C::Config,
    pub(crate) name: String,
    pub(crate) input_dim: usize,
    /// kernel, recurrent_kernel, then bias if `use_bias`; empty until built.
    pub(crate) params: Vec<Param>,
    /// Projected rows per token when an Embedding is folded in (inference only).
    pub(crate) tokens: Box<TokenProjection>,
    /// The cell's caches of the last forward pass.
    pub(crate) cell: C,
    /// `stateful`: the states carried to the next batch (`layers::stateful`).
    pub(crate) carried: Box<Carried>,
}

impl<C: Cell> Recurrent<C> {
    /// A layer with `units` units and Keras's defaults.
    pub fn new(units: usize) -> Self {
        Self::with_config(C::default_config(units))
    }

    /// From a (deserialised) config, checking every argument.
    pub fn from_config(config: C::Config) -> Result<Self> {
        let layer = Self::with_config(config);
        layer.validate()?;
        Ok(layer)
    }

    fn with_config(config: C::Config) -> Self {
        let name = (config.name.clone()).unwrap_or_else(|| C::DEFAULT_NAME.to_string());
        Recurrent {
            config,
            name,
            input_dim: 0,
            params: Vec::new(),
            tokens: Box::default(),
            cell: C::default(),
            carried: Box::default(),
        }
    }

    config_builders! {
        return_sequences: bool,
        /// Keras `go_backwards`: process the sequence time-reversed.
        go_backwards: bool,
        dropout: f32,
        recurrent_dropout: f32,
        use_bias: bool,
        activation: Activation,
        kernel_initializer: Initializer,
        recurrent_initializer: Initializer,
        bias_initializer: Initializer,
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
    pub fn settings(&self) -> &C::Config {
        &self.config
    }

    fn validate(&self) -> Result<()> {
        let c = &self.config;
        let layer = format!("{} '{}'", C::CLASS_NAME, self.name);
        rec::validate_args(&layer, c.units, c.dropout, c.recurrent_dropout)?;
        self.validate_stateful(&layer)?;
        C::validate(c, &layer)
    }
}

/// Kernel, recurrent kernel and bias (if any) values.
pub(crate) type Weights<'a> = (&'a [f32], &'a [f32], Option<&'a [f32]>);

/// The contiguous values of a recurrent layer's weights `params` (kernel,
/// recurrent_kernel, bias if any); errors name `layer`. A free function so the caller
/// can hold its cell's caches mutably meanwhile.
pub(crate) fn weights<'a>(layer: &str, params: &'a [Param]) -> Result<Weights<'a>> {
    let bias = match params.get(2) {
        Some(p) => Some(rec::values(layer, p)?),
        None => None,
    };
    Ok((
        rec::values(layer, &params[0])?,
        rec::values(layer, &params[1])?,
        bias,
    ))
}

impl<C: Cell> Folding for Recurrent<C> {
    fn folds_embedding(&self, vocab: usize, dim: usize) -> bool {
        let width = C::GATES * self.config.units;
        // A stateful layer runs every batch on its carried states (`layers::stateful`).
        self.is_built()
            && !self.config.go_backwards
            && !self.config.stateful
            && tp::fits(vocab, dim, self.input_dim, width)
    }

    fn infer_tokens(
        &mut self,
        tokens: TokenInput<'_>,
        mask: Option<&Array2<bool>>,
    ) -> Result<ArrayD<f32>> {
        if !self.folds_embedding(tokens.vocab(), tokens.dim) {
            return Err(tp::not_foldable(&self.name));
        }
        C::infer_tokens(self, tokens, mask)
    }
}

/// `kernel` (features, gates·units) and `recurrent_kernel` (units, gates·units), drawn
/// in Keras's order; the cell appends its own bias. Errors name `layer`.
pub(crate) fn init_kernels(
    c: &RecurrentArgs,
    layer: &str,
    features: usize,
    gates: usize,
    rng: &mut SeededRng,
) -> Result<Vec<Param>> {
    let (u, w) = (c.units, gates * c.units);
    let kernel =
        (c.kernel_initializer).init_for(layer, "kernel_initializer", &[features, w], rng)?;
    let recurrent_init = &c.recurrent_initializer;
    let recurrent = recurrent_init.init_for(layer, "recurrent_initializer", &[u, w], rng)?;
    Ok(vec![
        Param::new("kernel", kernel),
        Param::new("recurrent_kernel", recurrent),
    ])
}

/// The LSTM/GRU check: only tanh with a sigmoid recurrent activation is implemented.
pub(crate) fn check_gate_activations(
    layer: &str,
    activation: Activation,
    recurrent_activation: Activation,
) -> Result<()> {
    if activation != Activation::Tanh || recurrent_activation != Activation::Sigmoid {
        return Err(Error::Unsupported(format!(
            "{layer}: only activation='tanh' with recurrent_activation='sigmoid' is \
             implemented, got activation='{}', recurrent_activation='{}'",
            activation.name(),
            recurrent_activation.name()
        )));
    }
    Ok(())
}

impl<C: Cell> Layer for Recurrent<C> {
    layer_names!(C::CLASS_NAME, C::DEFAULT_NAME, config);

    fn input_shape_hint(&self) -> Option<Shape> {
        self.config.input_shape.clone()
    }

    fn compute_output_shape(&self, input_shape: &[Option<usize>]) -> Result<Shape> {
        let c = &self.config;
        rec::output_shape(&self.name, input_shape, c.units, c.return_sequences)
    }

    fn build(&mut self, input_shape: &[Option<usize>], rng: &mut SeededRng) -> Result<()> {
        self.validate()?;
        if self.is_built() {
            return Err(rec::already_built(&self.name));
        }
        let f = rec::input_features(&self.name, input_shape)?;
        let layer = format!("{} '{}'", C::CLASS_NAME, self.name);
        self.params = C::init_params(&self.config, &layer, f, rng)?;
        self.input_dim = f;
        Ok(())
    }

    fn forward(
        &mut self,
        input: LayerInput<'_>,
        ctx: &mut ForwardContext<'_>,
    ) -> Result<ArrayD<f32>> {
        if !self.is_built() {
            return Err(rec::not_built(&self.name));
        }
        if self.config.stateful {
            return self.stateful_forward(input, ctx);
        }
        C::forward(self, input, ctx)
    }

    fn backward(&mut self, grad_output: ArrayD<f32>) -> Result<Option<ArrayD<f32>>> {
        if !self.is_built() {
            return Err(rec::not_built(&self.name));
        }
        if self.config.stateful {
            return self.stateful_backward(grad_output).map(Some);
        }
        if !self.cell.ready() {
            return Err(rec::no_forward(&self.name));
        }
        let dx = C::backward(self, grad_output)?;
        // The loop computed it for the reversed sequence it read.
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

    fn reset_states(&mut self) {
        Recurrent::reset_states(self);
    }

    params_field!();

    named_config!(C::layer_config);
}

/// What a cell's reference loop (`lstm::reference`, `gru::reference`,
/// `simple_rnn::reference`) returns: the states and the gradients of one loss.
#[derive(Clone, Debug)]
pub struct ReferenceRun {
    /// Every step's output h_t, (batch, steps, units); a masked step repeats the
    /// previous one (zeros before the first real step).
    pub hs: ndarray::Array3<f32>,
    /// dL/dX, (batch, steps, features).
    pub dx: ndarray::Array3<f32>,
    /// dL/d(each weight), in `params()` order and shapes.
    pub weights: Vec<ArrayD<f32>>,
    /// The final states, [h] or [h, c] (batch, units): after each sample's last real
    /// step, the initial state if it has none (what a stateful layer carries on).
    pub states: Vec<Array2<f32>>,
}

/// Initial state `i` of a reference loop started from `initial` ([h] or [h, c], each
/// (batch, units); empty: zeros, as a layer that is not stateful starts).
pub(crate) fn initial_state(
    initial: &[Array2<f32>],
    i: usize,
    shape: (usize, usize),
) -> Array2<f32> {
    initial
        .get(i)
        .cloned()
        .unwrap_or_else(|| Array2::zeros(shape))
}

/// The inputs of a reference loop: the layer's weights (`params()`), the input (batch,
/// steps, features) as the loop reads it (already reversed for `go_backwards`), its step
/// mask (true = real; `None`: all real) and dL/dh_t for every step (batch, steps,
/// units): with `return_sequences=false` only the last step's is non-zero.
#[derive(Clone, Copy, Debug)]
pub struct ReferenceInput<'a> {
    pub params: &'a [&'a Param],
    pub x: ndarray::ArrayView3<'a, f32>,
    pub mask: Option<ndarray::ArrayView2<'a, bool>>,
    pub dh: ndarray::ArrayView3<'a, f32>,
}

impl<'a> ReferenceInput<'a> {
    /// Weight `i` as a matrix (kernel, recurrent_kernel, or GRU's (2, 3u) bias).
    pub(crate) fn matrix(&self, i: usize) -> ndarray::ArrayView2<'a, f32> {
        (self.params[i].value.view())
            .into_dimensionality()
            .expect("a 2-d weight")
    }
    /// The bias as rows (1 or 2, width), zeros without one.
    pub(crate) fn bias_rows(&self, rows: usize, width: usize) -> Array2<f32> {
        match self.params.get(2) {
            Some(p) => (p.value.clone().into_shape_with_order((rows, width)))
                .expect("bias of rows * width"),
            None => Array2::zeros((rows, width)),
        }
    }
    /// Step t's mask as a (batch, 1) column of 1.0 (real) and 0.0 (masked).
    pub(crate) fn real(&self, t: usize) -> Array2<f32> {
        let batch = self.x.dim().0;
        Array2::from_shape_fn((batch, 1), |(b, _)| match self.mask {
            Some(m) if !m[[b, t]] => 0.0,
            _ => 1.0,
        })
    }
    /// The layer's weight gradients in `params()` shapes from matrices.
    pub(crate) fn weight_grads(&self, grads: Vec<Array2<f32>>) -> Vec<ArrayD<f32>> {
        (self.params.iter().zip(grads))
            .map(|(p, g)| {
                let shape = p.value.raw_dim();
                g.into_shape_with_order(shape)
                    .expect("same size as the weight")
            })
            .collect()
    }
}

/// `new` where `real` (a (batch, 1) column of 1 and 0) is 1, else `old`: the state a
/// masked step carries.
pub(crate) fn carry(real: &Array2<f32>, new: &Array2<f32>, old: &Array2<f32>) -> Array2<f32> {
    real * new + &((1.0 - real) * old)
}
