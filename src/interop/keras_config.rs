//! A Keras model config (the `config.json` of a Keras 3 `.keras` archive, or the
//! `model_config` attribute of a Keras 2 / tf.keras / Keras 3 legacy `.h5` file) for a
//! `Sequential` model, or a Functional model that is a single chain of layers, mapped to
//! our `LayerConfig`s. Every Keras argument is either mapped, known not to change the
//! computation (dtype, seeds, build hints), or must have its default value; anything
//! else is an error naming the layer and the argument, never silently dropped.
//!
//! Keras 2 spellings are accepted too: the input shape as `batch_input_shape` on the
//! first layer (no `InputLayer`), `build_input_shape`, the pre-2.3 list-valued Sequential
//! config, `implementation` and `time_major`, and `VarianceScaling` for Glorot uniform.
//! Initializers are read by `Initializer::from_value`, so every one Keras has maps.

use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::layers::initializers::{Distribution, FanMode};
use crate::layers::{Initializer, LayerConfig, Shape};
use crate::losses::Loss;
use crate::metrics::Metric;
use crate::model::Sequential;

/// A Keras `Sequential` model's structure.
#[derive(Clone, Debug, PartialEq)]
pub struct KerasSequential {
    pub name: String,
    /// From the `InputLayer` (batch axis removed), if the model has one.
    pub input_shape: Option<Shape>,
    pub layers: Vec<LayerConfig>,
}

impl KerasSequential {
    /// An upper bound on the number of weights these layers have (saturating), from the
    /// configs alone: a file must hold that many values before we allocate them.
    pub fn param_bound(&self) -> u128 {
        fn rnn(features: u128, units: u128, gates: u128) -> u128 {
            features
                .saturating_add(units)
                .saturating_add(2)
                .saturating_mul(units)
                .saturating_mul(gates)
        }
        fn layer(c: &LayerConfig, features: u128) -> (u128, u128) {
            match c {
                LayerConfig::Embedding(e) => (
                    (e.input_dim as u128).saturating_mul(e.output_dim as u128),
                    e.output_dim as u128,
                ),
                LayerConfig::SimpleRnn(r) => (rnn(features, r.units as u128, 1), r.units as u128),
                LayerConfig::Lstm(r) => (rnn(features, r.units as u128, 4), r.units as u128),
                LayerConfig::Gru(r) => (rnn(features, r.units as u128, 3), r.units as u128),
                LayerConfig::Dense(d) => (
                    features.saturating_add(1).saturating_mul(d.units as u128),
                    d.units as u128,
                ),
                LayerConfig::Bidirectional(b) => {
                    let (n, width) = layer(&b.layer, features);
                    (n.saturating_mul(2), width.saturating_mul(2))
                }
                LayerConfig::Conv1D(c) => (
                    (c.kernel_size as u128)
                        .saturating_mul(features)
                        .saturating_add(1)
                        .saturating_mul(c.filters as u128),
                    c.filters as u128,
                ),
                LayerConfig::TimeDistributed(t) => layer(&t.layer, features),
                _ => (0, features),
            }
        }
        let mut features = self
            .input_shape
            .as_ref()
            .and_then(|s| s.last().copied().flatten())
            .unwrap_or(1) as u128;
        let mut total = 0u128;
        for c in &self.layers {
            let (n, f) = layer(c, features);
            total = total.saturating_add(n);
            features = f;
        }
        total
    }

    /// Our model with these layers, built for the input shape (weights not yet set).
    pub fn to_model(&self) -> Result<Sequential> {
        let input_shape = self.input_shape.as_ref().ok_or_else(|| {
            Error::Data(
                "the model has no InputLayer or input shape, so its input shape is unknown".into(),
            )
        })?;
        let mut model = Sequential::from_configs(&self.layers)?;
        model.set_name(self.name.clone());
        if model.input_shape() != Some(input_shape.as_slice()) {
            model.build(input_shape)?;
        }
        Ok(model)
    }
}

