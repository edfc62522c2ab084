//! Layers, one file each. Every layer keeps its own forward and backward pass and its
//! weights in Keras layout (e.g. LSTM `kernel` is (input_dim, 4*units), gates i, f, c, o).
//!
//! Data flows between layers as `ArrayD<f32>` with the batch on axis 0; only the first
//! layer may receive integer token ids (`LayerInput::Ids`).

use ndarray::{Array2, ArrayD, ArrayView2, ArrayViewD};

use crate::error::Result;
use crate::rng::SeededRng;

/// The naming methods of `Layer` (`class_name`, `default_name`, `name`, `set_name`) for
/// a layer with a `name: String` field; with a third argument, the field whose `name`
/// (the saved config's) is kept equal to it. Used inside an `impl Layer`.
macro_rules! layer_names {
    ($class:expr, $default:expr $(, $config:ident)?) => {
        fn class_name(&self) -> &'static str {
            $class
        }
        fn default_name(&self) -> &'static str {
            $default
        }
        fn name(&self) -> &str {
            &self.name
        }
        fn set_name(&mut self, name: String) {
            $(self.$config.name = Some(name.clone());)?
            self.name = name;
        }
    };
}

/// `Layer::params` and `params_mut` for a layer whose weights are a `params:
/// Vec<Param>` field. Used inside an `impl Layer`.
macro_rules! params_field {
    () => {
        fn params(&self) -> Vec<&Param> {
            self.params.iter().collect()
        }
        fn params_mut(&mut self) -> Vec<&mut Param> {
            self.params.iter_mut().collect()
        }
    };
}

/// `Layer::config` for a layer whose Keras arguments are a `config` field with a
/// `name`: that struct with the current name, wrapped in its `LayerConfig` variant
/// (`$wrap`). Used inside an `impl Layer`.
macro_rules! named_config {
    ($wrap:expr) => {
        fn config(&self) -> serde_json::Value {
            let mut c = self.config.clone();
            c.name = Some(self.name.clone());
            serde_json::to_value($wrap(c)).expect("configs serialise")
        }
    };
}

/// `Layer::compute_mask` of a layer that, like Keras's without `supports_masking`
/// (Conv1D, the pooling layers), drops the mask: its output carries none.
macro_rules! drops_mask {
    () => {
        fn compute_mask(
            &self,
            _input: &LayerInput<'_>,
            _input_mask: Option<&Array2<bool>>,
        ) -> Option<Array2<bool>> {
            None
        }
    };
}

pub mod activation;
pub(crate) mod batch_order;
pub mod bidirectional;
pub mod config;
pub mod conv1d;
pub mod dense;
pub mod dropout;
pub mod initializers;
// Each layer file adds its `pub mod` and `pub use` here (dense, dropout, embedding,
// simple_rnn, lstm, gru) and its arm in `LayerConfig::to_layer`.
pub mod embedding;
pub(crate) mod folding;
pub(crate) mod gate_dropout;
pub mod global_average_pooling1d;
pub mod global_max_pooling1d;
pub mod global_pooling;
pub mod gru;
pub mod lstm;
pub mod max_pooling1d;
pub(crate) mod recurrent;
pub mod recurrent_state;
pub mod rnn;
pub mod simple_rnn;
pub mod time_distributed;
pub mod token_projection;
pub(crate) mod token_rows;

pub use bidirectional::{Bidirectional, MergeMode};
pub use conv1d::{Conv1D, Padding};
pub use embedding::Embedding;
pub use global_average_pooling1d::{AveragePool, GlobalAveragePooling1D};
pub use global_max_pooling1d::{GlobalMaxPooling1D, MaxPool};
pub use global_pooling::{GlobalPooling1D, Pool1D};
pub use gru::{GRU, GruCell};
pub use lstm::{LSTM, LstmCell};
pub use max_pooling1d::MaxPooling1D;
pub use rnn::{Cell, Recurrent};
pub use simple_rnn::{SimpleRNN, SimpleRnnCell};
pub use time_distributed::TimeDistributed;

pub use activation::Activation;
pub use config::LayerConfig;
pub use dense::Dense;
pub use dropout::Dropout;
pub use initializers::Initializer;

/// A shape without the batch axis; `None` is a dimension not known until data arrives
/// (Keras prints it as `None`).
pub type Shape = Vec<Option<usize>>;

/// A shape as Keras prints it, with the batch axis first: `(None, 100, 16)`.
pub fn format_shape(shape: &[Option<usize>]) -> String {
    let dims: Vec<String> = std::iter::once(None)
        .chain(shape.iter().copied())
        .map(|d| d.map_or_else(|| "None".to_string(), |d| d.to_string()))
        .collect();
    format!("({})", dims.join(", "))
}

