//! Serializable layer configurations with Keras's argument names and defaults. The
//! CLI's TOML `[model] layers = [...]` and saved models both go through `LayerConfig`.

use serde::{Deserialize, Serialize};

use super::Layer;
use super::activation::Activation;
use super::bidirectional::MergeMode;
use super::conv1d::Padding;
pub use super::global_pooling::GlobalPooling1DConfig;
use super::global_pooling::default_data_format;
use super::initializers::Initializer;
use crate::error::Result;

/// One layer of a `Sequential` model, tagged by `type` (`"lstm"`, `"dense"`, ...).
/// Keras's class names (`"LSTM"`, `"GlobalMaxPooling1D"`, and its aliases such as
/// `"MaxPool1D"`) are read too, so a type copied from Keras code works; the snake_case
/// name is what gets written, so saved files are unchanged.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum LayerConfig {
    #[serde(alias = "Embedding")]
    Embedding(EmbeddingConfig),
    #[serde(
        rename = "simple_rnn",
        alias = "simplernn",
        alias = "SimpleRNN",
        deserialize_with = "recurrent_config"
    )]
    SimpleRnn(SimpleRnnConfig),
    #[serde(alias = "LSTM", deserialize_with = "recurrent_config")]
    Lstm(LstmConfig),
    #[serde(alias = "GRU", deserialize_with = "recurrent_config")]
    Gru(GruConfig),
    #[serde(alias = "Dense")]
    Dense(DenseConfig),
    #[serde(alias = "Dropout")]
    Dropout(DropoutConfig),
    #[serde(alias = "Bidirectional")]
    Bidirectional(BidirectionalConfig),
    #[serde(
        rename = "global_average_pooling1d",
        alias = "GlobalAveragePooling1D",
        alias = "GlobalAvgPool1D"
    )]
    GlobalAveragePooling1D(GlobalPooling1DConfig),
    #[serde(
        rename = "global_max_pooling1d",
        alias = "GlobalMaxPooling1D",
        alias = "GlobalMaxPool1D"
    )]
    GlobalMaxPooling1D(GlobalPooling1DConfig),
    #[serde(rename = "conv1d", alias = "Conv1D", alias = "Convolution1D")]
    Conv1D(Conv1DConfig),
    #[serde(rename = "max_pooling1d", alias = "MaxPooling1D", alias = "MaxPool1D")]
    MaxPooling1D(MaxPooling1DConfig),
    #[serde(alias = "TimeDistributed")]
    TimeDistributed(TimeDistributedConfig),
}

impl LayerConfig {
    /// The fixed batch size of a stateful recurrent layer (or of the one a
    /// `Bidirectional` wraps), `None` for every other layer.
    pub fn stateful_batch_size(&self) -> Option<usize> {
        let args: &RecurrentArgs = match self {
            LayerConfig::SimpleRnn(c) => c,
            LayerConfig::Lstm(c) => c,
            LayerConfig::Gru(c) => c,
            LayerConfig::Bidirectional(b) => return b.layer.stateful_batch_size(),
            _ => return None,
        };
        args.batch_size.filter(|_| args.stateful)
    }

    /// Create the (unbuilt) layer this config describes; checks argument ranges.
    pub fn to_layer(&self) -> Result<Box<dyn Layer>> {
        match self {
            LayerConfig::Embedding(c) => Ok(Box::new(super::Embedding::from_config(c.clone())?)),
            LayerConfig::SimpleRnn(c) => Ok(Box::new(super::SimpleRNN::from_config(c.clone())?)),
            LayerConfig::Lstm(c) => Ok(Box::new(super::LSTM::from_config(c.clone())?)),
            LayerConfig::Gru(c) => Ok(Box::new(super::GRU::from_config(c.clone())?)),
            LayerConfig::Dense(c) => Ok(Box::new(super::Dense::from_config(c)?)),
            LayerConfig::Dropout(c) => Ok(Box::new(super::Dropout::from_config(c)?)),
            LayerConfig::Bidirectional(c) => Ok(Box::new(super::Bidirectional::with_name(
                (*c.layer).clone(),
                c.merge_mode,
                c.name.clone(),
            )?)),
            LayerConfig::GlobalAveragePooling1D(c) => Ok(Box::new(
                super::GlobalAveragePooling1D::from_config(c.clone())?,
            )),
            LayerConfig::GlobalMaxPooling1D(c) => {
                Ok(Box::new(super::GlobalMaxPooling1D::from_config(c.clone())?))
            }
            LayerConfig::Conv1D(c) => Ok(Box::new(super::Conv1D::from_config(c.clone())?)),
            LayerConfig::MaxPooling1D(c) => {
                Ok(Box::new(super::MaxPooling1D::from_config(c.clone())?))
            }
            LayerConfig::TimeDistributed(c) => Ok(Box::new(super::TimeDistributed::with_name(
                (*c.layer).clone(),
                c.name.clone(),
            )?)),
        }
    }
}

