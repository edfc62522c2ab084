//! `recurrent evaluate`, `recurrent summary`, `recurrent plot`.

use std::path::Path;

use super::dataset::{self, InputSpec};
use super::import::{KERAS_SOURCE, KERAS_TRAINING_CONFIG, load_any_model};
use super::train::output_units;
use crate::config::{DataConfig, RunConfig};
use crate::error::{Error, Result};
use crate::io::{LoadedModel, read_history_json};
use crate::plot::plot_history_with;

/// The `[data]` settings and input spec a model was trained with.
pub fn saved_data(
    loaded: &LoadedModel,
    path: &Path,
) -> Result<(Option<DataConfig>, Option<InputSpec>)> {
    let Some(d) = &loaded.extras.data_config else {
        return Ok((None, None));
    };
    let bad = |e: serde_json::Error| {
        Error::format(path, format!("metadata `data_config` is invalid: {e}"))
    };
    let data = d
        .get("data")
        .map(|v| serde_json::from_value(v.clone()))
        .transpose()
        .map_err(bad)?;
    let spec: Option<InputSpec> = d
        .get("spec")
        .map(|v| serde_json::from_value(v.clone()))
        .transpose()
        .map_err(bad)?;
    // Inputs are sized from these settings: a forged file must give an error, not
    // an allocation of terabytes.
    let forged = |reason: String| {
        Error::format(path, format!("metadata `data_config` is invalid: {reason}"))
    };
    if let Some(d) = &data {
        crate::config::check_data_sizes(d)
            .map_err(|(t, k, r)| forged(format!("[{t}] {k}: {r}")))?;
    }
    if let Some(s) = &spec {
        let as_data = DataConfig {
            maxlen: s.maxlen,
            num_words: s.num_words,
            one_hot: s.one_hot,
            samples: None,
            ..data
                .clone()
                .unwrap_or_else(|| DataConfig::new(crate::config::DataSource::Npz))
        };
        crate::config::check_data_sizes(&as_data)
            .map_err(|(_, k, r)| forged(format!("spec {k}: {r}")))?;
    }
    Ok((data, spec))
}

pub fn evaluate(
    model_path: &Path,
    data: Option<&Path>,
    batch_size: usize,
    json: bool,
) -> Result<()> {
    let loaded = load_any_model(model_path)?;
    let (data_config, base) = match data {
        Some(p) => (RunConfig::load(p)?.data, p.to_path_buf()),
        None => match saved_data(&loaded, model_path)?.0 {
            Some(d) => (d, model_path.to_path_buf()),
            None => {
                return Err(Error::invalid_argument(
                    "evaluate",
                    "--data",
                    format!(
                        "{} does not record its data; pass --data CONFIG.toml",
                        model_path.display()
                    ),
                ));
            }
        },
    };
    // A series is scaled with the model's saved statistics.
    let spec = saved_data(&loaded, model_path)?.1;
    let mut model = loaded.model;
    if model.loss().is_none()
        && let Some(keras) = loaded.metadata.get(KERAS_SOURCE)
    {
        compile_from_keras(&mut model, &loaded.metadata, keras, model_path)?;
    }
    let loss = model.loss().ok_or_else(|| {
        Error::format(
            model_path,
            "the model was saved without compile settings; it cannot be evaluated",
        )
    })?;
    // Text goes through the model's own vocabulary, not one adapted anew.
    let vectorizer = loaded.extras.vectorizer.as_ref();
    let prepared = dataset::prepare_for(&data_config, &base, vectorizer, spec.as_ref())?;
    let y = dataset::targets_for_loss(
        &prepared.y_test,
        prepared.y_test_2d.as_ref(),
        loss,
        output_units(&model),
    )?;
    let logs = model.evaluate(prepared.x_test.as_inputs(), &y, Some(batch_size))?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&logs).map_err(|e| Error::State(e.to_string()))?
        );
    } else {
        let line: Vec<String> = logs.iter().map(|(k, v)| format!("{k}: {v:.4}")).collect();
        println!(
            "{} test samples - {}",
            prepared.x_test.len(),
            line.join(" - ")
        );
    }
    Ok(())
}

