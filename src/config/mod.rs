//! The run configuration of `recurrent train CONFIG.toml`: four tables named as in
//! Keras (`[data]`, `[model]`, `[compile]`, `[fit]`) and an optional `[plot]`. Unknown keys and bad values are
//! errors naming the file, the line, the key and the valid choices.

pub mod callbacks;
pub mod compile;
pub mod data;
pub mod fit;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use callbacks::{
    CallbackConfig, CsvLoggerConfig, EarlyStoppingConfig, Mode, ModelCheckpointConfig,
    ReduceLrOnPlateauConfig, TerminateOnNanConfig,
};
pub use compile::CompileConfig;
pub use data::{DataConfig, DataSource, GeneratedTask, NpzKeys};
pub use fit::FitConfig;

use crate::error::{Error, Result};
use crate::layers::LayerConfig;
use crate::losses::Loss;

/// `[model]`: a `Sequential` stack.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    #[serde(default)]
    pub name: Option<String>,
    pub layers: Vec<LayerConfig>,
}

/// A whole `CONFIG.toml`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    pub data: DataConfig,
    pub model: ModelConfig,
    pub compile: CompileConfig,
    #[serde(default)]
    pub fit: FitConfig,
    #[serde(default)]
    pub plot: PlotConfig,
}

/// `[plot]`: how `train` draws the history figures.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlotConfig {
    /// A log-scale value axis for the loss figures (also `--log-y`).
    #[serde(default)]
    pub log_y: bool,
}

impl RunConfig {
    /// Read and check `path`.
    pub fn load(path: &Path) -> Result<Self> {
        // A config may come from a pipe (`recurrent train <(...)`); none is near 64 MiB.
        let text = crate::io::read_text_input(path, 64 << 20)?;
        Self::parse(&text, path)
    }

