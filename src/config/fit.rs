//! `[fit]`: the arguments of `model.fit`.

use serde::{Deserialize, Serialize};

use super::callbacks::CallbackConfig;

fn default_epochs() -> usize {
    1
}
fn default_batch_size() -> usize {
    32
}
fn default_verbose() -> u8 {
    1
}
fn default_true() -> bool {
    true
}

/// The `[fit]` table (Keras defaults: 1 epoch, batch 32, verbose 1, shuffle).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FitConfig {
    #[serde(default = "default_epochs")]
    pub epochs: usize,
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
    /// 0, 1, 2 or `"auto"` (read as 1, see `super::verbose_or_auto`).
    #[serde(
        default = "default_verbose",
        deserialize_with = "super::verbose_or_auto"
    )]
    pub verbose: u8,
    #[serde(default = "default_true")]
    pub shuffle: bool,
    /// Keras's place for it; `[data] validation_split` is the same setting.
    #[serde(default)]
    pub validation_split: Option<f64>,
    #[serde(default)]
    pub initial_epoch: usize,
    #[serde(default)]
    pub callbacks: Vec<CallbackConfig>,
}

impl Default for FitConfig {
    fn default() -> Self {
        FitConfig {
            epochs: default_epochs(),
            batch_size: default_batch_size(),
            verbose: default_verbose(),
            shuffle: true,
            validation_split: None,
            initial_epoch: 0,
            callbacks: Vec::new(),
        }
    }
}
