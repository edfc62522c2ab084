//! `Sequential::save` / `Sequential::load`: one safetensors file holding everything a
//! model needs to predict bit-identically and to resume training.
//!
//! Layout (format version 1):
//! - tensors: every weight under its Keras path (`lstm/kernel`, `dense/bias`) and the
//!   optimizer state under `optimizer/` (`optimizer/iteration`,
//!   `optimizer/lstm/kernel/velocity`);
//! - `__metadata__` (strings): `format` = `recurrent.model`, `format_version`,
//!   `library_version`, `saved_at` (RFC 3339, UTC), `model_config` (Keras-like JSON:
//!   `{"class_name": "Sequential", "config": {"name", "seed", "input_shape",
//!   "layers"}}`), and when present `compile_config` (optimizer, loss, metrics),
//!   `vectorizer` (the TextVectorization state), `training` (completed epochs and
//!   history), `data_config` (how raw input becomes model input, for the CLI).

use std::collections::BTreeMap;
use std::path::Path;

use ndarray::ArrayD;
use serde::{Deserialize, Serialize};

use super::tensor_file::TensorFile;
use crate::error::{Error, Result};
use crate::layers::{LayerConfig, Shape};
use crate::losses::Loss;
use crate::metrics::Metric;
use crate::model::{History, Sequential};
use crate::optimizers::OptimizerConfig;
use crate::text::TextVectorization;

/// Value of the `format` metadata key; anything else is a foreign file.
pub const FORMAT_NAME: &str = "recurrent.model";
/// Bumped when the layout changes incompatibly.
pub const FORMAT_VERSION: u32 = 1;
const OPTIMIZER_PREFIX: &str = "optimizer/";

/// Where training stands: what `fit` should continue from.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TrainingState {
    /// Completed epochs; pass as `initial_epoch` to continue.
    pub epoch: usize,
    /// All epochs so far (concatenated over resumed runs).
    pub history: History,
}

/// What is saved next to the model itself.
#[derive(Clone, Debug, Default)]
pub struct SaveExtras {
    /// The text vectorizer that turns raw text into this model's input.
    pub vectorizer: Option<TextVectorization>,
    pub training: Option<TrainingState>,
    /// Free-form preprocessing settings (the CLI stores its `[data]` choices here).
    pub data_config: Option<serde_json::Value>,
}

/// The compile settings as saved.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CompileSettings {
    pub optimizer: OptimizerConfig,
    pub loss: Loss,
    pub metrics: Vec<Metric>,
    /// Keras's `weighted_metrics`, as logged; absent from files without them (so
    /// those files keep their bytes).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub weighted_metrics: Vec<Metric>,
}

#[derive(Serialize, Deserialize)]
struct ModelConfigJson {
    class_name: String,
    config: SequentialConfigJson,
}

#[derive(Serialize, Deserialize)]
struct SequentialConfigJson {
    name: String,
    seed: u64,
    input_shape: Option<Shape>,
    layers: Vec<serde_json::Value>,
}

/// A model read back by `load_model`, with what was saved alongside it.
pub struct LoadedModel {
    pub model: Sequential,
    pub extras: SaveExtras,
    /// Metadata strings as stored (format version, library version, date, ...).
    pub metadata: BTreeMap<String, String>,
}

impl Sequential {
    /// Save architecture, weights, optimizer state and compile settings to `path`
    /// (atomically). Keras `model.save`: a path ending in `.keras` gets a Keras 3
    /// archive and `.h5` / `.hdf5` a legacy Keras HDF5 file (architecture and weights,
    /// loadable by `keras.models.load_model`; with the `keras` feature), anything else
    /// our own file.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        save_model(self, path.as_ref(), &SaveExtras::default())
    }

    /// Load a model saved by `save` (a Keras `.keras` / `.h5` file too, told by
    /// content). Keras `keras.models.load_model`.
    pub fn load(path: impl AsRef<Path>) -> Result<Sequential> {
        load_model(path.as_ref()).map(|l| l.model)
    }

    /// Save only the weights (no optimizer state). Keras `model.save_weights`.
    pub fn save_weights(&self, path: impl AsRef<Path>) -> Result<()> {
        save_file(self, path.as_ref(), &SaveExtras::default(), true)
    }

    /// Set the weights from a file written by `save` or `save_weights`; the file's
    /// weights must match this model's names and shapes.
    pub fn load_weights(&mut self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let file = read_checked(path)?;
        let weights: Vec<(String, ArrayD<f32>)> = file
            .tensors
            .into_iter()
            .filter(|(n, _)| !n.starts_with(OPTIMIZER_PREFIX))
            .collect();
        self.set_weights(&weights)
            .map_err(|e| Error::format(path, e.to_string()))
    }
}