    /// Parse and check TOML `text`; `path` names the file in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Self> {
        let config: RunConfig = toml::from_str(text).map_err(|e| {
            // serde reads a tagged layer table whole before looking inside it, so toml
            // can only blame the `layers = [` line for a bad key in the 3rd layer: find
            // the layer itself and point there.
            if let Some(err) = non_finite_error(text, path) {
                return err;
            }
            if let Some(err) = layer_error(text, path) {
                return err;
            }
            // A 20 MB string in the config must not come back whole in the message;
            // 1000 characters still hold the full list of accepted `type` names.
            let message = cap_text(e.message().trim(), 1000);
            match e.span() {
                Some(span) => {
                    let (line, snippet) = line_at(text, span.start);
                    Error::format(path, format!("line {line}: `{snippet}`: {message}"))
                }
                None => Error::format(path, message),
            }
        })?;
        config.check(text, path)?;
        Ok(config)
    }

    /// The validation fraction, from `[data]` or `[fit]` (at most one may set it).
    pub fn validation_split(&self) -> f64 {
        self.data
            .validation_split
            .or(self.fit.validation_split)
            .unwrap_or(0.0)
    }

    /// The keys `fit` will log: `loss`, the metrics, and their `val_` twins when
    /// there is validation data.
    pub fn logged_keys(&self) -> Vec<String> {
        let mut keys = vec!["loss".to_string()];
        let metrics = crate::metrics::unique_names(&self.compile.metrics);
        keys.extend(metrics.iter().map(|m| m.name().to_string()));
        if self.validation_split() > 0.0 {
            let val: Vec<String> = keys.iter().map(|k| format!("val_{k}")).collect();
            keys.extend(val);
        }
        keys
    }

    /// Checks serde cannot express: ranges, combinations, required paths. Errors
    /// name the file, the line of the key when it can be found, the table and the key.
    fn check(&self, text: &str, path: &Path) -> Result<()> {
        let err = |table: &str, key: &str, reason: String| -> Error {
            let at = match find_key_line(text, table, key) {
                Some(line) => format!("line {line}: "),
                None => String::new(),
            };
            Error::format(path, format!("{at}[{table}] {key}: {reason}"))
        };
        self.check_splits().map_err(|(t, k, r)| err(t, k, r))?;
        self.check_data().map_err(|(t, k, r)| err(t, k, r))?;
        self.data
            .check_numeric()
            .map_err(|(k, r)| err("data", k, r))?;
        check_data_sizes(&self.data).map_err(|(t, k, r)| err(t, k, r))?;
        self.check_layers(text, path)?;
        self.check_model_and_compile()
            .map_err(|(t, k, r)| err(t, k, r))?;
        self.check_fit().map_err(|(t, k, r)| err(t, k, r))?;
        self.check_callbacks().map_err(|(t, k, r)| err(t, k, r))?;
        if self.compile.loss == Loss::MeanSquaredError
            && self.data.is_text()
            && self.compile.metrics.iter().any(|m| m.name() == "accuracy")
        {
            // Allowed by Keras, but almost certainly a mistake worth surfacing early.
            return Err(err(
                "compile",
                "metrics",
                "accuracy with mean_squared_error on class labels: use binary_crossentropy".into(),
            ));
        }
        Ok(())
    }

    /// `validation_split` (in `[data]` or `[fit]`, not both) and `test_split`.
    fn check_splits(&self) -> Checked {
        let d = &self.data;
        if d.validation_split.is_some() && self.fit.validation_split.is_some() {
            return Err((
                "fit",
                "validation_split",
                "set in both [data] and [fit]; keep one".into(),
            ));
        }
        let vs = self.validation_split();
        if !(0.0..1.0).contains(&vs) {
            let table = if d.validation_split.is_some() {
                "data"
            } else {
                "fit"
            };
            return Err((table, "validation_split", format!("{vs} must be in [0, 1)")));
        }
        if let Some(ts) = d.test_split
            && !(ts > 0.0 && ts < 1.0)
        {
            return Err(("data", "test_split", format!("{ts} must be in (0, 1)")));
        }
        Ok(())
    }

    /// The rest of `[data]`: required paths, sizes, and keys of other sources.
    fn check_data(&self) -> Checked {
        let d = &self.data;
        if matches!(
            d.source,
            DataSource::TextDir | DataSource::Csv | DataSource::Npz
        ) && d.path.is_none()
        {
            return Err((
                "data",
                "source",
                format!("source = \"{}\" needs `path = ...`", d.source.name()),
            ));
        }
        if d.one_hot && d.num_words.is_none() {
            return Err((
                "data",
                "one_hot",
                "needs `num_words` (the one-hot width)".into(),
            ));
        }
        if d.num_words == Some(0) {
            return Err(("data", "num_words", "must be at least 1".into()));
        }
        if d.maxlen == Some(0) {
            return Err(("data", "maxlen", "must be at least 1".into()));
        }
        if d.source == DataSource::Generated
            && d.task == GeneratedTask::Series
            && d.maxlen.is_none()
        {
            return Err((
                "data",
                "maxlen",
                "task = \"series\" needs `maxlen` (the window length)".into(),
            ));
        }
        for (key, v) in [("padding", &d.padding), ("truncating", &d.truncating)] {
            if let Some(v) = v
                && v != "pre"
                && v != "post"
            {
                return Err(("data", key, format!("`{v}` is not one of: pre, post")));
            }
        }
        if d.source != DataSource::Csv && (d.text_column.is_some() || d.label_column.is_some()) {
            let key = if d.text_column.is_some() {
                "text_column"
            } else {
                "label_column"
            };
            return Err(("data", key, "only applies to source = \"csv\"".into()));
        }
        if d.source != DataSource::Generated && d.samples.is_some() {
            return Err((
                "data",
                "samples",
                "only applies to source = \"generated\"".into(),
            ));
        }
        Ok(())
    }

    /// Every layer builds (its argument ranges); an error points at the layer's own
    /// table in the file.
    fn check_layers(&self, text: &str, path: &Path) -> Result<()> {
        for (i, layer) in self.model.layers.iter().enumerate() {
            if let Err(e) = layer.to_layer() {
                let spans = layer_spans(text);
                let at = spans.get(i).map(|sp| {
                    let (line, col) = line_col(text, sp.start);
                    format!("line {line}, column {col}: ")
                });
                return Err(Error::format(
                    path,
                    format!(
                        "{}[model] layers[{i}] (layer {}): {e}",
                        at.unwrap_or_default(),
                        i + 1
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The model has layers; their weights fit the budget; the optimizer's arguments
    /// are valid.
    fn check_model_and_compile(&self) -> Checked {
        if self.model.layers.is_empty() {
            return Err((
                "model",
                "layers",
                "the model needs at least one layer".into(),
            ));
        }
        for layer in &self.model.layers {
            // A stateful layer's states are batch_size rows: fit must feed batches of it.
            if let Some(b) = layer.stateful_batch_size()
                && b != self.fit.batch_size
            {
                return Err((
                    "model",
                    "layers",
                    format!(
                        "a stateful layer has batch_size = {b}, but [fit] batch_size = {}: \
                         they must be equal (every batch feeds the layer's {b} carried states)",
                        self.fit.batch_size
                    ),
                ));
            }
        }
        // The weights the layers declare, for the data's feature width, against the
        // parameter budget: before anything is built (a huge `units` must not abort).
        let d = &self.data;
        let features = if d.one_hot {
            d.num_words
        } else if d.source == DataSource::Generated && d.task == GeneratedTask::Series {
            Some(1)
        } else {
            None
        };
        let shape: Vec<Option<usize>> = match features {
            Some(f) => vec![d.maxlen, Some(f)],
            None => vec![d.maxlen],
        };
        crate::budget::check_model_params(&self.model.layers, &shape)
            .map_err(|e| ("model", "layers", e.to_string()))?;
        self.compile
            .optimizer
            .validate()
            .map_err(|e| ("compile", "optimizer", e.to_string()))
    }

    /// `[fit]`'s numbers.
    fn check_fit(&self) -> Checked {
        let f = &self.fit;
        if f.epochs == 0 {
            return Err(("fit", "epochs", "must be at least 1".into()));
        }
        if f.batch_size == 0 {
            return Err(("fit", "batch_size", "must be at least 1".into()));
        }
        if f.verbose > 2 {
            return Err((
                "fit",
                "verbose",
                format!("{} is not one of: 0, 1, 2, \"auto\"", f.verbose),
            ));
        }
        if f.initial_epoch >= f.epochs {
            return Err((
                "fit",
                "initial_epoch",
                format!("{} must be below epochs = {}", f.initial_epoch, f.epochs),
            ));
        }
        f.class_weights().map_err(|r| ("fit", "class_weight", r))?;
        Ok(())
    }

    /// Each callback's arguments, and that what it monitors is logged.
    fn check_callbacks(&self) -> Checked {
        let keys = self.logged_keys();
        for cb in &self.fit.callbacks {
            let monitor = match cb {
                CallbackConfig::EarlyStopping(c) => Some(&c.monitor),
                CallbackConfig::ModelCheckpoint(c) => {
                    // The file name template is filled after each epoch; a bad one
                    // must fail now, not after an epoch of training.
                    let logs: crate::callbacks::Logs =
                        keys.iter().map(|k| (k.clone(), 0.0)).collect();
                    crate::callbacks::model_checkpoint::format_path(
                        &c.filepath.to_string_lossy(),
                        1,
                        &logs,
                    )
                    .map_err(|e| ("fit", "filepath", e.to_string()))?;
                    Some(&c.monitor)
                }
                CallbackConfig::ReduceLrOnPlateau(c) => {
                    if !(c.factor < 1.0 && c.factor >= 0.0) {
                        return Err((
                            "fit",
                            "factor",
                            format!("ReduceLROnPlateau factor {} must be in [0, 1)", c.factor),
                        ));
                    }
                    Some(&c.monitor)
                }
                CallbackConfig::CsvLogger(c) => {
                    if c.separator.chars().count() != 1 {
                        return Err((
                            "fit",
                            "separator",
                            format!("`{}` must be one character", c.separator),
                        ));
                    }
                    None
                }
                CallbackConfig::TerminateOnNan(_) => None,
                CallbackConfig::LearningRateScheduler(c) => {
                    if let Err(e) = c.schedule.validate() {
                        return Err(("fit", "schedule", e.to_string()));
                    }
                    if self.compile.optimizer.schedule().is_some() {
                        return Err((
                            "fit",
                            "schedule",
                            "LearningRateScheduler cannot set a learning rate given as a \
                             schedule in [compile] optimizer"
                                .to_string(),
                        ));
                    }
                    None
                }
            };
            if let Some(m) = monitor
                && !keys.contains(m)
            {
                let hint = if m.starts_with("val_") && self.validation_split() == 0.0 {
                    " (there is no validation data: set [data] validation_split)"
                } else {
                    ""
                };
                return Err((
                    "fit",
                    "monitor",
                    format!("`{m}` is not logged{hint}; choices: {}", keys.join(", ")),
                ));
            }
        }
        Ok(())
    }

    /// Where relative paths in the config are resolved: the config file's folder.
    pub fn resolve_path(config_path: &Path, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            config_path
                .parent()
                .map(|d| d.join(p))
                .unwrap_or_else(|| p.to_path_buf())
        }
    }
}

/// Keras's `verbose="auto"` as the number it stands for. Keras 3 resolves it to 1 in
/// every case (`ProgbarLogger.set_params`: `if verbose == "auto": verbose = 1`; the
/// tf.keras 2 rule of 2 under a ParameterServerStrategy or absl logging is gone), so
/// `"auto"` is read as 1 and a saved config writes 1.
pub fn parse_verbose(text: &str) -> std::result::Result<u8, String> {
    match text.trim() {
        "auto" => Ok(1),
        t => match t.parse::<u8>() {
            Ok(v @ 0..=2) => Ok(v),
            _ => Err(format!("`{t}` is not one of: 0, 1, 2, auto")),
        },
    }
}

/// `verbose = 0 | 1 | 2 | "auto"` in `[fit]`. Numbers above 2 are kept for `check_fit`,
/// which names the key and line.
fn verbose_or_auto<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<u8, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Verbose {
        Number(u8),
        Text(String),
    }
    match Verbose::deserialize(d) {
        Ok(Verbose::Number(v)) => Ok(v),
        Ok(Verbose::Text(t)) if t == "auto" => Ok(1),
        Ok(Verbose::Text(t)) => Err(serde::de::Error::custom(format!(
            "verbose `{}` is not one of: 0, 1, 2, \"auto\"",
            cap_text(&t, 40)
        ))),
        Err(_) => Err(serde::de::Error::custom(
            "verbose must be 0, 1, 2 or \"auto\"",
        )),
    }
}

/// A failed check: the table, the key and the reason (`check` adds file and line).
type Checked = std::result::Result<(), (&'static str, &'static str, String)>;

/// Longest `maxlen` (time steps): far beyond any text or series model, small enough
/// that a batch of sequences stays addressable.
pub const MAX_MAXLEN: usize = 10_000_000;

/// `text` cut to `max` characters with "…" and the full length.
fn cap_text(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text.to_string(),
        Some((cut, _)) => format!(
            "{}… ({} characters in all)",
            &text[..cut],
            text.chars().count()
        ),
    }
}

/// The sizes of `[data]` against the memory budget (`RECURRENT_MAX_BYTES`): one
/// sample (`maxlen` steps, times `num_words` when one-hot) and, for generated data,
/// all `samples`; a generated data set needs at least 2 samples (one to train on,
/// one to test on). Also used for the data settings saved in a model file, which
/// `predict` and `evaluate` size their inputs from.
pub fn check_data_sizes(d: &DataConfig) -> Checked {
    let budget = |key: &'static str, what: String, bytes: u128| -> Checked {
        crate::budget::check_bytes(&what, bytes).map_err(|reason| ("data", key, reason))
    };
    if let Some(m) = d.maxlen
        && m > MAX_MAXLEN
    {
        return Err((
            "data",
            "maxlen",
            format!("{m} is over the limit of {MAX_MAXLEN} time steps"),
        ));
    }
    let steps = d.maxlen.unwrap_or(1) as u128;
    let per_sample = if d.one_hot {
        let width = d.num_words.unwrap_or(1) as u128;
        let bytes = steps * width * 4;
        budget(
            "one_hot",
            format!("one sample one-hot encoded ({steps} steps x {width} words)"),
            bytes,
        )?;
        bytes
    } else {
        steps * 4
    };
    if d.source == DataSource::Generated
        && let Some(n) = d.samples
    {
        if n < 2 {
            return Err((
                "data",
                "samples",
                format!("{n} is too few: generated data needs at least 2 (train and test)"),
            ));
        }
        budget(
            "samples",
            format!("{n} generated samples"),
            (n as u128).saturating_mul(per_sample),
        )?;
    }
    Ok(())
}

/// Where each `[model] layers` entry starts in the file: the inline table `{ ... }`, or
/// the `[[model.layers]]` header of an array of tables. Empty when the text does not
/// parse as TOML or has no layers.
fn layer_spans(text: &str) -> Vec<std::ops::Range<usize>> {
    layer_values(text).into_iter().map(|v| v.span()).collect()
}

/// When a config fails to read, a TOML `nan` or `inf` in it, as an error naming its key
/// and line: layer and optimizer tables are read through JSON values, where NaN and
/// infinities become null, and serde's "invalid type: null, expected f64" named neither.
fn non_finite_error(text: &str, path: &Path) -> Option<Error> {
    fn find(v: &toml::Value, at: String) -> Option<(String, f64)> {
        match v {
            toml::Value::Float(f) if !f.is_finite() => Some((at, *f)),
            toml::Value::Table(t) => t.iter().find_map(|(k, v)| {
                find(
                    v,
                    if at.is_empty() {
                        k.clone()
                    } else {
                        format!("{at}.{k}")
                    },
                )
            }),
            toml::Value::Array(a) => a
                .iter()
                .enumerate()
                .find_map(|(i, v)| find(v, format!("{at}[{i}]"))),
            _ => None,
        }
    }
    let table: toml::Table = toml::from_str(text).ok()?;
    let (at, value) = find(&toml::Value::Table(table), String::new())?;
    let key = at.rsplit('.').next().unwrap_or(&at);
    let key = key.split('[').next().unwrap_or(key);
    let line = text.lines().position(|l| {
        let l = l.split('#').next().unwrap_or("");
        l.contains(key) && (l.contains("nan") || l.contains("inf"))
    });
    let number = if value.is_nan() {
        "nan".to_string()
    } else {
        value.to_string()
    };
    let reason = format!("`{at}` is {number}; numbers in the config must be finite");
    Some(match line {
        Some(n) => Error::format(path, format!("line {}: {reason}", n + 1)),
        None => Error::format(path, reason),
    })
}

/// The `[model] layers` entries as TOML values with their spans; other tables and
/// keys are ignored (the full parse reports those).
fn layer_values(text: &str) -> Vec<toml::Spanned<toml::Value>> {
    #[derive(Deserialize)]
    struct Doc {
        model: Option<Model>,
    }
    #[derive(Deserialize)]
    struct Model {
        #[serde(default)]
        layers: Vec<toml::Spanned<toml::Value>>,
    }
    toml::from_str::<Doc>(text)
        .ok()
        .and_then(|d| d.model)
        .map(|m| m.layers)
        .unwrap_or_default()
}

/// The first layer that does not read as a `LayerConfig`, as an error naming its
/// index and the line and column of its table (or of the offending key when the
/// message names one: `unknown field `unitz``, `missing field`s point at the table).
fn layer_error(text: &str, path: &Path) -> Option<Error> {
    for (i, value) in layer_values(text).into_iter().enumerate() {
        let span = value.span();
        let Err(e) = LayerConfig::deserialize(value.into_inner()) else {
            continue;
        };
        let message = cap_text(e.message().trim(), 1000);
        let region = layer_region(text, span.clone());
        let key_at = named_key(&message).and_then(|k| find_key_in(text, region, k));
        let (line, col) = line_col(text, key_at.unwrap_or(span.start));
        let (_, snippet) = line_at(text, key_at.unwrap_or(span.start));
        return Some(Error::format(
            path,
            format!(
                "line {line}, column {col}: `{snippet}`: [model] layers[{i}] (layer {}): \
                 {message}",
                i + 1
            ),
        ));
    }
    None
}

/// The text of one layer: an inline table's own span, or from a `[[model.layers]]`
/// header to the next table header.
fn layer_region(text: &str, span: std::ops::Range<usize>) -> std::ops::Range<usize> {
    if !text[span.clone()].starts_with("[[") {
        return span;
    }
    let mut end = text.len();
    let mut at = span.end;
    for line in text[span.end..].split_inclusive('\n') {
        if at > span.end && line.trim_start().starts_with('[') {
            end = at;
            break;
        }
        at += line.len();
    }
    span.start..end
}

/// The key a serde message is about: `unknown field `x``, `invalid value ... for `x``.
fn named_key(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("unknown field `")?;
    rest.split('`').next()
}

/// Byte offset of `key =` inside `region` of `text`, at a word boundary.
fn find_key_in(text: &str, region: std::ops::Range<usize>, key: &str) -> Option<usize> {
    let part = &text[region.clone()];
    let bytes = part.as_bytes();
    let mut from = 0;
    while let Some(pos) = part[from..].find(key) {
        let start = from + pos;
        let end = start + key.len();
        let before_ok = start == 0
            || !(bytes[start - 1].is_ascii_alphanumeric()
                || bytes[start - 1] == b'_'
                || bytes[start - 1] == b'"');
        if before_ok && part[end..].trim_start().starts_with('=') {
            return Some(region.start + start);
        }
        from = end;
    }
    None
}

/// 1-based line and column (in characters) of byte `offset`.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |p| p + 1);
    (line, text[line_start..offset].chars().count() + 1)
}

