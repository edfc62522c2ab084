//! Writing a `Sequential` back to Keras: a Keras 3 `.keras` archive or a legacy `.h5`
//! full-model file, each as Keras 3.15's own writer lays it out, so that
//! `keras.models.load_model` reads it and predicts what we predict
//! (`tests/fixtures/check_keras_export.py` checks that with Keras; its report is
//! `tests/fixtures/keras_export/report.json`).
//!
//! This is the importer run backwards and shares its tables: the Keras class of each
//! layer is `keras_config::LAYER_CLASSES`, the weight groups of the archive are
//! `keras_archive::layer_keys`/`var_groups`. Our layer configs already use Keras's
//! argument names and values (they were made to), so a layer's Keras config is ours
//! with the `type` tag turned into `class_name`, the initializers into Keras's
//! `{"class_name", "config"}` form (the class is the name in CamelCase, the config the
//! arguments we store, which are the ones differing from Keras's defaults), and the
//! input shape moved to an `InputLayer`.
//!
//! - `.keras`: a zip (stored, as Keras writes it) of `metadata.json`, `config.json` and
//!   `model.weights.h5`, whose datasets are `layers/<key>/vars/<i>` (recurrent layers
//!   `layers/<key>/cell/vars/<i>`, Bidirectional `forward_layer/cell/vars`,
//!   `backward_layer/cell/vars`, TimeDistributed `layer/vars`), with the empty `vars`
//!   groups and `name` attributes Keras writes beside them.
//! - `.h5`: root attributes `model_config`, `keras_version`, `backend`; group
//!   `model_weights` with `layer_names`, and per layer a group with `weight_names`
//!   (`sequential/lstm/lstm_cell/kernel`) and those datasets; weightless layers list an
//!   empty float64 array, as h5py writes an empty list. Strings are variable-length
//!   UTF-8, as Keras 3 writes them through h5py.
//!
//! HDF5 is written by the `hdf5-pure` crate (pure Rust, no libhdf5, no cmake); h5py
//! reads its files, and the tests read every file we write back with `hdf5-reader`
//! (the importer's reader) as well. A compiled model's compile settings are written
//! (optimizer arguments, loss, metrics by name), not the optimizer's state: Keras
//! loads it compiled with fresh optimizer variables, as from `save(...,
//! include_optimizer=False)` plus `compile`.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use hdf5_pure::{AttrValue, FileBuilder};
use ndarray::ArrayD;
use serde_json::{Map, Value, json};

use super::keras_archive::{layer_keys, var_groups};
use super::keras_config::class_of_tag;
use super::keras_file::KerasFormat;
use crate::error::{Error, Result};
use crate::io::write_atomic;
use crate::layers::Layer;
use crate::layers::LayerConfig;
use crate::model::Sequential;

/// The Keras version whose file layout we write (and check against); recorded in the
/// files as `keras_version`, which Keras reads to pick its loading path.
pub const KERAS_VERSION: &str = "3.15.1";

/// The Keras format a path's extension asks for: `.keras` an archive, `.h5` / `.hdf5` a
/// legacy HDF5 file (case-insensitive); anything else is not a Keras path.
pub fn keras_format_for_path(path: &Path) -> Option<KerasFormat> {
    let ext = path.extension()?.to_str()?.to_ascii_lowercase();
    match ext.as_str() {
        "keras" => Some(KerasFormat::Archive),
        "h5" | "hdf5" => Some(KerasFormat::Hdf5),
        _ => None,
    }
}

impl Sequential {
    /// Save as a Keras model file that `keras.models.load_model` reads: a `.keras`
    /// archive or a legacy `.h5` file, by `path`'s extension (atomically). Weights,
    /// architecture and compile settings (not the optimizer's state).
    pub fn save_keras(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let format = keras_format_for_path(path).ok_or_else(|| {
            Error::Unsupported(format!(
                "{}: a Keras model file must end in .keras (Keras 3 archive) or .h5 / \
                 .hdf5 (legacy HDF5)",
                path.display()
            ))
        })?;
        save_keras_as(self, path, format)
    }
}

