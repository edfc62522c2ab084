//! Keras 3 `Adagrad` (keras/src/optimizers/adagrad.py): the accumulator starts at
//! `initial_accumulator_value`, then `acc += g²`, `var -= lr*g / sqrt(acc + eps)`.

use ndarray::ArrayD;
use serde::{Deserialize, Serialize};

fn default_lr() -> f64 {
    0.001
}
fn default_initial_accumulator() -> f64 {
    0.1
}
fn default_eps() -> f64 {
    1e-7
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdagradConfig {
    #[serde(default = "default_lr")]
    pub learning_rate: f64,
    #[serde(default = "default_initial_accumulator")]
    pub initial_accumulator_value: f64,
    #[serde(default = "default_eps")]
    pub epsilon: f64,
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
    /// A schedule in place of the constant `learning_rate`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub learning_rate_schedule: Option<super::LearningRateSchedule>,
}

impl Default for AdagradConfig {
    fn default() -> Self {
        AdagradConfig {
            learning_rate: default_lr(),
            initial_accumulator_value: default_initial_accumulator(),
            epsilon: default_eps(),
            clipnorm: None,
            clipvalue: None,
            global_clipnorm: None,
            weight_decay: None,
            learning_rate_schedule: None,
        }
    }
}

impl AdagradConfig {
    pub fn slot_names(&self) -> Vec<&'static str> {
        vec!["accumulator"]
    }

    /// One step at learning rate `lr`; `grad_sq` replaces `g²` for sparse gradients
    /// (TF adds the squared slices).
    pub(crate) fn step(
        &self,
        lr: f32,
        grad: &ArrayD<f32>,
        grad_sq: Option<&ArrayD<f32>>,
        var: &mut ArrayD<f32>,
        slots: &mut [ArrayD<f32>],
    ) {
        let eps = self.epsilon as f32;
        let acc = slots[0].as_slice_mut().expect("standard layout");
        let x = var.as_slice_mut().expect("standard layout");
        let g = grad.as_slice().expect("standard layout");
        let g2 = grad_sq.map(|s| s.as_slice().expect("standard layout"));
        let parts = super::parts(x.len());
        let jobs: Vec<_> = x
            .chunks_mut(super::PART)
            .zip(acc.chunks_mut(super::PART))
            .zip(g.chunks(super::PART))
            .zip(super::opt_chunks(g2, parts))
            .collect();
        super::for_each_part(jobs, |(((x, a), g), g2)| {
            for i in 0..x.len() {
                a[i] += g2.map_or(g[i] * g[i], |s| s[i]);
                x[i] -= lr * g[i] / (a[i] + eps).sqrt();
            }
        });
    }
}
