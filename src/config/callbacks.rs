//! `[fit] callbacks = [...]`: the built-in callbacks with Keras's argument names and
//! defaults (keras/src/callbacks/*.py).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub use crate::callbacks::Mode;
use crate::callbacks::{
    CsvLogger, EarlyStopping, ModelCheckpoint, ReduceLrOnPlateau, TerminateOnNan,
};
use crate::error::{Error, Result};

fn val_loss() -> String {
    "val_loss".into()
}
fn reduce_lr_factor() -> f64 {
    0.1
}
fn reduce_lr_patience() -> usize {
    10
}
fn reduce_lr_min_delta() -> f64 {
    1e-4
}
fn comma() -> String {
    ",".into()
}

/// `keras.callbacks.EarlyStopping`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EarlyStoppingConfig {
    #[serde(default = "val_loss")]
    pub monitor: String,
    #[serde(default)]
    pub min_delta: f64,
    #[serde(default)]
    pub patience: usize,
    #[serde(default)]
    pub verbose: u8,
    #[serde(default)]
    pub mode: Mode,
    #[serde(default)]
    pub baseline: Option<f64>,
    #[serde(default)]
    pub restore_best_weights: bool,
    #[serde(default)]
    pub start_from_epoch: usize,
}

impl Default for EarlyStoppingConfig {
    fn default() -> Self {
        EarlyStoppingConfig {
            monitor: val_loss(),
            min_delta: 0.0,
            patience: 0,
            verbose: 0,
            mode: Mode::Auto,
            baseline: None,
            restore_best_weights: false,
            start_from_epoch: 0,
        }
    }
}

/// `keras.callbacks.ModelCheckpoint`. `filepath` may hold `{epoch}` and
/// `{name:.4f}`-style placeholders for any log value (`{val_loss:.4f}`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelCheckpointConfig {
    pub filepath: PathBuf,
    #[serde(default = "val_loss")]
    pub monitor: String,
    #[serde(default)]
    pub verbose: u8,
    #[serde(default)]
    pub save_best_only: bool,
    #[serde(default)]
    pub save_weights_only: bool,
    #[serde(default)]
    pub mode: Mode,
    #[serde(default)]
    pub initial_value_threshold: Option<f64>,
}

impl ModelCheckpointConfig {
    pub fn new(filepath: impl Into<PathBuf>) -> Self {
        ModelCheckpointConfig {
            filepath: filepath.into(),
            monitor: val_loss(),
            verbose: 0,
            save_best_only: false,
            save_weights_only: false,
            mode: Mode::Auto,
            initial_value_threshold: None,
        }
    }
}

/// `keras.callbacks.CSVLogger`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CsvLoggerConfig {
    pub filename: PathBuf,
    #[serde(default = "comma")]
    pub separator: String,
    #[serde(default)]
    pub append: bool,
}

/// `keras.callbacks.ReduceLROnPlateau`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReduceLrOnPlateauConfig {
    #[serde(default = "val_loss")]
    pub monitor: String,
    #[serde(default = "reduce_lr_factor")]
    pub factor: f64,
    #[serde(default = "reduce_lr_patience")]
    pub patience: usize,
    #[serde(default)]
    pub verbose: u8,
    #[serde(default)]
    pub mode: Mode,
    #[serde(default = "reduce_lr_min_delta")]
    pub min_delta: f64,
    #[serde(default)]
    pub cooldown: usize,
    #[serde(default)]
    pub min_lr: f64,
}

impl Default for ReduceLrOnPlateauConfig {
    fn default() -> Self {
        ReduceLrOnPlateauConfig {
            monitor: val_loss(),
            factor: reduce_lr_factor(),
            patience: reduce_lr_patience(),
            verbose: 0,
            mode: Mode::Auto,
            min_delta: reduce_lr_min_delta(),
            cooldown: 0,
            min_lr: 0.0,
        }
    }
}

/// An empty table: `{ type = "terminate_on_nan" }` takes no arguments.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TerminateOnNanConfig {}