/// Writes `model` to `path` in `format` (atomically), whatever the extension.
pub fn save_keras_as(model: &Sequential, path: &Path, format: KerasFormat) -> Result<()> {
    let bytes = match format {
        KerasFormat::Archive => keras_archive_bytes(model),
        KerasFormat::Hdf5 => keras_h5_bytes(model),
    }
    .map_err(|e| match e {
        Error::Unsupported(m) => Error::Unsupported(format!("{}: {m}", path.display())),
        other => other,
    })?;
    write_atomic(path, &bytes)
}

/// The bytes of a Keras 3 `.keras` archive of `model`.
pub fn keras_archive_bytes(model: &Sequential) -> Result<Vec<u8>> {
    let mut config = keras_model_config(model, false)?;
    if let Some(mut compile) = keras_compile_config(model)? {
        compile["optimizer"]["module"] = json!("keras.optimizers");
        compile["optimizer"]["registered_name"] = Value::Null;
        config["compile_config"] = compile;
    }
    let metadata = json!({"keras_version": KERAS_VERSION, "date_saved": date_saved()});
    let weights = archive_weights(model)?;
    let mut out = std::io::Cursor::new(Vec::new());
    {
        let mut zip = zip::ZipWriter::new(&mut out);
        // Keras's saving_lib writes its members stored (uncompressed).
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored);
        let members = [
            ("metadata.json", to_json(&metadata)?.into_bytes()),
            ("config.json", to_json(&config)?.into_bytes()),
            ("model.weights.h5", weights),
        ];
        for (name, data) in members {
            zip.start_file(name, opts)
                .and_then(|()| zip.write_all(&data).map_err(Into::into))
                .map_err(|e| Error::State(format!("writing {name} into the archive: {e}")))?;
        }
        zip.finish()
            .map_err(|e| Error::State(format!("finishing the .keras archive: {e}")))?;
    }
    Ok(out.into_inner())
}

/// The bytes of a legacy Keras `.h5` full-model file of `model`.
pub fn keras_h5_bytes(model: &Sequential) -> Result<Vec<u8>> {
    let config = keras_model_config(model, true)?;
    let mut root = Node::default();
    root.attr("backend", AttrValue::VarLenString("tensorflow".into()));
    root.attr(
        "keras_version",
        AttrValue::VarLenString(KERAS_VERSION.into()),
    );
    root.attr("model_config", AttrValue::VarLenString(to_json(&config)?));
    if let Some(mut training) = keras_compile_config(model)? {
        // The legacy format names the optimizer `optimizer_config`.
        if let Some(m) = training.as_object_mut() {
            let opt = m.remove("optimizer").unwrap_or(Value::Null);
            m.insert("optimizer_config".into(), opt);
        }
        root.attr(
            "training_config",
            AttrValue::VarLenString(to_json(&training)?),
        );
    }
    let mname = model.name().to_string();
    let weights = root.at("model_weights");
    weights.attr("backend", AttrValue::VarLenString("tensorflow".into()));
    weights.attr(
        "keras_version",
        AttrValue::VarLenString(KERAS_VERSION.into()),
    );
    let names: Vec<String> = model
        .layers()
        .iter()
        .map(|l| l.name().to_string())
        .collect();
    weights.attr("layer_names", string_list(names));
    for layer in model.layers() {
        let lname = layer.name();
        let names = h5_weight_names(&mname, layer.as_ref())?;
        let group = weights.at(lname);
        for (wname, p) in names.iter().zip(layer.params()) {
            group.dataset(wname, &p.value);
        }
        group.attr("weight_names", string_list(names));
    }
    weights
        .at("top_level_model_weights")
        .attr("weight_names", string_list(Vec::new()));
    root.write()
}

