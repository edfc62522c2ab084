//! Serializable layer configurations with Keras's argument names and defaults. The
//! CLI's TOML `[model] layers = [...]` and saved models both go through `LayerConfig`.

use serde::{Deserialize, Serialize};

use super::Layer;
use super::activation::Activation;
use super::bidirectional::MergeMode;
pub use super::global_pooling::GlobalPooling1DConfig;
use super::initializers::Initializer;
use crate::error::Result;

/// One layer of a `Sequential` model, tagged by `type` (`"lstm"`, `"dense"`, ...).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum LayerConfig {
    Embedding(EmbeddingConfig),
    #[serde(rename = "simple_rnn", alias = "simplernn")]
    SimpleRnn(SimpleRnnConfig),
    Lstm(LstmConfig),
    Gru(GruConfig),
    Dense(DenseConfig),
    Dropout(DropoutConfig),
    Bidirectional(BidirectionalConfig),
    #[serde(rename = "global_average_pooling1d")]
    GlobalAveragePooling1D(GlobalPooling1DConfig),
    #[serde(rename = "global_max_pooling1d")]
    GlobalMaxPooling1D(GlobalPooling1DConfig),
}

impl LayerConfig {
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

/// Arguments shared by SimpleRNN, LSTM and GRU, Keras names and defaults.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimpleRnnConfig {
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
    /// (time_steps, features) when this is the first layer on float input.
    #[serde(default)]
    pub input_shape: Option<Vec<Option<usize>>>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LstmConfig {
    #[serde(default)]
    pub name: Option<String>,
    pub units: usize,
    #[serde(default = "default_tanh")]
    pub activation: Activation,
    #[serde(default = "default_sigmoid")]
    pub recurrent_activation: Activation,
    #[serde(default = "default_true")]
    pub use_bias: bool,
    #[serde(default = "default_glorot")]
    pub kernel_initializer: Initializer,
    #[serde(default = "default_orthogonal")]
    pub recurrent_initializer: Initializer,
    #[serde(default)]
    pub bias_initializer: Initializer,
    #[serde(default = "default_true")]
    pub unit_forget_bias: bool,
    #[serde(default)]
    pub dropout: f32,
    #[serde(default)]
    pub recurrent_dropout: f32,
    #[serde(default)]
    pub return_sequences: bool,
    #[serde(default)]
    pub input_shape: Option<Vec<Option<usize>>>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GruConfig {
    #[serde(default)]
    pub name: Option<String>,
    pub units: usize,
    #[serde(default = "default_tanh")]
    pub activation: Activation,
    #[serde(default = "default_sigmoid")]
    pub recurrent_activation: Activation,
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
    #[serde(default = "default_true")]
    pub reset_after: bool,
    #[serde(default)]
    pub input_shape: Option<Vec<Option<usize>>>,
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