/// 1-based line number and trimmed text of the line holding byte `offset`.
fn line_at(text: &str, offset: usize) -> (usize, String) {
    let offset = offset.min(text.len());
    let line = text[..offset].matches('\n').count() + 1;
    let content = text.lines().nth(line - 1).unwrap_or("").trim();
    let content: String = content.chars().take(80).collect();
    (line, content)
}

/// The line where `key = ...` first appears inside `[table]` (or anywhere after it,
/// for keys inside inline tables of arrays).
fn find_key_line(text: &str, table: &str, key: &str) -> Option<usize> {
    let header = format!("[{table}]");
    let mut in_table = false;
    for (i, line) in text.lines().enumerate() {
        let t = line.trim();
        if t.starts_with('[') && !t.starts_with("[[") && t.ends_with(']') && !t.contains('=') {
            in_table = t == header;
            continue;
        }
        if !in_table {
            continue;
        }
        let code = t.split('#').next().unwrap_or("");
        let bytes = code.as_bytes();
        let mut from = 0;
        while let Some(pos) = code[from..].find(key) {
            let start = from + pos;
            let end = start + key.len();
            let before_ok = start == 0
                || !(bytes[start - 1].is_ascii_alphanumeric() || bytes[start - 1] == b'_');
            let rest = code[end..].trim_start();
            if before_ok && rest.starts_with('=') {
                return Some(i + 1);
            }
            from = end;
        }
    }
    None
}

#[cfg(test)]
mod tests;