/// The Keras model config: `config.json` of an archive, or (`legacy`) the
/// `model_config` of an `.h5`, where Keras's legacy serializer writes the model and
/// its layers as bare `{"class_name", "config"}` and the input shape also as
/// `build_input_shape`.
pub fn keras_model_config(model: &Sequential, legacy: bool) -> Result<Value> {
    let input = model
        .input_shape()
        .filter(|_| model.is_built())
        .ok_or_else(|| {
            Error::State(format!(
                "model `{}` is not built (no weights yet); build or fit it before saving it \
             for Keras",
                model.name()
            ))
        })?;
    // Keras keeps a stateful layer's fixed batch size on the input (`batch_shape[0]`),
    // where its importer (and ours) reads it back; without it Keras refuses to build a
    // stateful RNN.
    let configs: Vec<Value> = model.layers().iter().map(|l| l.config()).collect();
    let batch = configs
        .iter()
        .find_map(|c| {
            serde_json::from_value::<LayerConfig>(c.clone())
                .ok()?
                .stateful_batch_size()
        })
        .map_or(Value::Null, Value::from);
    let batch_shape: Vec<Value> = std::iter::once(batch)
        .chain(input.iter().map(|d| d.map_or(Value::Null, Value::from)))
        .collect();
    // Token ids, as Keras types the input of a model starting with an Embedding.
    let ids = model
        .layers()
        .first()
        .is_some_and(|l| l.class_name() == "Embedding");
    let mut layers = vec![json!({
        "module": "keras.layers",
        "class_name": "InputLayer",
        "config": {
            "batch_shape": batch_shape,
            "dtype": if ids { "int32" } else { "float32" },
            "sparse": false,
            "name": "input_layer",
        },
        "registered_name": null,
    })];
    for (layer, config) in model.layers().iter().zip(&configs) {
        layers.push(keras_layer(config, Some(layer.as_ref()))?);
    }
    if legacy {
        for l in &mut layers {
            if let Some(m) = l.as_object_mut() {
                m.retain(|k, _| k == "class_name" || k == "config");
            }
        }
        return Ok(json!({
            "class_name": "Sequential",
            "config": {
                "name": model.name(),
                "trainable": true,
                "dtype": "float32",
                "layers": layers,
                "build_input_shape": batch_shape,
            },
        }));
    }
    Ok(json!({
        "module": "keras",
        "class_name": "Sequential",
        "config": {
            "name": model.name(),
            "trainable": true,
            "dtype": "float32",
            "layers": layers,
        },
        "registered_name": null,
        "build_config": {"input_shape": batch_shape},
    }))
}

/// Keras's optimizer classes by our optimizer `type` tag.
const OPTIMIZER_CLASSES: &[(&str, &str)] = &[
    ("sgd", "SGD"),
    ("rmsprop", "RMSprop"),
    ("adam", "Adam"),
    ("adamw", "AdamW"),
    ("adagrad", "Adagrad"),
    ("nadam", "Nadam"),
];

/// The compile settings of a compiled model as Keras's `compile_config` (optimizer,
/// loss, metrics); `None` when it is not compiled. The optimizer's arguments have
/// Keras's names already; a learning-rate schedule is not written (Keras gets the
/// initial rate).
fn keras_compile_config(model: &Sequential) -> Result<Option<Value>> {
    let (Some(loss), Some(opt)) = (model.loss(), model.optimizer()) else {
        return Ok(None);
    };
    let ours = serde_json::to_value(opt.config())
        .map_err(|e| Error::State(format!("cannot serialise the optimizer: {e}")))?;
    let tag = ours["type"].as_str().unwrap_or("?");
    let class = OPTIMIZER_CLASSES
        .iter()
        .find(|(t, _)| *t == tag)
        .map(|(_, c)| *c)
        .ok_or_else(|| Error::Unsupported(format!("optimizer `{tag}` has no Keras counterpart")))?;
    let mut args = Map::new();
    args.insert("name".into(), json!(tag));
    for (k, v) in ours.as_object().into_iter().flatten() {
        if k != "type" && k != "learning_rate_schedule" {
            args.insert(k.clone(), shortest_floats(v));
        }
    }
    let loss = serde_json::to_value(loss)
        .map_err(|e| Error::State(format!("cannot serialise the loss: {e}")))?;
    let metrics: Vec<Value> = model.metrics().iter().map(|m| json!(m.name())).collect();
    Ok(Some(json!({
        "optimizer": {"class_name": class, "config": args},
        "loss": loss,
        "loss_weights": null,
        "metrics": metrics,
        "weighted_metrics": null,
        "run_eagerly": false,
        "steps_per_execution": 1,
        "jit_compile": false,
    })))
}