/// Refuses a config declaring more weights than `weight_bytes` bytes can hold (Keras
/// stores each weight uncompressed, at least 2 bytes a value), before allocating them.
pub(crate) fn check_param_bound(parsed: &KerasSequential, weight_bytes: usize) -> Result<()> {
    let bound = parsed.param_bound();
    if bound > (weight_bytes as u128) / 2 {
        return Err(Error::Data(format!(
            "the model config declares up to {bound} weights, more than the {weight_bytes} \
             bytes of weight data can hold"
        )));
    }
    Ok(())
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
    // Keras 2: which kernel implementation computes the same recurrence.
    "implementation",
];

/// Arguments we do not implement: accepted only with these (Keras default) values.
const DEFAULT_ONLY: &[(&str, Value)] = &[
    ("trainable", Value::Bool(true)),
    ("return_state", Value::Bool(false)),
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
    ("time_major", Value::Bool(false)),
];

/// Parses the text of a `.keras` archive's `config.json`.
pub fn parse_keras_config(json: &str) -> Result<KerasSequential> {
    parse_keras_model_config(json, "config.json")
}

/// Parses a Keras model config (JSON) read from `source` (named in errors:
/// `config.json`, `model_config`).
pub fn parse_keras_model_config(json: &str, source: &str) -> Result<KerasSequential> {
    let root: Value = serde_json::from_str(json)
        .map_err(|e| Error::Data(format!("{source} is not valid JSON: {e}")))?;
    let class = root["class_name"].as_str().unwrap_or("?");
    let config = &root["config"];
    let layers: Vec<&Value> = match class {
        // Keras before 2.3 wrote a Sequential's config as the bare list of layers.
        "Sequential" => config
            .as_array()
            .or_else(|| config["layers"].as_array())
            .ok_or_else(|| Error::Data(format!("{source}: the model config has no `layers` list")))?
            .iter()
            .collect(),
        "Functional" | "Model" => functional_chain(config, source, class)?,
        _ => {
            return Err(Error::Unsupported(format!(
                "{source}: only Sequential models (or Functional chains of single-input \
                 layers) can be imported, got a {class} model"
            )));
        }
    };
    let name = config["name"].as_str().unwrap_or("sequential").to_string();
    let mut input_shape = None;
    // The input's batch axis: a stateful layer's fixed batch size.
    let mut batch = None;
    let mut out = Vec::new();
    for (i, layer) in layers.into_iter().enumerate() {
        let class = layer["class_name"]
            .as_str()
            .ok_or_else(|| Error::Data(format!("{source}: layer {i} has no `class_name`")))?;
        if class == "InputLayer" {
            batch = batch_dim(&layer["config"]);
            input_shape = Some(
                batch_shape(&layer["config"], source, &format!("InputLayer (layer {i})"))?
                    .ok_or_else(|| {
                        Error::Data(format!(
                            "{source}: InputLayer (layer {i}) has no batch_shape"
                        ))
                    })?,
            );
            continue;
        }
        // Keras 2 puts the input shape on the first layer when there is no InputLayer.
        if out.is_empty() && input_shape.is_none() {
            input_shape = batch_shape(&layer["config"], source, &format!("layer {i} ({class})"))?;
            batch = batch_dim(&layer["config"]);
        }
        out.push(layer_config(layer, source)?);
    }
    if input_shape.is_none() && config["build_input_shape"].is_array() {
        input_shape = batch_shape(config, source, "the model's build_input_shape")?;
    }
    if batch.is_none() {
        batch = batch_dim(config);
    }
    out.iter_mut().for_each(|c| set_stateful_batch(c, batch));
    Ok(KerasSequential {
        name,
        input_shape,
        layers: out,
    })
}