/// Save `model` and `extras` to `path` (atomically). A `.keras` / `.h5` / `.hdf5` path
/// gets a Keras file instead (`Sequential::save_keras`), which holds the model only.
pub fn save_model(model: &Sequential, path: &Path, extras: &SaveExtras) -> Result<()> {
    #[cfg(feature = "keras")]
    if let Some(format) = crate::interop::keras_format_for_path(path) {
        return crate::interop::save_keras_as(model, path, format);
    }
    save_file(model, path, extras, false)
}

fn save_file(
    model: &Sequential,
    path: &Path,
    extras: &SaveExtras,
    weights_only: bool,
) -> Result<()> {
    if !model.is_built() {
        return Err(Error::State(format!(
            "model `{}` is not built (no weights yet); build or fit it before saving to {}",
            model.name(),
            path.display()
        )));
    }
    let mut tensors = model.get_weights();
    let mut meta = BTreeMap::new();
    meta.insert("format".to_string(), FORMAT_NAME.to_string());
    meta.insert("format_version".to_string(), FORMAT_VERSION.to_string());
    meta.insert(
        "library_version".to_string(),
        env!("CARGO_PKG_VERSION").to_string(),
    );
    meta.insert(
        "saved_at".to_string(),
        humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
    );
    meta.insert("weights_only".to_string(), weights_only.to_string());
    let config = ModelConfigJson {
        class_name: "Sequential".into(),
        config: SequentialConfigJson {
            name: model.name().to_string(),
            seed: model.seed(),
            input_shape: model.input_shape().map(|s| s.to_vec()),
            layers: model.layer_configs(),
        },
    };
    meta.insert("model_config".into(), to_json(&config)?);
    if !weights_only {
        if let (Some(loss), Some(opt)) = (model.loss(), model.optimizer()) {
            let compile = CompileSettings {
                optimizer: opt.config().clone(),
                loss,
                metrics: model.metrics().to_vec(),
                weighted_metrics: model.weighted_metrics().to_vec(),
            };
            meta.insert("compile_config".into(), to_json(&compile)?);
            for (name, a) in opt.state() {
                tensors.push((format!("{OPTIMIZER_PREFIX}{name}"), a));
            }
        }
        if let Some(v) = &extras.vectorizer {
            meta.insert("vectorizer".into(), v.to_json()?);
        }
        if let Some(t) = &extras.training {
            meta.insert("training".into(), to_json(t)?);
        }
        if let Some(d) = &extras.data_config {
            meta.insert("data_config".into(), to_json(d)?);
        }
    }
    TensorFile {
        tensors,
        metadata: meta,
    }
    .write(path)
}

fn to_json<T: Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| Error::State(format!("cannot serialise: {e}")))
}

fn from_json<T: for<'de> Deserialize<'de>>(
    meta: &BTreeMap<String, String>,
    key: &str,
    path: &Path,
) -> Result<Option<T>> {
    meta.get(key)
        .map(|s| {
            serde_json::from_str(s)
                .map_err(|e| Error::format(path, format!("metadata `{key}` is invalid: {e}")))
        })
        .transpose()
}

/// Read a file and check it is one of ours, of a version we understand.
fn read_checked(path: &Path) -> Result<TensorFile> {
    check_file(TensorFile::read(path)?, path)
}