/// What a layer receives in `forward`.
#[derive(Clone, Debug)]
pub enum LayerInput<'a> {
    /// Integer token ids, (batch, time_steps). Only `Embedding` accepts these.
    Ids(ArrayView2<'a, i32>),
    /// Float activations, batch first.
    Floats(ArrayViewD<'a, f32>),
}

impl<'a> LayerInput<'a> {
    pub fn shape(&self) -> &[usize] {
        match self {
            LayerInput::Ids(a) => a.shape(),
            LayerInput::Floats(a) => a.shape(),
        }
    }

    /// The float input; for token ids the error "layer {who} expects float input but
    /// received integer token ids{hint}".
    pub(crate) fn into_floats(self, who: &str, hint: &str) -> Result<ArrayViewD<'a, f32>> {
        match self {
            LayerInput::Floats(x) => Ok(x),
            LayerInput::Ids(_) => Err(crate::Error::Data(format!(
                "layer {who} expects float input but received integer token ids{hint}"
            ))),
        }
    }

    /// The float (batch, steps, features) input, `features` wide when given; otherwise
    /// the error every sequence layer gives: "layer 'name' (Class) expects float input
    /// (batch, steps, features), got {integer token ids | floats} of shape [..]".
    /// `class` may be empty (wrappers, whose name says enough).
    pub(crate) fn floats_3d(
        &self,
        name: &str,
        class: &str,
        features: Option<usize>,
    ) -> Result<ndarray::ArrayView3<'_, f32>> {
        if let LayerInput::Floats(x) = self
            && x.ndim() == 3
            && features.is_none_or(|f| x.shape()[2] == f)
        {
            return Ok(x.view().into_dimensionality().expect("3 axes"));
        }
        let kind = match self {
            LayerInput::Ids(_) => "integer token ids",
            LayerInput::Floats(_) => "floats",
        };
        let class = if class.is_empty() {
            String::new()
        } else {
            format!(" ({class})")
        };
        let width = features.map_or_else(|| "features".to_string(), |f| f.to_string());
        Err(crate::Error::Shape(format!(
            "layer '{name}'{class} expects float input (batch, steps, {width}), got {kind} of \
             shape {:?}",
            self.shape()
        )))
    }
}

/// One trainable (or frozen) weight array with its gradient, named as in Keras
/// (`kernel`, `recurrent_kernel`, `bias`, `embeddings`).
#[derive(Clone, Debug)]
pub struct Param {
    pub name: &'static str,
    pub value: ArrayD<f32>,
    /// Gradient of the loss w.r.t. `value`, same shape; overwritten by each `backward`.
    pub grad: ArrayD<f32>,
    /// For gradients TensorFlow keeps sparse (`Embedding`: one row per token
    /// occurrence, an `IndexedSlices`): the sum over occurrences of each occurrence's
    /// squared gradient. Keras's Adam and RMSprop square those slices before summing
    /// duplicates, so they use this in place of `grad²` (and clipnorm its sum for the
    /// norm). `None` for dense gradients.
    pub grad_sq: Option<ArrayD<f32>>,
}

impl Param {
    pub fn new(name: &'static str, value: ArrayD<f32>) -> Self {
        let grad = ArrayD::zeros(value.raw_dim());
        Param {
            name,
            value,
            grad,
            grad_sq: None,
        }
    }
}

/// Everything one forward pass needs besides its input, in one value (the `Layer` trait
/// took the mask and the token ids through two setters before, `set_input_mask` and
/// `set_input_tokens`, which left them stored in the layer between batches).
///
/// Everything is borrowed: building a context per layer copies four words, never the
/// mask or the ids. Wrappers decide what their inner layers see (`Bidirectional` gives
/// both copies the mask and no token ids; `TimeDistributed` passes the context on).
///
/// ```
/// # use recurrent::layers::ForwardContext;
/// # use recurrent::rng::SeededRng;
/// # let mut rng = SeededRng::new(0);
/// let mask = ndarray::Array2::from_elem((2, 5), true);
/// let ctx = ForwardContext::new(true, &mut rng).with_mask(Some(&mask));
/// assert!(ctx.training && ctx.tokens.is_none());
/// ```
pub struct ForwardContext<'a> {
    /// Training mode: dropout active, caches kept for `backward`.
    pub training: bool,
    /// Source of dropout masks; draws happen on the calling thread only.
    pub rng: &'a mut SeededRng,
    /// Keras's mask of the input, (batch, time_steps), true = real step (from
    /// `Embedding(mask_zero=True)` through `compute_mask`); `None`: every step is real.
    /// Layers whose output does not depend on it ignore it.
    pub mask: Option<&'a Array2<bool>>,
    /// When the input is an `Embedding`'s output (in training): the token id each input
    /// row (batch * time_steps, row-major) was looked up from, so rows with equal ids hold
    /// equal values (see `token_rows`). `None` otherwise.
    pub tokens: Option<&'a [usize]>,
}

