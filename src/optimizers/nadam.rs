//! Keras 3 `Nadam` (keras/src/optimizers/nadam.py), step t = iterations + 1, in float32:
//! `u_t = beta_1*(1 - 0.5*0.96^t)`, `u_{t+1} = beta_1*(1 - 0.5*0.96^(t+1))`,
//! `u_product_t = prod_{s<=t} u_s` (one value per optimizer, advanced once per step
//! before the variables are updated), `m += (g-m)*(1-beta_1)`, `v += (g²-v)*(1-beta_2)`,
//! `m_hat = u_{t+1}*m/(1 - u_product_t*u_{t+1}) + (1-u_t)*g/(1 - u_product_t)`,
//! `v_hat = v/(1 - beta_2^t)`, `var -= m_hat*lr / (sqrt(v_hat) + eps)`.

use ndarray::ArrayD;
use serde::{Deserialize, Serialize};

fn default_lr() -> f64 {
    0.001
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
pub struct NadamConfig {
    #[serde(default = "default_lr")]
    pub learning_rate: f64,
    #[serde(default = "default_beta_1")]
    pub beta_1: f64,
    #[serde(default = "default_beta_2")]
    pub beta_2: f64,
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

impl Default for NadamConfig {
    fn default() -> Self {
        NadamConfig {
            learning_rate: default_lr(),
            beta_1: default_beta_1(),
            beta_2: default_beta_2(),
            epsilon: default_eps(),
            clipnorm: None,
            clipvalue: None,
            global_clipnorm: None,
            weight_decay: None,
            learning_rate_schedule: None,
        }
    }
}

impl NadamConfig {
    pub fn slot_names(&self) -> Vec<&'static str> {
        vec!["momentum", "velocity"]
    }

    /// `u_product` after `steps` steps (1 before the first), as Keras advances it.
    pub(crate) fn u_product(&self, steps: u64) -> f32 {
        let beta_1 = self.beta_1 as f32;
        let mut u = 1.0f32;
        for t in 1..=steps {
            u = Self::advance(u, beta_1, t);
        }
        u
    }

    /// One advance of `u_product` at step `t` (Keras's `_backend_update_step`).
    pub(crate) fn advance(u_product: f32, beta_1: f32, t: u64) -> f32 {
        u_product * beta_1 * (1.0 - 0.5 * 0.96f32.powf(t as f32))
    }

    /// One step at learning rate `lr`; `u_product` is the value already advanced to
    /// this step; `iterations` counts the steps taken before it.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn step(
        &self,
        lr: f32,
        iterations: u64,
        u_product: f32,
        grad: &ArrayD<f32>,
        grad_sq: Option<&ArrayD<f32>>,
        var: &mut ArrayD<f32>,
        slots: &mut [ArrayD<f32>],
    ) {
        let local_step = (iterations + 1) as f32;
        let next_step = (iterations + 2) as f32;
        let (beta_1, beta_2) = (self.beta_1 as f32, self.beta_2 as f32);
        let u_t = beta_1 * (1.0 - 0.5 * 0.96f32.powf(local_step));
        let u_t_1 = beta_1 * (1.0 - 0.5 * 0.96f32.powf(next_step));
        let u_product_t_1 = u_product * u_t_1;
        let beta_2_power = beta_2.powf(local_step);
        // Nadam casts the betas to float32 first, so `1 - beta` is a float32 difference
        // (Adam's is a Python double cast afterwards).
        let (omb1, omb2) = (1.0 - beta_1, 1.0 - beta_2);
        let eps = self.epsilon as f32;
        let (m, rest) = slots.split_first_mut().expect("momentum slot");
        let v = &mut rest[0];
        let m = m.as_slice_mut().expect("standard layout");
        let v = v.as_slice_mut().expect("standard layout");
        let x = var.as_slice_mut().expect("standard layout");
        let g = grad.as_slice().expect("standard layout");
        let g2 = grad_sq.map(|s| s.as_slice().expect("standard layout"));
        let parts = super::parts(x.len());
        let jobs: Vec<_> = x
            .chunks_mut(super::PART)
            .zip(m.chunks_mut(super::PART))
            .zip(v.chunks_mut(super::PART))
            .zip(g.chunks(super::PART))
            .zip(super::opt_chunks(g2, parts))
            .collect();
        super::for_each_part(jobs, |((((x, m), v), g), g2)| {
            for i in 0..x.len() {
                m[i] += (g[i] - m[i]) * omb1;
                v[i] += (g2.map_or(g[i] * g[i], |s| s[i]) - v[i]) * omb2;
                let m_hat =
                    u_t_1 * m[i] / (1.0 - u_product_t_1) + (1.0 - u_t) * g[i] / (1.0 - u_product);
                let v_hat = v[i] / (1.0 - beta_2_power);
                x[i] -= m_hat * lr / (v_hat.sqrt() + eps);
            }
        });
    }
}