/// The layers of a Functional model that is one chain (one input, each layer fed by the
/// one before it, one output): the same computation as a Sequential. Anything else is
/// an error saying what the graph has.
fn functional_chain<'a>(config: &'a Value, source: &str, class: &str) -> Result<Vec<&'a Value>> {
    let endpoint_names = |key: &str| -> Vec<String> {
        let mut names = Vec::new();
        match &config[key] {
            // One endpoint may be written as a bare `[name, node, tensor]` triple.
            Value::Array(v) if v.first().is_some_and(Value::is_string) => {
                names.push(v[0].as_str().unwrap_or("?").to_string())
            }
            Value::Array(v) => {
                for e in v {
                    names.push(e[0].as_str().unwrap_or("?").to_string());
                }
            }
            _ => {}
        }
        names
    };
    let inputs = endpoint_names("input_layers");
    let outputs = endpoint_names("output_layers");
    if inputs.len() != 1 || outputs.len() != 1 {
        return Err(Error::Unsupported(format!(
            "{source}: a {class} model with {} inputs ({}) and {} output(s) ({}) cannot be \
             imported; only single-input, single-output chains of layers can",
            inputs.len(),
            inputs.join(", "),
            outputs.len(),
            outputs.join(", ")
        )));
    }
    let layers = config["layers"].as_array().ok_or_else(|| {
        Error::Data(format!(
            "{source}: the {class} model config has no `layers` list"
        ))
    })?;
    let mut previous: Option<String> = None;
    for (i, layer) in layers.iter().enumerate() {
        let lname = layer["name"]
            .as_str()
            .or_else(|| layer["config"]["name"].as_str())
            .unwrap_or("?")
            .to_string();
        let lclass = layer["class_name"].as_str().unwrap_or("?");
        let nodes = layer["inbound_nodes"]
            .as_array()
            .map_or(&[][..], Vec::as_slice);
        let ok = match (&previous, nodes) {
            (None, []) => lclass == "InputLayer" && lname == inputs[0],
            (Some(prev), [node]) => {
                let mut feeds = Vec::new();
                inbound_layers(node, &mut feeds);
                // A mask passed along is the same layer's output again.
                !feeds.is_empty() && feeds.iter().all(|f| f == prev)
            }
            _ => false,
        };
        if !ok {
            return Err(Error::Unsupported(format!(
                "{source}: {class} model: layer {i} `{lname}` ({lclass}) is not fed by \
                 exactly the layer before it; only single-input chains of layers can be \
                 imported"
            )));
        }
        previous = Some(lname);
    }
    if previous.as_deref() != Some(outputs[0].as_str()) {
        return Err(Error::Unsupported(format!(
            "{source}: {class} model: the output `{}` is not the last layer",
            outputs[0]
        )));
    }
    Ok(layers.iter().collect())
}

/// Names of the layers whose outputs feed one inbound node: Keras 3 writes
/// `{"args": [<__keras_tensor__ with keras_history [name, node, index]>], "kwargs"}`,
/// Keras 2 `[[name, node, index, kwargs], ...]`. Tensors in kwargs (an initial state, a
/// mask from elsewhere) count as inputs too.
fn inbound_layers(node: &Value, out: &mut Vec<String>) {
    match node {
        Value::Object(m) => {
            if let Some(h) = m.get("keras_history").and_then(Value::as_array) {
                out.push(h.first().and_then(Value::as_str).unwrap_or("?").to_string());
                return;
            }
            for v in m.values() {
                inbound_layers(v, out);
            }
        }
        Value::Array(v) => {
            if let (Some(Value::String(name)), Some(n)) = (v.first(), v.get(1))
                && n.is_number()
            {
                out.push(name.clone());
                for rest in &v[2..] {
                    inbound_layers(rest, out);
                }
                return;
            }
            for e in v {
                inbound_layers(e, out);
            }
        }
        _ => {}
    }
}

/// The batch axis of a config's `batch_shape` / `batch_input_shape` /
/// `build_input_shape`, when it is a fixed size.
fn batch_dim(config: &Value) -> Option<usize> {
    ["batch_shape", "batch_input_shape", "build_input_shape"]
        .iter()
        .find_map(|k| config[*k].as_array())
        .and_then(|dims| dims.first()?.as_u64())
        .filter(|&b| b > 0 && b <= u32::MAX as u64)
        .map(|b| b as usize)
}

/// Keras keeps a stateful layer's batch size on the model's input (`batch_shape[0]`);
/// ours is the layer's own `batch_size`. A stateful layer of a model without a fixed
/// batch size keeps none, and building it says so.
fn set_stateful_batch(config: &mut LayerConfig, batch: Option<usize>) {
    let args = match config {
        LayerConfig::SimpleRnn(c) => &mut c.common,
        LayerConfig::Lstm(c) => &mut c.common,
        LayerConfig::Gru(c) => &mut c.common,
        LayerConfig::Bidirectional(b) => return set_stateful_batch(&mut b.layer, batch),
        _ => return,
    };
    if args.stateful && args.batch_size.is_none() {
        args.batch_size = batch;
    }
}