/// Compiles a model read from a Keras file with the loss and metrics Keras compiled it
/// with, to evaluate it (the optimizer is not used by `evaluate`).
fn compile_from_keras(
    model: &mut crate::model::Sequential,
    metadata: &std::collections::BTreeMap<String, String>,
    keras: &str,
    path: &Path,
) -> Result<()> {
    let config: serde_json::Value = metadata
        .get(KERAS_TRAINING_CONFIG)
        .and_then(|t| serde_json::from_str(t).ok())
        .ok_or_else(|| {
            Error::format(
                path,
                format!(
                    "this {keras} was saved before `compile`, so its loss is unknown; it \
                     cannot be evaluated"
                ),
            )
        })?;
    let training = crate::interop::parse_training_config(&config, "training_config")
        .map_err(|e| Error::format(path, e.to_string()))?;
    if !training.skipped_metrics.is_empty() {
        eprintln!(
            "note: metrics {} of the Keras model are not computed here",
            training.skipped_metrics.join(", ")
        );
    }
    model.compile(
        crate::optimizers::OptimizerConfig::Rmsprop(Default::default()),
        training.loss,
        &training.metrics,
    )
}

pub fn summary(path: &Path) -> Result<()> {
    let is_config = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("toml"));
    if is_config {
        let config = RunConfig::load(path)?;
        let shape = config_input_shape(&config);
        // From the configs alone: the weights are not needed to print their shapes,
        // and initialising them costs seconds for large layers.
        let layers = &config.model.layers;
        let first_hint = layers
            .first()
            .and_then(|l| l.to_layer().ok())
            .and_then(|l| l.input_shape_hint());
        let shape = first_hint.unwrap_or_else(|| shape.iter().map(|&d| Some(d)).collect());
        let name = config.model.name.as_deref().unwrap_or("sequential");
        print!(
            "{}",
            crate::model::summary::config_summary(name, layers, &shape)?
        );
        println!(
            "Compile: optimizer {} (learning_rate {}), loss {}, metrics [{}]",
            config.compile.optimizer.name(),
            config.compile.optimizer.learning_rate(),
            config.compile.loss.name(),
            config
                .compile
                .metrics
                .iter()
                .map(|m| m.name())
                .collect::<Vec<_>>()
                .join(", ")
        );
    } else {
        let loaded = load_any_model(path)?;
        print!("{}", loaded.model.summary());
        let m = &loaded.metadata;
        match m.get(KERAS_SOURCE) {
            Some(source) => println!("Read from a {source}"),
            None => println!(
                "Saved {} by recurrent {} (format {})",
                m.get("saved_at").map_or("?", String::as_str),
                m.get("library_version").map_or("?", String::as_str),
                m.get("format_version").map_or("?", String::as_str)
            ),
        }
        if let Some(opt) = loaded.model.optimizer() {
            println!(
                "Compile: optimizer {} (learning_rate {}, {} steps done), loss {}",
                opt.config().name(),
                opt.config().learning_rate(),
                opt.iterations(),
                loaded.model.loss().map_or("?", |l| l.name())
            );
        }
        if let Some(t) = &loaded.extras.training {
            println!("Trained epochs: {}", t.epoch);
        }
        if let Some(v) = &loaded.extras.vectorizer {
            println!("Text vectorizer: vocabulary of {}", v.vocabulary_size());
        }
    }
    Ok(())
}

/// The input shape a config's model gets without loading the data: `maxlen` steps
/// of ids, of one-hot vectors, or of one float (series).
pub fn config_input_shape(config: &RunConfig) -> Vec<usize> {
    let d = &config.data;
    let steps = d.maxlen.unwrap_or(1);
    if d.is_series_csv() {
        // Without feature_columns every column is one; the file says how many.
        let features = d.feature_columns.as_ref().map_or(1, Vec::len);
        vec![d.sequence_length.unwrap_or(1), features]
    } else if d.one_hot {
        vec![steps, d.num_words.unwrap_or(1)]
    } else if d.source == crate::config::DataSource::Generated
        && d.task == crate::config::GeneratedTask::Series
    {
        vec![steps, 1]
    } else {
        vec![steps]
    }
}

pub fn plot(history: &Path, output: Option<&Path>, log_y: bool) -> Result<()> {
    let h = read_history_json(history)?;
    let dir = match output {
        Some(d) => d.to_path_buf(),
        None => history.parent().map(Path::to_path_buf).unwrap_or_default(),
    };
    let stem = history
        .file_stem()
        .map_or("history".into(), |s| s.to_string_lossy().into_owned());
    let options = crate::plot::PlotOptions { log_y };
    let files = plot_history_with(&h.history, &dir, &stem, options)?;
    for f in files {
        println!("{}", f.display());
    }
    Ok(())
}