fn default_true() -> bool {
    true
}
fn default_tanh() -> Activation {
    Activation::Tanh
}
fn default_sigmoid() -> Activation {
    Activation::Sigmoid
}
fn default_glorot() -> Initializer {
    Initializer::GlorotUniform
}
fn default_orthogonal() -> Initializer {
    Initializer::Orthogonal
}
fn default_embedding_init() -> Initializer {
    Initializer::RandomUniform {
        minval: -0.05,
        maxval: 0.05,
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmbeddingConfig {
    #[serde(default)]
    pub name: Option<String>,
    pub input_dim: usize,
    pub output_dim: usize,
    #[serde(default = "default_embedding_init")]
    pub embeddings_initializer: Initializer,
    /// Token id 0 is padding: later recurrent layers skip those steps.
    #[serde(default)]
    pub mask_zero: bool,
    /// Optional fixed sequence length, only used for shapes in `summary()`.
    #[serde(default)]
    pub input_length: Option<usize>,
}

/// Arguments shared by SimpleRNN, LSTM and GRU, Keras names and defaults. Each layer's
/// config flattens it (`#[serde(flatten)]`), so saved configs keep one flat object with
/// the same keys as before, and derefs to it (`config.units`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RecurrentArgs {
    #[serde(default)]
    pub name: Option<String>,
    pub units: usize,
    #[serde(default = "default_tanh")]
    pub activation: Activation,
    #[serde(default = "default_true")]
    pub use_bias: bool,
    #[serde(default = "default_glorot")]
    pub kernel_initializer: Initializer,
    #[serde(default = "default_orthogonal")]
    pub recurrent_initializer: Initializer,
    #[serde(default)]
    pub bias_initializer: Initializer,
    #[serde(default)]
    pub dropout: f32,
    #[serde(default)]
    pub recurrent_dropout: f32,
    #[serde(default)]
    pub return_sequences: bool,
    /// Keras `go_backwards`: read the sequence (and its mask) time-reversed; a sequence
    /// output stays in that reversed order.
    #[serde(default)]
    pub go_backwards: bool,
    /// (time_steps, features) when this is the first layer on float input.
    #[serde(default)]
    pub input_shape: Option<Vec<Option<usize>>>,
    /// Keras `stateful`: each batch starts from the states the previous batch ended
    /// with, sample by sample, until `reset_states()`. Written only when true, so
    /// files saved before it existed keep their bytes.
    #[serde(default, skip_serializing_if = "is_false")]
    pub stateful: bool,
    /// The fixed batch size a stateful layer's states have (Keras: `Input(batch_size=)`
    /// or `batch_input_shape[0]`); required with `stateful`, written only when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_size: Option<usize>,
}

fn is_false(v: &bool) -> bool {
    !*v
}

impl RecurrentArgs {
    /// `units` with Keras's defaults for the rest (tanh, biases, Glorot/orthogonal).
    pub fn new(units: usize) -> Self {
        RecurrentArgs {
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
            stateful: false,
            batch_size: None,
        }
    }
}

/// `Deref`/`DerefMut` from a recurrent layer's config to its `RecurrentArgs`.
macro_rules! recurrent_args_deref {
    ($($config:ty),*) => {$(
        impl std::ops::Deref for $config {
            type Target = RecurrentArgs;
            fn deref(&self) -> &RecurrentArgs {
                &self.common
            }
        }
        impl std::ops::DerefMut for $config {
            fn deref_mut(&mut self) -> &mut RecurrentArgs {
                &mut self.common
            }
        }
    )*};
}
recurrent_args_deref!(SimpleRnnConfig, LstmConfig, GruConfig);

/// The keys a recurrent layer's config takes, for `recurrent_config`.
trait ConfigKeys {
    const KEYS: &'static [&'static str];
}

