//! The `config.json` of a Keras 3 `.keras` archive for a `Sequential` model, mapped to
//! our `LayerConfig`s. Every Keras argument is either mapped, known not to change the
//! computation (dtype, seeds, build hints), or must have its default value; anything
//! else is an error naming the layer and the argument, never silently dropped.

use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::layers::{LayerConfig, Shape};

/// A Keras `Sequential` model's structure.
#[derive(Clone, Debug, PartialEq)]
pub struct KerasSequential {
    pub name: String,
    /// From the `InputLayer` (batch axis removed), if the model has one.
    pub input_shape: Option<Shape>,
    pub layers: Vec<LayerConfig>,
}

/// Arguments that do not change what a layer computes here.
const IGNORED: &[&str] = &[
    "name",
    "dtype",
    "seed",
    "unroll",
    "use_cudnn",
    "quantization_config",
    "lora_rank",
    "lora_alpha",
    "zero_output_for_mask",
];

/// Arguments we do not implement: accepted only with these (Keras default) values.
const DEFAULT_ONLY: &[(&str, Value)] = &[
    ("trainable", Value::Bool(true)),
    ("return_state", Value::Bool(false)),
    ("stateful", Value::Bool(false)),
    ("kernel_regularizer", Value::Null),
    ("recurrent_regularizer", Value::Null),
    ("bias_regularizer", Value::Null),
    ("activity_regularizer", Value::Null),
    ("embeddings_regularizer", Value::Null),
    ("kernel_constraint", Value::Null),
    ("recurrent_constraint", Value::Null),
    ("bias_constraint", Value::Null),
    ("embeddings_constraint", Value::Null),
    ("sparse", Value::Bool(false)),
    ("noise_shape", Value::Null),
];

/// Parses the text of a `.keras` archive's `config.json`.
pub fn parse_keras_config(json: &str) -> Result<KerasSequential> {
    let root: Value = serde_json::from_str(json)
        .map_err(|e| Error::Data(format!("config.json is not valid JSON: {e}")))?;
    let class = root["class_name"].as_str().unwrap_or("?");
    if class != "Sequential" {
        return Err(Error::Unsupported(format!(
            "config.json: only Sequential models can be imported, got a {class} model"
        )));
    }
    let config = &root["config"];
    let name = config["name"].as_str().unwrap_or("sequential").to_string();
    let layers = config["layers"]
        .as_array()
        .ok_or_else(|| Error::Data("config.json: the model config has no `layers` list".into()))?;
    let mut input_shape = None;
    let mut out = Vec::new();
    for (i, layer) in layers.iter().enumerate() {
        let class = layer["class_name"]
            .as_str()
            .ok_or_else(|| Error::Data(format!("config.json: layer {i} has no `class_name`")))?;
        if class == "InputLayer" {
            input_shape = Some(input_layer_shape(i, &layer["config"])?);
            continue;
        }
        out.push(layer_config(layer)?);
    }
    Ok(KerasSequential {
        name,
        input_shape,
        layers: out,
    })
}

fn input_layer_shape(i: usize, config: &Value) -> Result<Shape> {
    let dims = config["batch_shape"]
        .as_array()
        .or_else(|| config["batch_input_shape"].as_array())
        .ok_or_else(|| {
            Error::Data(format!(
                "config.json: InputLayer (layer {i}) has no batch_shape"
            ))
        })?;
    dims.iter()
        .skip(1)
        .map(|d| match d {
            Value::Null => Ok(None),
            d => d.as_u64().map(|v| Some(v as usize)).ok_or_else(|| {
                Error::Data(format!(
                    "config.json: InputLayer (layer {i}) has a bad dimension {d}"
                ))
            }),
        })
        .collect()
}

