//! Keras 3 `SGD` (keras/src/optimizers/sgd.py): with momentum `m = momentum*m - lr*g`,
//! then `var += m` (or `var += momentum*m - lr*g` for Nesterov); else `var -= lr*g`.

use ndarray::{ArrayD, Zip};
use serde::{Deserialize, Serialize};

fn default_lr() -> f64 {
    0.01
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SgdConfig {
    #[serde(default = "default_lr")]
    pub learning_rate: f64,
    #[serde(default)]
    pub momentum: f64,
    #[serde(default)]
    pub nesterov: bool,
    /// Clip each gradient to this L2 norm (per variable, as Keras).
    #[serde(default)]
    pub clipnorm: Option<f64>,
    /// Clip each gradient value to [-clipvalue, clipvalue].
    #[serde(default)]
    pub clipvalue: Option<f64>,
    /// Clip all gradients together to this global L2 norm.
    #[serde(default)]
    pub global_clipnorm: Option<f64>,
    /// Keras 3 decoupled weight decay: before each step `var -= var * weight_decay * lr`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight_decay: Option<f64>,
    /// A schedule in place of the constant `learning_rate` (which then holds its value
    /// at step 0). Written in a config as `learning_rate = { type = "...", ... }`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub learning_rate_schedule: Option<super::LearningRateSchedule>,
}

impl Default for SgdConfig {
    fn default() -> Self {
        SgdConfig {
            learning_rate: default_lr(),
            momentum: 0.0,
            nesterov: false,
            clipnorm: None,
            clipvalue: None,
            global_clipnorm: None,
            weight_decay: None,
            learning_rate_schedule: None,
        }
    }
}

impl SgdConfig {
    pub fn slot_names(&self) -> Vec<&'static str> {
        if self.momentum != 0.0 {
            vec!["momentum"]
        } else {
            Vec::new()
        }
    }

    pub fn update(&self, grad: &ArrayD<f32>, var: &mut ArrayD<f32>, slots: &mut [ArrayD<f32>]) {
        self.step(self.learning_rate as f32, grad, var, slots)
    }

    /// `update` at the learning rate `lr` (a schedule's value at this step).
    pub(crate) fn step(
        &self,
        lr: f32,
        grad: &ArrayD<f32>,
        var: &mut ArrayD<f32>,
        slots: &mut [ArrayD<f32>],
    ) {
        if let Some(m) = slots.first_mut() {
            let mom = self.momentum as f32;
            let nesterov = self.nesterov;
            Zip::from(var).and(m).and(grad).for_each(|v, m, &g| {
                *m = *m * mom - g * lr;
                if nesterov {
                    *v += *m * mom - g * lr;
                } else {
                    *v += *m;
                }
            });
        } else {
            Zip::from(var).and(grad).for_each(|v, &g| *v -= g * lr);
        }
    }
}