impl<'a> ForwardContext<'a> {
    /// A context without mask or token ids.
    pub fn new(training: bool, rng: &'a mut SeededRng) -> Self {
        ForwardContext {
            training,
            rng,
            mask: None,
            tokens: None,
        }
    }

    /// The input's step mask (`None`: every step is real).
    pub fn with_mask(mut self, mask: Option<&'a Array2<bool>>) -> Self {
        self.mask = mask;
        self
    }

    /// The token id of each input row (`None`: not known).
    pub fn with_tokens(mut self, tokens: Option<&'a [usize]>) -> Self {
        self.tokens = tokens;
        self
    }

    /// The same pass for an inner layer, with the mask and token ids it should see
    /// (the rng reborrowed, so its draws continue the outer sequence).
    pub fn inner<'b>(
        &'b mut self,
        mask: Option<&'b Array2<bool>>,
        tokens: Option<&'b [usize]>,
    ) -> ForwardContext<'b> {
        ForwardContext {
            training: self.training,
            rng: &mut *self.rng,
            mask,
            tokens,
        }
    }
}

/// The common interface of all layers.
///
/// Lifecycle: `build(input_shape)` creates the weights (once), then any number of
/// `forward`/`backward` pairs. `backward` uses what the last training `forward` cached,
/// writes each `Param::grad` (overwriting, not accumulating) and returns the gradient
/// w.r.t. the layer's input (`None` for integer input).
pub trait Layer: std::any::Any + Send + Sync + std::fmt::Debug {
    /// Keras class name, e.g. "LSTM"; used in `summary()` and saved configs.
    fn class_name(&self) -> &'static str;
    /// Keras default name prefix, e.g. "lstm" (the model appends `_1`, `_2`, ...).
    fn default_name(&self) -> &'static str;
    /// Instance name as in Keras (`lstm`, `lstm_1`).
    fn name(&self) -> &str;
    fn set_name(&mut self, name: String);

    /// Output shape for an input shape, without building. Errors name this layer.
    fn compute_output_shape(&self, input_shape: &[Option<usize>]) -> Result<Shape>;
    /// Create the weights for `input_shape` using `rng`. Called once by the model.
    fn build(&mut self, input_shape: &[Option<usize>], rng: &mut SeededRng) -> Result<()>;
    /// Whether `build` has run. The default, "has weights", fits every layer with
    /// weights; layers without any (Dropout, pooling, wrappers) keep a flag of their own.
    fn is_built(&self) -> bool {
        !self.params().is_empty()
    }

    /// The output for `input`; the input's mask and token ids, if any, come in `ctx`.
    /// The model calls `next = compute_mask(&input, ctx.mask)` and then `forward`.
    fn forward(
        &mut self,
        input: LayerInput<'_>,
        ctx: &mut ForwardContext<'_>,
    ) -> Result<ArrayD<f32>>;
    fn backward(&mut self, grad_output: ArrayD<f32>) -> Result<Option<ArrayD<f32>>>;

    /// Keras `compute_mask`: the (batch, time_steps) mask (true = real step) that this
    /// layer's output carries, given its input and the input's own mask. The default
    /// passes the input mask through, as Keras's Dense and Dropout do.
    fn compute_mask(
        &self,
        input: &LayerInput<'_>,
        input_mask: Option<&Array2<bool>>,
    ) -> Option<Array2<bool>> {
        let _ = input;
        input_mask.cloned()
    }

    /// The weights, in Keras's order. Layers without weights (Dropout, the pooling
    /// layers) keep the default: none.
    fn params(&self) -> Vec<&Param> {
        Vec::new()
    }
    fn params_mut(&mut self) -> Vec<&mut Param> {
        Vec::new()
    }
    fn param_count(&self) -> usize {
        self.params().iter().map(|p| p.value.len()).sum()
    }

    /// The Keras-like config of this layer (type plus arguments), for saving.
    fn config(&self) -> serde_json::Value;

    /// When this layer ends in a sigmoid/softmax, the pre-activation values of the last
    /// `forward` and that activation. Keras attaches these as `_keras_logits` and its
    /// crossentropy losses use them instead of the clipped probabilities, so the model
    /// fuses loss and activation through this (see `losses`).
    fn output_logits(&self) -> Option<(Activation, &ArrayD<f32>)> {
        None
    }

    /// The input shape (without batch) given to this layer when it was created, if any;
    /// a model whose first layer has one builds itself without data.
    fn input_shape_hint(&self) -> Option<Shape> {
        None
    }

    /// Like `backward`, but given the gradient w.r.t. the values `output_logits`
    /// returned (the activation is skipped). Only layers that return `Some` from
    /// `output_logits` support it.
    fn backward_from_logits(&mut self, _grad_logits: ArrayD<f32>) -> Result<Option<ArrayD<f32>>> {
        Err(crate::Error::State(format!(
            "layer `{}` does not expose logits",
            self.name()
        )))
    }
}