impl ConfigKeys for SimpleRnnConfig {
    const KEYS: &'static [&'static str] = &[
        "name",
        "units",
        "activation",
        "use_bias",
        "kernel_initializer",
        "recurrent_initializer",
        "bias_initializer",
        "dropout",
        "recurrent_dropout",
        "return_sequences",
        "go_backwards",
        "input_shape",
        "stateful",
        "batch_size",
    ];
}

impl ConfigKeys for LstmConfig {
    const KEYS: &'static [&'static str] = &[
        "name",
        "units",
        "activation",
        "recurrent_activation",
        "use_bias",
        "kernel_initializer",
        "recurrent_initializer",
        "bias_initializer",
        "unit_forget_bias",
        "dropout",
        "recurrent_dropout",
        "return_sequences",
        "go_backwards",
        "input_shape",
        "stateful",
        "batch_size",
    ];
}

impl ConfigKeys for GruConfig {
    const KEYS: &'static [&'static str] = &[
        "name",
        "units",
        "activation",
        "recurrent_activation",
        "use_bias",
        "kernel_initializer",
        "recurrent_initializer",
        "bias_initializer",
        "dropout",
        "recurrent_dropout",
        "return_sequences",
        "go_backwards",
        "reset_after",
        "input_shape",
        "stateful",
        "batch_size",
    ];
}

/// A recurrent layer's config, its unknown keys rejected first, as before its shared
/// arguments were flattened in: serde checks a flattened struct's missing fields before
/// the outer one's unknown keys, so `unitz = 8` would be reported as a missing `units`
/// instead of naming the misspelt key. (`deny_unknown_fields` on each config still
/// rejects unknown keys when it is deserialised on its own.)
fn recurrent_config<'de, D, T>(d: D) -> std::result::Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::de::DeserializeOwned + ConfigKeys,
{
    use serde::de::Error as _;
    let map = serde_json::Map::<String, serde_json::Value>::deserialize(d)?;
    if let Some(key) = map.keys().find(|k| !T::KEYS.contains(&k.as_str())) {
        return Err(D::Error::unknown_field(key, T::KEYS));
    }
    serde_json::from_value(serde_json::Value::Object(map)).map_err(D::Error::custom)
}

/// Keras `SimpleRNN`'s arguments: the shared ones only.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimpleRnnConfig {
    #[serde(flatten)]
    pub common: RecurrentArgs,
}

/// Keras `LSTM`'s arguments.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LstmConfig {
    #[serde(flatten)]
    pub common: RecurrentArgs,
    #[serde(default = "default_sigmoid")]
    pub recurrent_activation: Activation,
    #[serde(default = "default_true")]
    pub unit_forget_bias: bool,
}

/// Keras `GRU`'s arguments.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GruConfig {
    #[serde(flatten)]
    pub common: RecurrentArgs,
    #[serde(default = "default_sigmoid")]
    pub recurrent_activation: Activation,
    #[serde(default = "default_true")]
    pub reset_after: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DenseConfig {
    #[serde(default)]
    pub name: Option<String>,
    pub units: usize,
    #[serde(default)]
    pub activation: Activation,
    #[serde(default = "default_true")]
    pub use_bias: bool,
    #[serde(default = "default_glorot")]
    pub kernel_initializer: Initializer,
    #[serde(default)]
    pub bias_initializer: Initializer,
    /// Input shape (without batch) when this is the first layer.
    #[serde(default)]
    pub input_shape: Option<Vec<Option<usize>>>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DropoutConfig {
    #[serde(default)]
    pub name: Option<String>,
    pub rate: f32,
}

/// Keras `Bidirectional(layer, merge_mode)`: `layer` is the wrapped SimpleRNN, LSTM or
/// GRU config.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BidirectionalConfig {
    #[serde(default)]
    pub name: Option<String>,
    pub layer: Box<LayerConfig>,
    #[serde(default)]
    pub merge_mode: MergeMode,
}

