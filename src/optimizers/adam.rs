//! Keras 3 `Adam` (keras/src/optimizers/adam.py), step t = iterations + 1:
//! `alpha = lr*sqrt(1-beta_2^t)/(1-beta_1^t)`, `m += (g-m)*(1-beta_1)`,
//! `v += (g²-v)*(1-beta_2)`, (amsgrad: `v = v_hat = max(v_hat, v)`),
//! `var -= m*alpha / (sqrt(v) + eps)`.

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
pub struct AdamConfig {
    #[serde(default = "default_lr")]
    pub learning_rate: f64,
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
    /// Keras 3 decoupled weight decay: before each step `var -= var * weight_decay * lr`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight_decay: Option<f64>,
    /// A schedule in place of the constant `learning_rate` (which then holds its value
    /// at step 0). Written in a config as `learning_rate = { type = "...", ... }`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub learning_rate_schedule: Option<super::LearningRateSchedule>,
}

impl Default for AdamConfig {
    fn default() -> Self {
        AdamConfig {
            learning_rate: default_lr(),
            beta_1: default_beta_1(),
            beta_2: default_beta_2(),
            epsilon: default_eps(),
            amsgrad: false,
            clipnorm: None,
            clipvalue: None,
            global_clipnorm: None,
            weight_decay: None,
            learning_rate_schedule: None,
        }
    }
}

impl AdamConfig {
    pub fn slot_names(&self) -> Vec<&'static str> {
        if self.amsgrad {
            vec!["momentum", "velocity", "velocity_hat"]
        } else {
            vec!["momentum", "velocity"]
        }
    }

    /// `iterations` counts the steps already taken (Keras's `optimizer.iterations`).
    /// `grad_sq` replaces `g²` for sparse gradients (see `Param::grad_sq`).
    pub fn update(
        &self,
        iterations: u64,
        grad: &ArrayD<f32>,
        grad_sq: Option<&ArrayD<f32>>,
        var: &mut ArrayD<f32>,
        slots: &mut [ArrayD<f32>],
    ) {
        self.step(
            self.learning_rate as f32,
            iterations,
            grad,
            grad_sq,
            var,
            slots,
        )
    }

    /// `update` at the learning rate `lr` (a schedule's value at this step).
    pub(crate) fn step(
        &self,
        lr: f32,
        iterations: u64,
        grad: &ArrayD<f32>,
        grad_sq: Option<&ArrayD<f32>>,
        var: &mut ArrayD<f32>,
        slots: &mut [ArrayD<f32>],
    ) {
        // float32 throughout, as TF computes it.
        let step = (iterations + 1) as f32;
        let b1p = (self.beta_1 as f32).powf(step);
        let b2p = (self.beta_2 as f32).powf(step);
        let alpha = lr * (1.0 - b2p).sqrt() / (1.0 - b1p);
        let one_minus_b1 = (1.0 - self.beta_1) as f32;
        let one_minus_b2 = (1.0 - self.beta_2) as f32;
        let eps = self.epsilon as f32;
        let (m, rest) = slots.split_first_mut().expect("momentum slot");
        let (v, rest) = rest.split_first_mut().expect("velocity slot");
        let m = m.as_slice_mut().expect("standard layout");
        let v = v.as_slice_mut().expect("standard layout");
        let vhat = rest
            .first_mut()
            .map(|a| a.as_slice_mut().expect("standard layout"));
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
            .zip(super::opt_chunks_mut(vhat, parts))
            .collect();
        super::for_each_part(jobs, |(((((x, m), v), g), g2), mut vhat)| {
            if vhat.is_none() {
                return plain_step(x, m, v, g, g2, alpha, one_minus_b1, one_minus_b2, eps);
            }
            for i in 0..x.len() {
                m[i] += (g[i] - m[i]) * one_minus_b1;
                let gg = g2.map_or(g[i] * g[i], |s| s[i]);
                v[i] += (gg - v[i]) * one_minus_b2;
                let vi = match vhat.as_mut() {
                    Some(h) => {
                        h[i] = h[i].max(v[i]);
                        h[i]
                    }
                    None => v[i],
                };
                x[i] -= m[i] * alpha / (vi.sqrt() + eps);
            }
        });
    }
}

crate::simd_fn! {
    /// The update above without amsgrad (the Keras default), in branch-free loops that
    /// vectorise: the same operations per element in the same order (no fused
    /// multiply-adds, IEEE square root and division), so the same bits.
    fn plain_step(
        x: &mut [f32],
        m: &mut [f32],
        v: &mut [f32],
        g: &[f32],
        g2: Option<&[f32]>,
        alpha: f32,
        one_minus_b1: f32,
        one_minus_b2: f32,
        eps: f32,
    ) {
        let n = x.len();
        let (m, v, g) = (&mut m[..n], &mut v[..n], &g[..n]);
        for i in 0..n {
            m[i] += (g[i] - m[i]) * one_minus_b1;
        }
        match g2 {
            Some(s) => {
                let s = &s[..n];
                for i in 0..n {
                    v[i] += (s[i] - v[i]) * one_minus_b2;
                }
            }
            None => {
                for i in 0..n {
                    v[i] += (g[i] * g[i] - v[i]) * one_minus_b2;
                }
            }
        }
        for i in 0..n {
            x[i] -= m[i] * alpha / (v[i].sqrt() + eps);
        }
    }
}
