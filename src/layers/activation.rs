//! Element-wise activations by Keras name, applied over the last axis.

use ndarray::{ArrayD, Axis};
use serde::{Deserialize, Serialize};

use crate::kernels::RowActivation;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    #[default]
    Linear,
    Relu,
    Sigmoid,
    Tanh,
    /// Over the last axis.
    Softmax,
}

/// The SimpleRNN kernels' form of an element-wise activation. Softmax is not
/// element-wise: a SimpleRNN refuses it when configured (`SimpleRnnCell::validate`),
/// so it never reaches a kernel; it maps to linear, as the kernels treated it before
/// they had their own type.
impl From<Activation> for RowActivation {
    fn from(a: Activation) -> Self {
        match a {
            Activation::Linear | Activation::Softmax => RowActivation::Linear,
            Activation::Relu => RowActivation::Relu,
            Activation::Sigmoid => RowActivation::Sigmoid,
            Activation::Tanh => RowActivation::Tanh,
        }
    }
}

/// Numerically stable logistic function.
#[inline]
pub fn sigmoid(x: f32) -> f32 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

impl Activation {
    /// Keras name, as printed in configs.
    pub fn name(self) -> &'static str {
        match self {
            Activation::Linear => "linear",
            Activation::Relu => "relu",
            Activation::Sigmoid => "sigmoid",
            Activation::Tanh => "tanh",
            Activation::Softmax => "softmax",
        }
    }

    /// Apply in place.
    pub fn apply(self, x: &mut ArrayD<f32>) {
        match self {
            Activation::Linear => {}
            Activation::Relu => x.mapv_inplace(|v| v.max(0.0)),
            Activation::Sigmoid => x.mapv_inplace(sigmoid),
            Activation::Tanh => x.mapv_inplace(f32::tanh),
            Activation::Softmax => {
                let last = Axis(x.ndim() - 1);
                for mut row in x.lanes_mut(last) {
                    let max = row.fold(f32::NEG_INFINITY, |m, &v| m.max(v));
                    row.mapv_inplace(|v| (v - max).exp());
                    let sum = row.sum();
                    row.mapv_inplace(|v| v / sum);
                }
            }
        }
    }

    /// Gradient w.r.t. the pre-activation, given the activation's *output* `y` and the
    /// gradient w.r.t. the output `grad` (softmax uses the full Jacobian per row).
    pub fn backward(self, y: &ArrayD<f32>, grad: &ArrayD<f32>) -> ArrayD<f32> {
        match self {
            Activation::Linear => grad.clone(),
            Activation::Relu => ndarray::Zip::from(y)
                .and(grad)
                .map_collect(|&y, &g| if y > 0.0 { g } else { 0.0 }),
            Activation::Sigmoid => ndarray::Zip::from(y)
                .and(grad)
                .map_collect(|&y, &g| g * y * (1.0 - y)),
            Activation::Tanh => ndarray::Zip::from(y)
                .and(grad)
                .map_collect(|&y, &g| g * (1.0 - y * y)),
            Activation::Softmax => {
                let last = Axis(y.ndim() - 1);
                let mut out = grad.clone();
                for (mut o, yr) in out.lanes_mut(last).into_iter().zip(y.lanes(last)) {
                    let dot: f32 = o.iter().zip(yr.iter()).map(|(g, y)| g * y).sum();
                    o.zip_mut_with(&yr, |g, &y| *g = y * (*g - dot));
                }
                out
            }
        }
    }
}