/// `batch_shape` / `batch_input_shape` / `build_input_shape` of a config, without the
/// batch axis; `None` when it has none.
fn batch_shape(config: &Value, source: &str, what: &str) -> Result<Option<Shape>> {
    let Some(dims) = ["batch_shape", "batch_input_shape", "build_input_shape"]
        .iter()
        .find_map(|k| config[*k].as_array())
    else {
        return Ok(None);
    };
    if dims.is_empty() {
        return Err(Error::Data(format!(
            "{source}: {what} has an empty input shape"
        )));
    }
    dims.iter()
        .skip(1)
        .map(|d| match d {
            Value::Null => Ok(None),
            d => d
                .as_u64()
                .filter(|&v| v > 0 && v <= u32::MAX as u64)
                .map(|v| Some(v as usize))
                .ok_or_else(|| Error::Data(format!("{source}: {what} has a bad dimension {d}"))),
        })
        .collect::<Result<Shape>>()
        .map(Some)
}

/// Each Keras layer class we import and export, with our config's `type` tag: the one
/// table both directions read (`keras_export` writes the class for the tag).
pub(crate) const LAYER_CLASSES: &[(&str, &str)] = &[
    ("Embedding", "embedding"),
    ("SimpleRNN", "simple_rnn"),
    ("LSTM", "lstm"),
    ("GRU", "gru"),
    ("Dense", "dense"),
    ("Dropout", "dropout"),
    ("Bidirectional", "bidirectional"),
    ("GlobalAveragePooling1D", "global_average_pooling1d"),
    ("GlobalMaxPooling1D", "global_max_pooling1d"),
    ("Conv1D", "conv1d"),
    ("MaxPooling1D", "max_pooling1d"),
    ("TimeDistributed", "time_distributed"),
];

/// Our layer `type` tag of a Keras class, if we have that layer.
pub(crate) fn tag_of_class(class: &str) -> Option<&'static str> {
    LAYER_CLASSES
        .iter()
        .find(|(c, _)| *c == class)
        .map(|(_, t)| *t)
}

/// The Keras class of our layer `type` tag.
pub(crate) fn class_of_tag(tag: &str) -> Option<&'static str> {
    LAYER_CLASSES
        .iter()
        .find(|(_, t)| *t == tag)
        .map(|(c, _)| *c)
}

fn supported() -> String {
    LAYER_CLASSES
        .iter()
        .map(|(c, _)| *c)
        .collect::<Vec<_>>()
        .join(", ")
}

/// One serialized Keras layer (`{"class_name", "config", ...}`) as our config.
fn layer_config(layer: &Value, source: &str) -> Result<LayerConfig> {
    let class = layer["class_name"].as_str().unwrap_or("?");
    let config = layer["config"].as_object().ok_or_else(|| {
        Error::Data(format!(
            "{source}: layer of class {class} has no config object"
        ))
    })?;
    let lname = config
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or("?")
        .to_string();
    let ctx = format!("layer {class} (`{lname}`)");
    let Some(tag) = tag_of_class(class) else {
        return Err(Error::Unsupported(format!(
            "{source}: {ctx} is not supported (supported layers: {})",
            supported()
        )));
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
                    "{source}: {ctx}: argument `{key}` = {value} is not supported \
                     (only {default})"
                )));
            }
            continue;
        }
        let mapped = match key.as_str() {
            k if k.ends_with("_initializer") => initializer(source, &ctx, k, value)?,
            "layer" => Value::Object(nested(&layer_config(value, source)?)?),
            // Keras writes the generated backward copy out; it is the forward one's mirror.
            "backward_layer" => continue,
            // Keras 2's input shape: taken as the model's input by the caller.
            "batch_input_shape" | "batch_shape" => continue,
            // Conv1D's grouped convolution: only the ordinary one (groups=1) is implemented.
            "groups" if value.as_u64() == Some(1) => continue,
            "groups" => {
                return Err(Error::Unsupported(format!(
                    "{source}: {ctx}: argument `groups` = {value} is not supported (only 1)"
                )));
            }
            _ => value.clone(),
        };
        ours.insert(key.clone(), mapped);
    }
    serde_json::from_value(Value::Object(ours))
        .map_err(|e| Error::Unsupported(format!("{source}: {ctx}: {e}")))
}

