//! Keras `TimeDistributed(layer)`: the wrapped layer applied to every time step of a
//! (batch, steps, ...) input with shared weights. Implemented for Dense and Dropout,
//! which already act on the last axis of any-rank input, so the wrapper only checks
//! the rank, fixes the shapes and delegates (Keras's math: kernel applied per step).
//! The mask passes through unchanged, as in Keras. Weights are named through the
//! wrapped layer as Keras's paths are (`time_distributed/dense/kernel`).

use ndarray::{Array2, ArrayD};

use super::config::{LayerConfig, TimeDistributedConfig};
use super::{Activation, ForwardContext, Layer, LayerInput, Param, Shape};
use crate::error::{Error, Result};
use crate::rng::SeededRng;

/// Per-time-step wrapper (Keras 3 `keras.layers.TimeDistributed`).
#[derive(Debug)]
pub struct TimeDistributed {
    name: String,
    inner_config: LayerConfig,
    inner: Box<dyn Layer>,
}

impl TimeDistributed {
    /// Wraps the Dense or Dropout layer `layer` describes.
    pub fn new(layer: LayerConfig) -> Result<Self> {
        Self::with_name(layer, None)
    }

    /// As `new`, with an explicit layer name (default `time_distributed`).
    pub fn with_name(layer: LayerConfig, name: Option<String>) -> Result<Self> {
        let name = name.unwrap_or_else(|| "time_distributed".to_string());
        if !matches!(layer, LayerConfig::Dense(_) | LayerConfig::Dropout(_)) {
            return Err(Error::Unsupported(format!(
                "TimeDistributed '{name}': wrapping {} is not implemented (only Dense and \
                 Dropout)",
                layer.to_layer()?.class_name()
            )));
        }
        let inner = layer.to_layer()?;
        Ok(TimeDistributed {
            name,
            inner_config: layer,
            inner,
        })
    }

    /// The wrapped layer.
    pub fn layer(&self) -> &dyn Layer {
        self.inner.as_ref()
    }

    /// Keras: the input needs a time axis, (batch, steps, ...).
    fn check_rank(&self, input_shape: &[Option<usize>]) -> Result<()> {
        if input_shape.len() < 2 {
            return Err(Error::Shape(format!(
                "layer '{}' (TimeDistributed) expects input with a time axis, (batch, steps, \
                 features), got {}",
                self.name,
                super::format_shape(input_shape)
            )));
        }
        Ok(())
    }
}

impl Layer for TimeDistributed {
    layer_names!("TimeDistributed", "time_distributed");

    fn input_shape_hint(&self) -> Option<Shape> {
        self.inner.input_shape_hint()
    }

    fn compute_output_shape(&self, input_shape: &[Option<usize>]) -> Result<Shape> {
        self.check_rank(input_shape)?;
        self.inner.compute_output_shape(input_shape)
    }

    fn build(&mut self, input_shape: &[Option<usize>], rng: &mut SeededRng) -> Result<()> {
        self.check_rank(input_shape)?;
        self.inner.build(input_shape, rng)?;
        // Keras's weight paths go through the wrapped layer: `time_distributed/dense/kernel`.
        let prefix = self.inner.name().to_string();
        for p in self.inner.params_mut() {
            p.name = super::bidirectional::intern(format!("{prefix}/{}", p.name));
        }
        Ok(())
    }

    fn is_built(&self) -> bool {
        self.inner.is_built()
    }

    fn forward(
        &mut self,
        input: LayerInput<'_>,
        ctx: &mut ForwardContext<'_>,
    ) -> Result<ArrayD<f32>> {
        if input.shape().len() < 3 {
            return Err(Error::Shape(format!(
                "layer '{}' (TimeDistributed) expects input (batch, steps, features), got \
                 shape {:?}",
                self.name,
                input.shape()
            )));
        }
        // Dense and Dropout act on the last axis: the inner layer sees this layer's
        // input, so its context (mask, token ids) as it is.
        self.inner.forward(input, ctx)
    }

    fn backward(&mut self, grad_output: ArrayD<f32>) -> Result<Option<ArrayD<f32>>> {
        self.inner.backward(grad_output)
    }

    fn backward_from_logits(&mut self, grad_logits: ArrayD<f32>) -> Result<Option<ArrayD<f32>>> {
        self.inner.backward_from_logits(grad_logits)
    }

    fn output_logits(&self) -> Option<(Activation, &ArrayD<f32>)> {
        self.inner.output_logits()
    }

    fn compute_mask(
        &self,
        _input: &LayerInput<'_>,
        input_mask: Option<&Array2<bool>>,
    ) -> Option<Array2<bool>> {
        input_mask.cloned()
    }

    fn params(&self) -> Vec<&Param> {
        self.inner.params()
    }
    fn params_mut(&mut self) -> Vec<&mut Param> {
        self.inner.params_mut()
    }

    fn config(&self) -> serde_json::Value {
        serde_json::to_value(LayerConfig::TimeDistributed(TimeDistributedConfig {
            name: Some(self.name.clone()),
            layer: Box::new(self.inner_config.clone()),
        }))
        .expect("configs serialise")
    }
}