/// Our optimizer config from a Keras one (`{"class_name": "Adam", "config": {...}}`):
/// the arguments we have, Keras's others (`use_ema`, ...) only at their defaults.
fn optimizer_from_keras(keras: &Value) -> Result<crate::optimizers::OptimizerConfig> {
    use crate::optimizers::OptimizerConfig;
    let class = keras["class_name"].as_str().unwrap_or("?");
    // The arguments our config for this class takes: those it writes.
    let defaults: OptimizerConfig = serde_json::from_value(json!({"type": class}))
        .map_err(|e| Error::Unsupported(format!("Keras optimizer {class}: {e}")))?;
    let known = serde_json::to_value(&defaults).unwrap_or(Value::Null);
    let mut ours = Map::new();
    ours.insert("type".into(), json!(class));
    for (k, v) in keras["config"].as_object().into_iter().flatten() {
        if k == "name" || v.is_null() {
            continue;
        }
        let optional = ["weight_decay", "clipnorm", "clipvalue", "global_clipnorm"];
        if known.get(k).is_some() || optional.contains(&k.as_str()) {
            ours.insert(k.clone(), v.clone());
        } else if !matches!(
            (k.as_str(), v),
            ("use_ema", Value::Bool(false)) | ("ema_momentum", _) | ("is_legacy_optimizer", _)
        ) {
            return Err(Error::Unsupported(format!(
                "Keras optimizer {class}: argument `{k}` = {v} is not supported"
            )));
        }
    }
    serde_json::from_value(Value::Object(ours))
        .map_err(|e| Error::Unsupported(format!("Keras optimizer {class}: {e}")))
}

/// Compiles a model imported from a Keras file with the optimizer, loss and metrics of
/// its `training_config` / `compile_config` (as Keras's `load_model` does), when we
/// have all three; otherwise it stays uncompiled, as Keras leaves a model whose
/// compile settings it cannot restore. Whether it was compiled is returned.
pub fn compile_from_keras(model: &mut Sequential, training_config: &Value) -> bool {
    let optimizer = ["optimizer_config", "optimizer"]
        .iter()
        .map(|k| &training_config[*k])
        .find(|v| v.is_object());
    let Some(Ok(optimizer)) = optimizer.map(optimizer_from_keras) else {
        return false;
    };
    let Ok(training) = super::parse_training_config(training_config, "training_config") else {
        return false;
    };
    model
        .compile(optimizer, training.loss, &training.metrics)
        .is_ok()
}

