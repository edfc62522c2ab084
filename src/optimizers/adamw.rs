//! Keras 3 `AdamW` (keras/src/optimizers/adamw.py): `Adam` whose `weight_decay` is
//! required and defaults to 0.004 (the decay itself is the base optimizer's, as for
//! every optimizer: `var -= var * weight_decay * lr` before the Adam step).

use serde::{Deserialize, Serialize};

use super::AdamConfig;

fn default_lr() -> f64 {
    0.001
}
fn default_weight_decay() -> f64 {
    0.004
}
fn default_beta_1() -> f64 {
    0.9
}
fn default_beta_2() -> f64 {
    0.999
}
fn default_eps() -> f64 {
    1e-7
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdamWConfig {
    #[serde(default = "default_lr")]
    pub learning_rate: f64,
    #[serde(default = "default_weight_decay")]
    pub weight_decay: f64,
    #[serde(default = "default_beta_1")]
    pub beta_1: f64,
    #[serde(default = "default_beta_2")]
    pub beta_2: f64,
    #[serde(default = "default_eps")]
    pub epsilon: f64,
    #[serde(default)]
    pub amsgrad: bool,
    /// Clip each gradient to this L2 norm (per variable, as Keras).
    #[serde(default)]
    pub clipnorm: Option<f64>,
    /// Clip each gradient value to [-clipvalue, clipvalue].
    #[serde(default)]
    pub clipvalue: Option<f64>,
    /// Clip all gradients together to this global L2 norm.
    #[serde(default)]
    pub global_clipnorm: Option<f64>,
    /// A schedule in place of the constant `learning_rate`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub learning_rate_schedule: Option<super::LearningRateSchedule>,
}

impl Default for AdamWConfig {
    fn default() -> Self {
        AdamWConfig {
            learning_rate: default_lr(),
            weight_decay: default_weight_decay(),
            beta_1: default_beta_1(),
            beta_2: default_beta_2(),
            epsilon: default_eps(),
            amsgrad: false,
            clipnorm: None,
            clipvalue: None,
            global_clipnorm: None,
            learning_rate_schedule: None,
        }
    }
}

impl AdamWConfig {
    pub fn slot_names(&self) -> Vec<&'static str> {
        self.adam().slot_names()
    }

    /// The Adam step this optimizer runs (the decay is applied by `Optimizer::apply`).
    pub(crate) fn adam(&self) -> AdamConfig {
        AdamConfig {
            learning_rate: self.learning_rate,
            beta_1: self.beta_1,
            beta_2: self.beta_2,
            epsilon: self.epsilon,
            amsgrad: self.amsgrad,
            ..AdamConfig::default()
        }
    }
}
