//! Element-wise pass of a SimpleRNN step: h_t = activation(pre-activation), and its
//! derivative expressed through the output (so forward needs to keep only h_t).

use super::fast_math::{sigmoid_slice, tanh_slice};
use crate::layers::activation::Activation;

/// Forward: `pre` (u) becomes the activation in place. Softmax is not element-wise
/// and is rejected when the layer is configured; here it falls back to linear.
#[inline(always)]
pub fn rnn_forward_row(activation: Activation, pre: &mut [f32]) {
    match activation {
        Activation::Tanh => tanh_slice(pre),
        Activation::Sigmoid => sigmoid_slice(pre),
        Activation::Relu => pre.iter_mut().for_each(|v| *v = v.max(0.0)),
        Activation::Linear | Activation::Softmax => {}
    }
}

/// Backward: `dpre` = dh * activation'(pre), written from the output `h`.
#[inline(always)]
pub fn rnn_backward_row(activation: Activation, h: &[f32], dh: &[f32], dpre: &mut [f32]) {
    let it = dpre.iter_mut().zip(h.iter().zip(dh));
    match activation {
        Activation::Tanh => it.for_each(|(o, (&y, &d))| *o = d * (1.0 - y * y)),
        Activation::Sigmoid => it.for_each(|(o, (&y, &d))| *o = d * y * (1.0 - y)),
        Activation::Relu => it.for_each(|(o, (&y, &d))| *o = if y > 0.0 { d } else { 0.0 }),
        Activation::Linear | Activation::Softmax => it.for_each(|(o, (_, &d))| *o = d),
    }
}