/// Our layer config (`{"type": "lstm", "units": 8, ...}`) as a serialized Keras layer;
/// `layer` is the built layer, when there is one, for the names Keras gives a
/// Bidirectional's wrapped layer.
fn keras_layer(ours: &Value, layer: Option<&dyn Layer>) -> Result<Value> {
    let obj = ours
        .as_object()
        .ok_or_else(|| Error::State(format!("a layer config is not an object: {ours}")))?;
    let tag = obj.get("type").and_then(Value::as_str).unwrap_or("?");
    let class = class_of_tag(tag).ok_or_else(|| {
        Error::Unsupported(format!("layer type `{tag}` has no Keras counterpart"))
    })?;
    let mut config = Map::new();
    for (key, value) in obj {
        let mapped = match key.as_str() {
            // The tag is the class; the input shape is the InputLayer's; Keras 3 has no
            // `input_length`.
            // A stateful layer's `batch_size` is the InputLayer's `batch_shape[0]`.
            "type" | "input_shape" | "input_length" | "batch_size" => continue,
            "name" if value.is_null() => continue,
            "layer" => {
                let mut inner = keras_layer(value, None)?;
                // The wrapped layer's name as our weight names have it (Keras names a
                // Bidirectional's `forward_<name>`).
                if let Some(l) = layer {
                    inner["config"]["name"] = Value::String(wrapped_name(l));
                }
                inner
            }
            k if k.ends_with("_initializer") => keras_initializer(value)?,
            _ => shortest_floats(value),
        };
        config.insert(key.clone(), mapped);
    }
    config.insert("trainable".into(), Value::Bool(true));
    Ok(json!({
        "module": "keras.layers",
        "class_name": class,
        "config": config,
        "registered_name": null,
    }))
}

/// Our initializer (`"glorot_uniform"`, `{"random_uniform": {"minval": .., ..}}`) as
/// Keras's `{"class_name": "RandomUniform", "config": {...}}`.
fn keras_initializer(ours: &Value) -> Result<Value> {
    let (name, args) = match ours {
        Value::String(n) => (n.as_str(), Map::new()),
        Value::Object(m) if m.len() == 1 => {
            let (n, a) = m.iter().next().expect("one entry");
            (n.as_str(), a.as_object().cloned().unwrap_or_default())
        }
        _ => {
            return Err(Error::State(format!(
                "an initializer config has an unexpected form: {ours}"
            )));
        }
    };
    Ok(json!({
        "module": "keras.initializers",
        "class_name": camel_case(name),
        "config": shortest_floats(&Value::Object(args)),
        "registered_name": null,
    }))
}