fn nested(cfg: &LayerConfig) -> Result<Map<String, Value>> {
    match serde_json::to_value(cfg) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(Error::State("a layer config did not serialise".into())),
    }
}

/// A serialized Keras initializer as ours: every initializer Keras has (its class
/// names, aliases and arguments), read by `Initializer::from_value` and written in our
/// form. Keras writes `null` for an argument left at its default (`seed`, and Keras
/// 3.10's `input_axes`/`output_axes`): those are dropped. A `seed` is dropped whatever
/// its value: the imported weights replace the draws, and ours come from the model's
/// seed (`initializers`' module doc).
fn initializer(source: &str, ctx: &str, key: &str, value: &Value) -> Result<Value> {
    let mut value = value.clone();
    if let Some(cfg) = value.get_mut("config").and_then(Value::as_object_mut) {
        cfg.retain(|k, v| k != "seed" && !v.is_null());
    }
    let unsupported =
        |e: String| Error::Unsupported(format!("{source}: {ctx}: {key} {value}: {e}"));
    let init = Initializer::from_value(&value).map_err(|e| unsupported(e.to_string()))?;
    // Keras 2.0-2.2 serialised glorot_uniform as this VarianceScaling: the same
    // distribution, written under its usual name.
    let init = match init {
        Initializer::VarianceScaling {
            scale: 1.0,
            mode: FanMode::FanAvg,
            distribution: Distribution::Uniform,
        } => Initializer::GlorotUniform,
        other => other,
    };
    serde_json::to_value(&init).map_err(|e| unsupported(e.to_string()))
}

/// The loss and metrics of a Keras `training_config` (`.h5`) or `compile_config`
/// (`.keras`), enough to evaluate an imported model as Keras would. The optimizer is
/// not imported.
#[derive(Clone, Debug, PartialEq)]
pub struct KerasTraining {
    pub loss: Loss,
    pub metrics: Vec<Metric>,
    /// Metric names we do not compute (reported, not silently dropped).
    pub skipped_metrics: Vec<String>,
}

/// Reads the loss and metrics from a Keras training/compile config.
pub fn parse_training_config(config: &Value, source: &str) -> Result<KerasTraining> {
    let loss_value = &config["loss"];
    let loss_name = match loss_value {
        Value::String(s) => s.clone(),
        Value::Object(m) => {
            let cfg = &loss_value["config"];
            if cfg["from_logits"].as_bool() == Some(true)
                || cfg["label_smoothing"].as_f64().is_some_and(|v| v != 0.0)
            {
                return Err(Error::Unsupported(format!(
                    "{source}: loss {loss_value} (from_logits or label_smoothing) is not \
                     supported"
                )));
            }
            snake_case(m.get("class_name").and_then(Value::as_str).unwrap_or("?"))
        }
        Value::Null => {
            return Err(Error::Data(format!(
                "{source}: the training config has no loss"
            )));
        }
        other => {
            return Err(Error::Unsupported(format!(
                "{source}: loss {other} (several losses?) is not supported"
            )));
        }
    };
    let loss: Loss = loss_name
        .parse()
        .map_err(|e| Error::Unsupported(format!("{source}: {e}")))?;
    let mut names = Vec::new();
    metric_names(&config["metrics"], &mut names);
    let mut metrics = Vec::new();
    let mut skipped_metrics = Vec::new();
    for (n, entry) in names {
        // A serialised metric instance keeps its arguments (AUC(curve="PR") is not the
        // default AUC); a wrapper class (tf.keras's MeanMetricWrapper) only its name.
        let parsed = match entry {
            Some(obj)
                if Metric::from_value(
                    &serde_json::json!({"class_name": obj["class_name"], "config": {}}),
                )
                .is_ok() =>
            {
                Metric::from_value(&obj)
            }
            _ => n.parse::<Metric>(),
        };
        match parsed {
            Ok(m) if !metrics.contains(&m) => metrics.push(m),
            Ok(_) => {}
            Err(_) => skipped_metrics.push(n),
        }
    }
    Ok(KerasTraining {
        loss,
        metrics,
        skipped_metrics,
    })
}