/// `keras.callbacks.LearningRateScheduler` with a Keras schedule evaluated at the
/// epoch number: `{ type = "learning_rate_scheduler", schedule = { type =
/// "ExponentialDecay", initial_learning_rate = 0.01, decay_steps = 5, decay_rate = 0.5 } }`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LearningRateSchedulerConfig {
    pub schedule: crate::optimizers::LearningRateSchedule,
    #[serde(default)]
    pub verbose: u8,
}

/// One entry of `[fit] callbacks`, tagged by `type`: the snake_case name or Keras's
/// class name (`"EarlyStopping"`, `"CSVLogger"`, `"ReduceLROnPlateau"`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum CallbackConfig {
    #[serde(alias = "EarlyStopping")]
    EarlyStopping(EarlyStoppingConfig),
    #[serde(alias = "ModelCheckpoint")]
    ModelCheckpoint(ModelCheckpointConfig),
    #[serde(alias = "CSVLogger")]
    CsvLogger(CsvLoggerConfig),
    #[serde(rename = "terminate_on_nan", alias = "TerminateOnNaN")]
    TerminateOnNan(TerminateOnNanConfig),
    #[serde(rename = "reduce_lr_on_plateau", alias = "ReduceLROnPlateau")]
    ReduceLrOnPlateau(ReduceLrOnPlateauConfig),
    #[serde(rename = "learning_rate_scheduler", alias = "LearningRateScheduler")]
    LearningRateScheduler(LearningRateSchedulerConfig),
}

impl From<&LearningRateSchedulerConfig> for crate::callbacks::LearningRateScheduler {
    fn from(c: &LearningRateSchedulerConfig) -> Self {
        crate::callbacks::LearningRateScheduler::from_schedule(c.schedule.clone())
            .verbose(c.verbose)
    }
}

// The config converts INTO the library's callbacks (the library never reads the
// config): each table's keys are the builder's methods, one for one.

impl From<&EarlyStoppingConfig> for EarlyStopping {
    fn from(c: &EarlyStoppingConfig) -> Self {
        EarlyStopping::new()
            .mode(c.mode)
            .monitor(c.monitor.clone())
            .min_delta(c.min_delta)
            .patience(c.patience)
            .verbose(c.verbose)
            .baseline(c.baseline)
            .restore_best_weights(c.restore_best_weights)
            .start_from_epoch(c.start_from_epoch)
    }
}

impl From<&ModelCheckpointConfig> for ModelCheckpoint {
    fn from(c: &ModelCheckpointConfig) -> Self {
        ModelCheckpoint::new(c.filepath.clone())
            .mode(c.mode)
            .monitor(c.monitor.clone())
            .verbose(c.verbose)
            .save_best_only(c.save_best_only)
            .save_weights_only(c.save_weights_only)
            .initial_value_threshold(c.initial_value_threshold)
    }
}

impl TryFrom<&CsvLoggerConfig> for CsvLogger {
    type Error = Error;
    /// Fails when `separator` is not one character.
    fn try_from(c: &CsvLoggerConfig) -> Result<Self> {
        Ok(CsvLogger::new(c.filename.clone())
            .separator(CsvLogger::separator_char(&c.separator)?)
            .append(c.append))
    }
}

impl From<&ReduceLrOnPlateauConfig> for ReduceLrOnPlateau {
    fn from(c: &ReduceLrOnPlateauConfig) -> Self {
        ReduceLrOnPlateau::new()
            .mode(c.mode)
            .monitor(c.monitor.clone())
            .factor(c.factor)
            .patience(c.patience)
            .verbose(c.verbose)
            .min_delta(c.min_delta)
            .cooldown(c.cooldown)
            .min_lr(c.min_lr)
    }
}

impl From<&TerminateOnNanConfig> for TerminateOnNan {
    fn from(_: &TerminateOnNanConfig) -> Self {
        TerminateOnNan::new()
    }
}