fn default_one() -> usize {
    1
}

/// A 1D size that Keras writes as a one-element list (`kernel_size: [5]`); an integer
/// is accepted too (TOML configs).
fn one_size<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<usize, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrList {
        One(usize),
        List(Vec<usize>),
    }
    match OneOrList::deserialize(d)? {
        OneOrList::One(v) => Ok(v),
        OneOrList::List(v) if v.len() == 1 => Ok(v[0]),
        OneOrList::List(v) => Err(serde::de::Error::custom(format!(
            "expected one integer (or a list of one), got a list of {}",
            v.len()
        ))),
    }
}

/// As `one_size`, for an optional size (`strides` of the pooling layers; null = pool_size).
fn one_size_opt<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<usize>, D::Error> {
    #[derive(Deserialize)]
    struct Wrap(#[serde(deserialize_with = "one_size")] usize);
    Ok(Option::<Wrap>::deserialize(d)?.map(|w| w.0))
}

/// Keras `Conv1D(filters, kernel_size, strides, padding, data_format, dilation_rate,
/// activation, use_bias, ...)`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Conv1DConfig {
    #[serde(default)]
    pub name: Option<String>,
    pub filters: usize,
    #[serde(deserialize_with = "one_size")]
    pub kernel_size: usize,
    #[serde(default = "default_one", deserialize_with = "one_size")]
    pub strides: usize,
    #[serde(default)]
    pub padding: Padding,
    #[serde(default = "default_data_format")]
    pub data_format: String,
    #[serde(default = "default_one", deserialize_with = "one_size")]
    pub dilation_rate: usize,
    #[serde(default)]
    pub activation: Activation,
    #[serde(default = "default_true")]
    pub use_bias: bool,
    #[serde(default = "default_glorot")]
    pub kernel_initializer: Initializer,
    #[serde(default)]
    pub bias_initializer: Initializer,
    /// (steps, channels) when this is the first layer.
    #[serde(default)]
    pub input_shape: Option<Vec<Option<usize>>>,
}

impl Conv1DConfig {
    /// `Conv1D(filters, kernel_size)` with Keras's defaults.
    pub fn new(filters: usize, kernel_size: usize) -> Self {
        Conv1DConfig {
            name: None,
            filters,
            kernel_size,
            strides: 1,
            padding: Padding::Valid,
            data_format: default_data_format(),
            dilation_rate: 1,
            activation: Activation::Linear,
            use_bias: true,
            kernel_initializer: Initializer::GlorotUniform,
            bias_initializer: Initializer::Zeros,
            input_shape: None,
        }
    }
}

/// Keras `MaxPooling1D(pool_size=2, strides=None, padding="valid")`; `strides` defaults
/// to `pool_size`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaxPooling1DConfig {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default = "default_pool_size", deserialize_with = "one_size")]
    pub pool_size: usize,
    #[serde(default, deserialize_with = "one_size_opt")]
    pub strides: Option<usize>,
    #[serde(default)]
    pub padding: Padding,
    #[serde(default = "default_data_format")]
    pub data_format: String,
}

fn default_pool_size() -> usize {
    2
}

impl Default for MaxPooling1DConfig {
    fn default() -> Self {
        MaxPooling1DConfig {
            name: None,
            pool_size: 2,
            strides: None,
            padding: Padding::Valid,
            data_format: default_data_format(),
        }
    }
}

/// Keras `TimeDistributed(layer)`: `layer` (a Dense config) applied to every time step.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeDistributedConfig {
    #[serde(default)]
    pub name: Option<String>,
    pub layer: Box<LayerConfig>,
}