/// Metric names in Keras's spellings: `["accuracy"]`, tf.keras's
/// `[[{"class_name": "MeanMetricWrapper", "config": {"name": "accuracy"}}]]`.
/// Each with its serialised object, if it is one.
fn metric_names(v: &Value, out: &mut Vec<(String, Option<Value>)>) {
    match v {
        Value::String(s) => out.push((s.clone(), None)),
        Value::Array(items) => items.iter().for_each(|i| metric_names(i, out)),
        Value::Object(m) => {
            let name = m["config"]["name"]
                .as_str()
                .or_else(|| m.get("class_name").and_then(Value::as_str));
            if let Some(n) = name {
                out.push((n.to_string(), Some(v.clone())));
            }
        }
        _ => {}
    }
}

/// `BinaryCrossentropy` -> `binary_crossentropy`.
pub(crate) fn snake_case(class: &str) -> String {
    let mut out = String::new();
    for (i, c) in class.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declared_sizes_are_bounded_before_allocating() {
        let json = |units: u64| {
            format!(
                r#"{{"class_name": "Sequential", "config": {{"name": "s", "layers": [
                {{"class_name": "InputLayer", "config": {{"batch_shape": [null, 5, 3]}}}},
                {{"class_name": "LSTM", "config": {{"name": "lstm", "units": {units}}}}},
                {{"class_name": "Dense", "config": {{"name": "dense", "units": 1}}}}]}}}}"#
            )
        };
        let small = parse_keras_model_config(&json(4), "model_config").unwrap();
        // LSTM (3 + 4) * 16 + 16 = 128 weights, Dense 5: the bound covers them.
        let built = small.to_model().unwrap();
        assert!(small.param_bound() >= built.count_params() as u128);
        assert!(check_param_bound(&small, 4 * built.count_params()).is_ok());
        let huge = parse_keras_model_config(&json(2_000_000_000), "model_config").unwrap();
        let e = check_param_bound(&huge, 20_000).unwrap_err().to_string();
        assert!(e.contains("declares") && e.contains("20000 bytes"), "{e}");
    }

    fn lstm_model(args: &str) -> String {
        format!(
            r#"{{"class_name": "Sequential", "config": {{"name": "s", "layers": [
            {{"class_name": "InputLayer", "config": {{"batch_shape": [4, 5, 3]}}}},
            {{"class_name": "LSTM", "config": {{"name": "lstm", "units": 2{args}}}}}]}}}}"#
        )
    }

    #[test]
    fn unsupported_argument_is_named() {
        let json = lstm_model(r#", "return_state": true"#);
        let e = parse_keras_model_config(&json, "model_config").unwrap_err();
        let e = e.to_string();
        assert!(
            e.contains("return_state") && e.contains("LSTM") && e.contains("not supported"),
            "{e}"
        );
    }

    #[test]
    fn stateful_layers_take_the_input_batch_size() {
        let json = lstm_model(r#", "stateful": true"#);
        let parsed = parse_keras_model_config(&json, "model_config").unwrap();
        let LayerConfig::Lstm(c) = &parsed.layers[0] else {
            panic!("{:?}", parsed.layers)
        };
        assert!(c.stateful);
        assert_eq!(c.batch_size, Some(4));
        parsed.to_model().unwrap();
        // Not stateful: the batch axis stays the model's business, as before.
        let parsed = parse_keras_model_config(&lstm_model(""), "model_config").unwrap();
        let LayerConfig::Lstm(c) = &parsed.layers[0] else {
            panic!()
        };
        assert_eq!(c.batch_size, None);
        // Stateful without a fixed batch size: building says what is missing.
        let json = json.replace("[4, 5, 3]", "[null, 5, 3]");
        let e = parse_keras_model_config(&json, "model_config").unwrap();
        let e = e.to_model().unwrap_err().to_string();
        assert!(e.contains("batch_size") && e.contains("stateful"), "{e}");
    }
}