/// `value` with each non-integer number written as the shortest decimal of its float32
/// (`0.2`, not `0.20000000298023224`): our arguments are float32, Keras's config
/// Python floats.
fn shortest_floats(value: &Value) -> Value {
    match value {
        Value::Number(n) if n.is_f64() => {
            let short = (n.as_f64().unwrap_or(0.0) as f32).to_string();
            short
                .parse::<f64>()
                .ok()
                .and_then(serde_json::Number::from_f64)
                .map_or_else(|| value.clone(), Value::Number)
        }
        Value::Array(v) => Value::Array(v.iter().map(shortest_floats).collect()),
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| (k.clone(), shortest_floats(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// `glorot_uniform` -> `GlorotUniform`.
fn camel_case(name: &str) -> String {
    name.split('_')
        .map(|part| {
            let mut c = part.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// `model.weights.h5` of an archive.
fn archive_weights(model: &Sequential) -> Result<Vec<u8>> {
    let mut root = Node::default();
    root.at("vars")
        .attr("name", AttrValue::VarLenString(model.name().into()));
    let keys = layer_keys(model);
    for (layer, key) in model.layers().iter().zip(&keys) {
        let base = format!("layers/{key}");
        let lname = layer.name().to_string();
        root.at(&format!("{base}/vars"))
            .attr("name", AttrValue::VarLenString(lname.clone()));
        // The empty `vars` of the sublayers Keras tracks, with their names.
        let tag = inner_tag(layer.as_ref());
        match layer.class_name() {
            "Bidirectional" => {
                for side in ["forward", "backward"] {
                    root.at(&format!("{base}/{side}_layer/vars")).attr(
                        "name",
                        AttrValue::VarLenString(format!("{side}_{}", strip_forward(&lname))),
                    );
                }
            }
            "TimeDistributed" => {
                root.at(&format!("{base}/layer/vars"))
                    .attr("name", AttrValue::VarLenString(tag.clone()));
            }
            _ => {}
        }
        let groups = var_groups(layer.as_ref(), key);
        let params = layer.params();
        if groups.iter().any(|g| g.ends_with("/cell/vars")) {
            for g in &groups {
                root.at(g)
                    .attr("name", AttrValue::VarLenString(format!("{tag}_cell")));
            }
        }
        if params.is_empty() {
            continue;
        }
        if params.len() % groups.len() != 0 {
            return Err(Error::State(format!(
                "layer `{lname}` has {} weights, not divisible among its {} weight groups",
                params.len(),
                groups.len()
            )));
        }
        let per_group = params.len() / groups.len();
        for (i, p) in params.iter().enumerate() {
            let at = format!("{}/{}", groups[i / per_group], i % per_group);
            root.dataset(&at, &p.value);
        }
    }
    root.write()
}

/// The recurrent layer's (or TimeDistributed's wrapped layer's) `type` tag; the layer's
/// own for the rest (`lstm` -> cell `lstm_cell`).
fn inner_tag(layer: &dyn Layer) -> String {
    let config = layer.config();
    let inner = if config["layer"].is_object() {
        &config["layer"]
    } else {
        &config
    };
    inner["type"].as_str().unwrap_or("?").to_string()
}

/// The name of the layer a wrapper wraps, which prefixes its weight names: a
/// Bidirectional's forward copy (`forward_lstm`), a TimeDistributed's layer (`dense`).
fn wrapped_name(layer: &dyn Layer) -> String {
    let prefix = layer
        .params()
        .first()
        .and_then(|p| p.name.split_once('/'))
        .map(|(pre, _)| pre.to_string());
    prefix.unwrap_or_else(|| match layer.class_name() {
        "Bidirectional" => format!("forward_{}", inner_tag(layer)),
        _ => inner_tag(layer),
    })
}

/// `forward_lstm` -> `lstm` (Keras names a Bidirectional's copies `forward_<inner>`).
fn strip_forward(name: &str) -> &str {
    name.strip_prefix("forward_").unwrap_or(name)
}

/// A layer's `weight_names` in a legacy `.h5`, as Keras 3 names its variables:
/// `<model>/<layer>/[<forward_lstm>/][<lstm_cell>/]<kernel>`.
fn h5_weight_names(model: &str, layer: &dyn Layer) -> Result<Vec<String>> {
    let lname = layer.name();
    let recurrent = matches!(
        layer.class_name(),
        "SimpleRNN" | "LSTM" | "GRU" | "Bidirectional"
    );
    let cell = format!("{}_cell", inner_tag(layer));
    let names: Vec<String> = layer
        .params()
        .iter()
        .map(|p| {
            let (prefix, base) = match p.name.rsplit_once('/') {
                Some((pre, base)) => (format!("{pre}/"), base),
                None => (String::new(), p.name),
            };
            let cell = if recurrent {
                format!("{cell}/")
            } else {
                String::new()
            };
            format!("{model}/{lname}/{prefix}{cell}{base}")
        })
        .collect();
    let mut seen = std::collections::HashSet::new();
    if let Some(dup) = names.iter().find(|n| !seen.insert(n.as_str())) {
        return Err(Error::State(format!(
            "layer `{lname}` would write weight `{dup}` twice"
        )));
    }
    Ok(names)
}

/// A string list attribute as h5py writes Keras's lists: variable-length UTF-8 strings,
/// and an empty list as an empty float64 array (what `np.array([])` is).
fn string_list(v: Vec<String>) -> AttrValue {
    if v.is_empty() {
        AttrValue::F64Array(Vec::new())
    } else {
        AttrValue::VarLenStringArray(v)
    }
}

/// `date_saved` of `metadata.json`, as Keras writes it (`2026-11-23@19:27:01`, UTC).
fn date_saved() -> String {
    let now = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    now.trim_end_matches('Z').replacen('T', "@", 1)
}

fn to_json(v: &Value) -> Result<String> {
    serde_json::to_string(v).map_err(|e| Error::State(format!("cannot serialise: {e}")))
}

/// An HDF5 group being assembled: attributes, float32 datasets and subgroups by name,
/// written in one go by `hdf5-pure`'s builders (which take each group whole).
#[derive(Default)]
struct Node {
    attrs: Vec<(String, AttrValue)>,
    datasets: Vec<(String, Vec<f32>, Vec<u64>)>,
    groups: BTreeMap<String, Node>,
}

impl Node {
    /// The group at `path` (`a/b/c`) below this one, created as needed.
    fn at(&mut self, path: &str) -> &mut Node {
        path.split('/')
            .filter(|p| !p.is_empty())
            .fold(self, |node, part| {
                node.groups.entry(part.to_string()).or_default()
            })
    }

    fn attr(&mut self, name: &str, value: AttrValue) {
        self.attrs.retain(|(n, _)| n != name);
        self.attrs.push((name.to_string(), value));
    }

    /// A float32 dataset at `path` (its groups created as needed), in row-major order.
    fn dataset(&mut self, path: &str, value: &ArrayD<f32>) {
        let (dir, name) = path.rsplit_once('/').unwrap_or(("", path));
        let shape = value.shape().iter().map(|&d| d as u64).collect();
        let data = value.iter().copied().collect();
        self.at(dir).datasets.push((name.to_string(), data, shape));
    }

    /// This node as the root of an HDF5 file.
    fn write(self) -> Result<Vec<u8>> {
        let mut file = FileBuilder::new();
        for (name, value) in self.attrs {
            file.set_attr(&name, value);
        }
        for (name, data, shape) in &self.datasets {
            file.create_dataset(name)
                .with_f32_data(data)
                .with_shape(shape);
        }
        for (name, child) in self.groups {
            let mut g = file.create_group(&name);
            child.fill(&mut g);
            file.add_group(g.finish());
        }
        file.finish()
            .map_err(|e| Error::State(format!("writing HDF5: {e}")))
    }

    fn fill(self, g: &mut hdf5_pure::GroupBuilder) {
        for (name, value) in self.attrs {
            g.set_attr(&name, value);
        }
        for (name, data, shape) in &self.datasets {
            g.create_dataset(name).with_f32_data(data).with_shape(shape);
        }
        for (name, child) in self.groups {
            let mut sub = g.create_group(&name);
            child.fill(&mut sub);
            g.add_group(sub.finish());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interop::hdf5_weights;
    use ndarray::IxDyn;

    use proptest::prelude::*;

    /// A random group tree: (path, shape, values) datasets and (group path, name,
    /// strings) string-list attributes, as our writer lays Keras files out.
    #[allow(clippy::type_complexity)]
    fn tree() -> impl Strategy<
        Value = (
            Vec<(String, Vec<usize>, Vec<f32>)>,
            Vec<(String, Vec<String>)>,
        ),
    > {
        let name = "[a-z_][a-z0-9_]{0,7}";
        let dataset = (
            prop::collection::vec(name, 1..4),
            prop::collection::vec(1usize..5, 1..4),
            any::<u64>(),
        )
            .prop_map(|(parts, shape, seed)| {
                let n: usize = shape.iter().product();
                let mut s = seed | 1;
                let values = (0..n)
                    .map(|_| {
                        s ^= s << 13;
                        s ^= s >> 7;
                        s ^= s << 17;
                        f32::from_bits((s >> 32) as u32 & 0x7f7f_ffff)
                            * if s & 1 == 0 { 1.0 } else { -1.0 }
                    })
                    .collect();
                (format!("d/{}", parts.join("/")), shape, values)
            });
        let attr = (
            prop::collection::vec(name, 0..3),
            prop::collection::vec("[ -~é中]{1,40}", 0..5),
        )
            .prop_map(|(parts, strings)| (format!("g/{}", parts.join("/")), strings));
        (
            prop::collection::vec(dataset, 0..6),
            prop::collection::vec(attr, 0..6),
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// What `hdf5-pure` writes for us, the importer's reader (`hdf5-reader`) reads
        /// back the same: nested groups, float32 datasets (any finite value, any
        /// shape) and string-list attributes (variable-length UTF-8, and empty lists).
        #[test]
        fn the_reader_reads_back_what_the_writer_wrote((datasets, attrs) in tree()) {
            let mut root = Node::default();
            let mut want_d = BTreeMap::new();
            for (path, shape, values) in &datasets {
                // A path already holding a group or dataset is skipped (names collide).
                let (dir, leaf) = path.rsplit_once('/').unwrap();
                let taken = want_d.keys().any(|k: &String| {
                    k == path || k.starts_with(&format!("{path}/")) || path.starts_with(&format!("{k}/"))
                });
                if taken || root.at(dir).groups.contains_key(leaf) {
                    continue;
                }
                let a = ArrayD::from_shape_vec(IxDyn(shape), values.clone()).unwrap();
                root.dataset(path, &a);
                want_d.insert(path.clone(), a);
            }
            let mut want_a = BTreeMap::new();
            for (group, strings) in &attrs {
                if want_d.keys().any(|k| k == group || group.starts_with(&format!("{k}/"))) {
                    continue;
                }
                root.at(group).attr("names", string_list(strings.clone()));
                want_a.insert(group.clone(), strings.clone());
            }
            let bytes = root.write().unwrap();
            let h5 = hdf5_weights::open(&bytes, "test").unwrap();
            for (path, a) in &want_d {
                let got = hdf5_weights::read_weight(&h5, "", path, a.shape(), "w").unwrap();
                let bits = |x: &ArrayD<f32>| x.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
                prop_assert_eq!(bits(&got), bits(a), "{}", path);
            }
            for (group, strings) in &want_a {
                let g = hdf5_weights::group(&h5, group).unwrap();
                let got = hdf5_weights::string_list(&g, "names").unwrap().unwrap();
                prop_assert_eq!(&got, strings, "{}", group);
            }
        }
    }

    #[test]
    fn extensions_pick_the_format() {
        let f = |p: &str| keras_format_for_path(Path::new(p));
        assert_eq!(f("m.keras"), Some(KerasFormat::Archive));
        assert_eq!(f("dir/M.H5"), Some(KerasFormat::Hdf5));
        assert_eq!(f("m.hdf5"), Some(KerasFormat::Hdf5));
        assert_eq!(f("m.safetensors"), None);
        assert_eq!(f("m"), None);
    }

    #[test]
    fn initializers_in_keras_form() {
        assert_eq!(camel_case("glorot_uniform"), "GlorotUniform");
        assert_eq!(camel_case("he_normal"), "HeNormal");
        let v =
            keras_initializer(&json!({"random_uniform": {"minval": -0.1, "maxval": 0.1}})).unwrap();
        assert_eq!(v["class_name"], "RandomUniform");
        assert_eq!(v["config"]["maxval"], 0.1);
        assert_eq!(
            keras_initializer(&json!("zeros")).unwrap()["class_name"],
            "Zeros"
        );
        assert!(keras_initializer(&json!(3)).is_err());
    }

    #[test]
    fn float32_arguments_are_written_shortest() {
        let v = shortest_floats(&json!({"rate": 0.2f32 as f64, "units": 3, "x": [0.1f32 as f64]}));
        assert_eq!(v, json!({"rate": 0.2, "units": 3, "x": [0.1]}));
    }

    #[test]
    fn unknown_layer_types_are_refused() {
        let e = keras_layer(&json!({"type": "flatten"}), None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("flatten") && e.contains("Keras"), "{e}");
    }
}
