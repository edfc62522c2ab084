//! Element-wise pass of a SimpleRNN step: h_t = activation(pre-activation), and its
//! derivative expressed through the output (so forward needs to keep only h_t).
//!
//! The kernels know only the element-wise activations (`RowActivation`); the layer
//! converts its Keras `Activation` (layers call kernels, never the reverse).

use super::fast_math::{sigmoid_slice, tanh_slice};

/// The element-wise activations of a SimpleRNN step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RowActivation {
    Linear,
    Relu,
    Sigmoid,
    Tanh,
}

/// Forward: `pre` (u) becomes the activation in place.
#[inline(always)]
pub fn rnn_forward_row(activation: RowActivation, pre: &mut [f32]) {
    match activation {
        RowActivation::Tanh => tanh_slice(pre),
        RowActivation::Sigmoid => sigmoid_slice(pre),
        RowActivation::Relu => pre.iter_mut().for_each(|v| *v = v.max(0.0)),
        RowActivation::Linear => {}
    }
}

/// Backward: `dpre` = dh * activation'(pre), written from the output `h`.
#[inline(always)]
pub fn rnn_backward_row(activation: RowActivation, h: &[f32], dh: &[f32], dpre: &mut [f32]) {
    let it = dpre.iter_mut().zip(h.iter().zip(dh));
    match activation {
        RowActivation::Tanh => it.for_each(|(o, (&y, &d))| *o = d * (1.0 - y * y)),
        RowActivation::Sigmoid => it.for_each(|(o, (&y, &d))| *o = d * y * (1.0 - y)),
        RowActivation::Relu => it.for_each(|(o, (&y, &d))| *o = if y > 0.0 { d } else { 0.0 }),
        RowActivation::Linear => it.for_each(|(o, (_, &d))| *o = d),
    }
}