/// One serialized Keras layer (`{"class_name", "config", ...}`) as our config.
fn layer_config(layer: &Value) -> Result<LayerConfig> {
    let class = layer["class_name"].as_str().unwrap_or("?");
    let config = layer["config"].as_object().ok_or_else(|| {
        Error::Data(format!(
            "config.json: layer of class {class} has no config object"
        ))
    })?;
    let lname = config
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or("?")
        .to_string();
    let ctx = format!("layer '{lname}' ({class})");
    let tag = match class {
        "Embedding" => "embedding",
        "SimpleRNN" => "simple_rnn",
        "LSTM" => "lstm",
        "GRU" => "gru",
        "Dense" => "dense",
        "Dropout" => "dropout",
        "Bidirectional" => "bidirectional",
        "GlobalAveragePooling1D" => "global_average_pooling1d",
        "GlobalMaxPooling1D" => "global_max_pooling1d",
        "Conv1D" => "conv1d",
        "MaxPooling1D" => "max_pooling1d",
        "TimeDistributed" => "time_distributed",
        other => {
            return Err(Error::Unsupported(format!(
                "config.json: {ctx}: layer class {other} is not implemented (supported: \
                 Embedding, SimpleRNN, LSTM, GRU, Dense, Dropout, Bidirectional, \
                 GlobalAveragePooling1D, GlobalMaxPooling1D, Conv1D, MaxPooling1D, \
                 TimeDistributed)"
            )));
        }
    };
    let mut ours = Map::new();
    ours.insert("type".into(), Value::String(tag.into()));
    ours.insert("name".into(), Value::String(lname.clone()));
    for (key, value) in config {
        if IGNORED.contains(&key.as_str()) {
            continue;
        }
        if let Some((_, default)) = DEFAULT_ONLY.iter().find(|(k, _)| k == key) {
            if value != default {
                return Err(Error::Unsupported(format!(
                    "config.json: {ctx}: argument `{key}` = {value} is not implemented \
                     (only {default})"
                )));
            }
            continue;
        }
        let mapped = match key.as_str() {
            k if k.ends_with("_initializer") => initializer(&ctx, k, value)?,
            "layer" => Value::Object(nested(&layer_config(value)?)?),
            // Keras writes the generated backward copy out; it is the forward one's mirror.
            "backward_layer" => continue,
            // Conv1D's grouped convolution: only the ordinary one (groups=1) is implemented.
            "groups" if value.as_u64() == Some(1) => continue,
            "groups" => {
                return Err(Error::Unsupported(format!(
                    "config.json: {ctx}: argument `groups` = {value} is not implemented (only 1)"
                )));
            }
            _ => value.clone(),
        };
        ours.insert(key.clone(), mapped);
    }
    serde_json::from_value(Value::Object(ours))
        .map_err(|e| Error::Unsupported(format!("config.json: {ctx}: {e}")))
}

fn nested(cfg: &LayerConfig) -> Result<Map<String, Value>> {
    match serde_json::to_value(cfg) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(Error::State("a layer config did not serialise".into())),
    }
}

/// A serialized Keras initializer as ours.
fn initializer(ctx: &str, key: &str, value: &Value) -> Result<Value> {
    let class = value["class_name"].as_str().unwrap_or("?");
    let cfg = &value["config"];
    let ours = match class {
        "Zeros" => Value::String("zeros".into()),
        "Ones" => Value::String("ones".into()),
        "GlorotUniform" => Value::String("glorot_uniform".into()),
        "Orthogonal" if cfg["gain"].as_f64().unwrap_or(1.0) == 1.0 => {
            Value::String("orthogonal".into())
        }
        "RandomUniform" => serde_json::json!({"random_uniform": {
            "minval": cfg["minval"].as_f64().unwrap_or(-0.05),
            "maxval": cfg["maxval"].as_f64().unwrap_or(0.05),
        }}),
        _ => {
            return Err(Error::Unsupported(format!(
                "config.json: {ctx}: {key} {value} is not implemented (supported: Zeros, Ones, \
                 GlorotUniform, Orthogonal with gain 1, RandomUniform)"
            )));
        }
    };
    Ok(ours)
}