/// Check a read file is one of ours, of a version we understand.
fn check_file(file: TensorFile, path: &Path) -> Result<TensorFile> {
    match file.metadata.get("format").map(String::as_str) {
        Some(FORMAT_NAME) => {}
        Some(other) => {
            return Err(Error::format(
                path,
                format!("a safetensors file of format `{other}`, not a recurrent model"),
            ));
        }
        None => {
            return Err(Error::format(
                path,
                "a safetensors file without recurrent model metadata (not saved by recurrent)",
            ));
        }
    }
    let version: u32 = file
        .metadata
        .get("format_version")
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| Error::format(path, "missing or invalid `format_version`"))?;
    if version > FORMAT_VERSION {
        return Err(Error::format(
            path,
            format!(
                "saved with model format version {version} (library {}); this build reads \
                 version {FORMAT_VERSION} and older",
                file.metadata
                    .get("library_version")
                    .map_or("unknown", String::as_str)
            ),
        ));
    }
    Ok(file)
}

/// Refuses a model whose config declares more weights than the file holds, or more
/// than the parameter ceiling (`budget`), before anything is built: building
/// allocates every declared weight, and a 16 KB file with a forged header must give
/// an error naming the layer, not abort on a failed allocation. The config is
/// counted for each input shape the build may use (the first layer's own
/// `input_shape`/`input_length` builds before the saved input shape does).
fn check_declared_size(
    layers: &[LayerConfig],
    config: &SequentialConfigJson,
    file: &TensorFile,
    path: &Path,
) -> Result<()> {
    let hint: Option<Shape> = match layers.first() {
        Some(LayerConfig::Embedding(c)) => c.input_length.map(|n| vec![Some(n)]),
        Some(LayerConfig::SimpleRnn(c)) => c.input_shape.clone(),
        Some(LayerConfig::Lstm(c)) => c.input_shape.clone(),
        Some(LayerConfig::Gru(c)) => c.input_shape.clone(),
        Some(LayerConfig::Dense(c)) => c.input_shape.clone(),
        _ => None,
    };
    let stored: u128 = file
        .tensors
        .iter()
        .filter(|(n, _)| !n.starts_with(OPTIMIZER_PREFIX))
        .map(|(_, t)| t.len() as u128)
        .sum();
    for shape in hint.iter().chain(config.input_shape.iter()) {
        let declared = crate::budget::check_model_params(layers, shape)
            .map_err(|e| Error::format(path, e.to_string()))?;
        if declared > stored {
            return Err(Error::format(
                path,
                format!(
                    "model_config declares {declared} weights but the file stores {stored} \
                     (a damaged or forged file)"
                ),
            ));
        }
    }
    Ok(())
}

/// Load a model and everything saved with it. A Keras `.keras` / `.h5` file (told by
/// content) is imported, compiled when its compile settings are ones we have, with no
/// extras.
pub fn load_model(path: &Path) -> Result<LoadedModel> {
    #[cfg(feature = "keras")]
    if let Some(format) = crate::interop::keras_file_format(path)? {
        let imported = crate::interop::import_keras_model(path)?;
        let mut metadata = BTreeMap::new();
        metadata.insert("format".to_string(), format.describe().to_string());
        if let Some(v) = imported.keras_version {
            metadata.insert("keras_version".to_string(), v);
        }
        let mut model = imported.model;
        if let Some(t) = &imported.training_config {
            crate::interop::compile_from_keras(&mut model, t);
        }
        return Ok(LoadedModel {
            model,
            extras: SaveExtras::default(),
            metadata,
        });
    }
    load_file(read_checked(path)?, path)
}

/// `load_model` on the bytes of a model file (`path` only names it in errors).
pub fn load_model_bytes(bytes: &[u8], path: &Path) -> Result<LoadedModel> {
    load_file(
        check_file(TensorFile::from_bytes(bytes, path)?, path)?,
        path,
    )
}

fn load_file(file: TensorFile, path: &Path) -> Result<LoadedModel> {
    let meta = &file.metadata;
    let config: ModelConfigJson = from_json(meta, "model_config", path)?
        .ok_or_else(|| Error::format(path, "metadata lacks `model_config`"))?;
    if config.class_name != "Sequential" {
        return Err(Error::format(
            path,
            format!("model class `{}` is not supported", config.class_name),
        ));
    }
    let layers: Vec<LayerConfig> = config
        .config
        .layers
        .iter()
        .enumerate()
        .map(|(i, v)| {
            serde_json::from_value(v.clone())
                .map_err(|e| Error::format(path, format!("layer {i} config is invalid: {e}")))
        })
        .collect::<Result<_>>()?;
    let wrap = |e: Error| Error::format(path, e.to_string());
    check_declared_size(&layers, &config.config, &file, path)?;
    let mut model =
        Sequential::from_configs_with_seed(&layers, config.config.seed).map_err(wrap)?;
    model.set_name(config.config.name.clone());
    let input_shape = config
        .config
        .input_shape
        .ok_or_else(|| Error::format(path, "model_config lacks the input shape"))?;
    if !model.is_built() {
        model.build(&input_shape).map_err(wrap)?;
    }
    let (weights, opt_state): (Vec<_>, Vec<_>) = file
        .tensors
        .into_iter()
        .partition(|(n, _)| !n.starts_with(OPTIMIZER_PREFIX));
    model.set_weights(&weights).map_err(wrap)?;
    if let Some(c) = from_json::<CompileSettings>(meta, "compile_config", path)? {
        model
            .compile_with_weighted_metrics(c.optimizer, c.loss, &c.metrics, &c.weighted_metrics)
            .map_err(wrap)?;
        let state: Vec<(String, ArrayD<f32>)> = opt_state
            .into_iter()
            .map(|(n, a)| (n[OPTIMIZER_PREFIX.len()..].to_string(), a))
            .collect();
        if !state.is_empty() {
            let variables = model.weight_shapes();
            model
                .optimizer_mut()
                .expect("just compiled")
                .load_state(&state, &variables)
                .map_err(wrap)?;
        }
    }
    let vectorizer = match meta.get("vectorizer") {
        Some(s) => Some(TextVectorization::from_json(s).map_err(wrap)?),
        None => None,
    };
    let extras = SaveExtras {
        vectorizer,
        training: from_json(meta, "training", path)?,
        data_config: from_json(meta, "data_config", path)?,
    };
    Ok(LoadedModel {
        model,
        extras,
        metadata: file.metadata,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::FitOptions;
    use ndarray::{Array2, ArrayD, IxDyn};

    fn small_model(seed: u64) -> Sequential {
        let layers: Vec<LayerConfig> = serde_json::from_str(
            r#"[{"type": "embedding", "input_dim": 20, "output_dim": 4},
                {"type": "lstm", "units": 3, "dropout": 0.2},
                {"type": "dense", "units": 1, "activation": "sigmoid"}]"#,
        )
        .unwrap();
        let mut m = Sequential::from_configs_with_seed(&layers, seed).unwrap();
        m.compile(
            OptimizerConfig::Adam(Default::default()),
            Loss::BinaryCrossentropy,
            &[Metric::Accuracy],
        )
        .unwrap();
        m
    }

    fn data() -> (Array2<i32>, ArrayD<f32>) {
        let x = Array2::from_shape_fn((16, 6), |(i, t)| ((i * 7 + t * 3) % 20) as i32);
        let y = ArrayD::from_shape_fn(IxDyn(&[16, 1]), |ix| (ix[0] % 2) as f32);
        (x, y)
    }

    fn quiet(epochs: usize, initial_epoch: usize) -> FitOptions<'static> {
        FitOptions {
            epochs,
            initial_epoch,
            batch_size: Some(4),
            verbose: 0,
            ..Default::default()
        }
    }

    fn bits(a: &ArrayD<f32>) -> Vec<u32> {
        a.iter().map(|v| v.to_bits()).collect()
    }

    #[test]
    fn save_load_predicts_bit_identically_and_keeps_optimizer_state() {
        let (x, y) = data();
        let mut m = small_model(3);
        m.fit(&x, &y, quiet(2, 0)).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.safetensors");
        let extras = SaveExtras {
            training: Some(TrainingState {
                epoch: 2,
                history: Default::default(),
            }),
            data_config: Some(serde_json::json!({"maxlen": 6})),
            ..Default::default()
        };
        save_model(&m, &p, &extras).unwrap();
        let loaded = load_model(&p).unwrap();
        let mut m2 = loaded.model;
        assert_eq!(loaded.extras.training.unwrap().epoch, 2);
        assert_eq!(loaded.extras.data_config.unwrap()["maxlen"], 6);
        assert_eq!(loaded.metadata["format"], FORMAT_NAME);
        assert!(loaded.metadata.contains_key("saved_at"));
        let a = m.predict(&x, None).unwrap();
        let b = m2.predict(&x, None).unwrap();
        assert_eq!(bits(&a), bits(&b));
        let s1 = m.optimizer().unwrap().state();
        let s2 = m2.optimizer().unwrap().state();
        assert_eq!(s1.len(), s2.len());
        for ((n1, a1), (n2, a2)) in s1.iter().zip(&s2) {
            assert_eq!(n1, n2);
            assert_eq!(bits(a1), bits(a2), "{n1}");
        }
        assert_eq!(m2.optimizer().unwrap().iterations(), 8);
        // Training continues from the saved state.
        m2.fit(&x, &y, quiet(3, 2)).unwrap();
        assert_eq!(m2.optimizer().unwrap().iterations(), 12);
    }

    #[test]
    fn weighted_metrics_are_saved_and_restored_and_absent_when_unused() {
        let mut m = small_model(4);
        m.build(&[Some(6)]).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("plain.safetensors");
        save_model(&m, &plain, &SaveExtras::default()).unwrap();
        let text = String::from_utf8_lossy(&std::fs::read(&plain).unwrap()).into_owned();
        assert!(
            !text.contains("weighted_metrics"),
            "no key without weighted metrics"
        );
        m.compile_with_weighted_metrics(
            OptimizerConfig::Adam(Default::default()),
            Loss::BinaryCrossentropy,
            &[Metric::Accuracy],
            &[Metric::Accuracy, "mae".parse().unwrap()],
        )
        .unwrap();
        let names = |m: &Sequential| -> Vec<String> {
            m.weighted_metrics()
                .iter()
                .map(|w| w.name().to_string())
                .collect()
        };
        assert_eq!(names(&m), ["weighted_accuracy", "mae"]);
        let p = dir.path().join("w.safetensors");
        save_model(&m, &p, &SaveExtras::default()).unwrap();
        let back = load_model(&p).unwrap().model;
        assert_eq!(names(&back), names(&m));
        assert_eq!(back.metrics(), m.metrics());
    }

    #[test]
    fn weights_only_and_foreign_files() {
        let (x, y) = data();
        let mut m = small_model(5);
        m.fit(&x, &y, quiet(1, 0)).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("w.safetensors");
        m.save_weights(&p).unwrap();
        let mut fresh = small_model(99);
        fresh.build(&[Some(6)]).unwrap();
        fresh.load_weights(&p).unwrap();
        assert_eq!(
            bits(&m.predict(&x, None).unwrap()),
            bits(&fresh.predict(&x, None).unwrap())
        );

        let foreign = dir.path().join("foreign.safetensors");
        TensorFile {
            tensors: vec![("w".into(), ArrayD::zeros(IxDyn(&[2])))],
            metadata: Default::default(),
        }
        .write(&foreign)
        .unwrap();
        let e = Sequential::load(&foreign).err().unwrap().to_string();
        assert!(
            e.contains("foreign.safetensors") && e.contains("not saved by recurrent"),
            "{e}"
        );

        let cut = dir.path().join("cut.safetensors");
        let bytes = std::fs::read(&p).unwrap();
        std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
        let e = Sequential::load(&cut).err().unwrap().to_string();
        assert!(e.contains("cut.safetensors"), "{e}");

        let unbuilt = small_model(1);
        assert!(unbuilt.save(dir.path().join("x.safetensors")).is_err());
    }
}
