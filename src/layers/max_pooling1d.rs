//! Keras `MaxPooling1D`: the maximum of each feature over windows of `pool_size` steps,
//! moving by `strides` (default `pool_size`). `padding="same"` pads as TensorFlow does
//! (the odd extra step on the right), with padded steps never chosen.
//!
//! The gradient goes to the first maximum of each window (TensorFlow's MaxPoolGrad);
//! overlapping windows add up. Keras's pooling layers do not support masking: an
//! incoming mask is dropped, so `compute_mask` returns `None`.

use ndarray::{Array2, ArrayD, IxDyn};

use super::config::{LayerConfig, MaxPooling1DConfig};
use super::conv1d::{Padding, Window};
use super::recurrent as rec;
use super::{ForwardContext, Layer, LayerInput, Shape};
use crate::error::{Error, Result};
use crate::rng::SeededRng;

/// 1D max pooling layer (Keras 3 `keras.layers.MaxPooling1D`).
#[derive(Clone, Debug)]
pub struct MaxPooling1D {
    config: MaxPooling1DConfig,
    name: String,
    built: bool,
    /// Last training forward: input shape and, per output value, the flat input index
    /// of the maximum it took.
    cache: Option<(Vec<usize>, Vec<usize>)>,
}

impl MaxPooling1D {
    /// `MaxPooling1D(pool_size)` with strides = pool_size and padding "valid".
    pub fn new(pool_size: usize) -> Result<Self> {
        Self::from_config(MaxPooling1DConfig {
            pool_size,
            ..MaxPooling1DConfig::default()
        })
    }

    /// From a (deserialised) config, checking every argument.
    pub fn from_config(config: MaxPooling1DConfig) -> Result<Self> {
        let name = config
            .name
            .clone()
            .unwrap_or_else(|| "max_pooling1d".to_string());
        let ctx = format!("MaxPooling1D '{name}'");
        if config.pool_size == 0 {
            return Err(Error::invalid_argument(
                &ctx,
                "pool_size",
                "must be a positive integer, got 0",
            ));
        }
        if config.strides == Some(0) {
            return Err(Error::invalid_argument(
                &ctx,
                "strides",
                "must be a positive integer, got 0",
            ));
        }
        if config.padding == Padding::Causal {
            return Err(Error::invalid_argument(
                &ctx,
                "padding",
                "must be 'valid' or 'same' ('causal' is for Conv1D only)",
            ));
        }
        super::global_pooling::check_data_format(&config.data_format, "MaxPooling1D", &name)?;
        Ok(MaxPooling1D {
            config,
            name,
            built: false,
            cache: None,
        })
    }

    pub fn settings(&self) -> &MaxPooling1DConfig {
        &self.config
    }

    fn strides(&self) -> usize {
        self.config.strides.unwrap_or(self.config.pool_size)
    }
}

impl Layer for MaxPooling1D {
    layer_names!("MaxPooling1D", "max_pooling1d", config);

    fn compute_output_shape(&self, input_shape: &[Option<usize>]) -> Result<Shape> {
        match input_shape {
            [steps, features] => Ok(vec![
                Window::output_steps(
                    &self.name,
                    *steps,
                    self.config.pool_size,
                    self.strides(),
                    1,
                    self.config.padding,
                )?,
                *features,
            ]),
            _ => Err(Error::Shape(format!(
                "layer '{}' (MaxPooling1D) expects input of shape (batch, steps, features), \
                 got {}",
                self.name,
                rec::show_shape(input_shape)
            ))),
        }
    }

    fn build(&mut self, input_shape: &[Option<usize>], _rng: &mut SeededRng) -> Result<()> {
        self.compute_output_shape(input_shape)?;
        self.built = true;
        Ok(())
    }

    fn is_built(&self) -> bool {
        self.built
    }

    fn forward(
        &mut self,
        input: LayerInput<'_>,
        ctx: &mut ForwardContext<'_>,
    ) -> Result<ArrayD<f32>> {
        self.cache = None;
        let x = input.floats_3d(&self.name, "MaxPooling1D", None)?;
        let (batch, steps, f) = (x.shape()[0], x.shape()[1], x.shape()[2]);
        let win = Window::new(
            &self.name,
            steps,
            self.config.pool_size,
            self.strides(),
            1,
            self.config.padding,
        )?;
        let x = x.as_standard_layout();
        let xs = x.as_slice().expect("standard layout");
        let n_out = batch * win.steps_out * f;
        let mut y = vec![0.0f32; n_out];
        let mut arg = vec![0usize; n_out];
        for b in 0..batch {
            for p in 0..win.steps_out {
                let o = (b * win.steps_out + p) * f;
                let (yo, ao) = (&mut y[o..o + f], &mut arg[o..o + f]);
                // Every window holds at least one real step (padding < pool_size).
                let mut first = true;
                for j in 0..win.size {
                    let Some(s) = win.source(p, j) else { continue };
                    let i0 = (b * steps + s) * f;
                    for (c, (yv, av)) in yo.iter_mut().zip(ao.iter_mut()).enumerate() {
                        let v = xs[i0 + c];
                        // Strictly greater: the first maximum wins; NaN propagates.
                        if first || v > *yv || (v.is_nan() && !yv.is_nan()) {
                            *yv = v;
                            *av = i0 + c;
                        }
                    }
                    first = false;
                }
            }
        }
        if ctx.training {
            self.cache = Some((vec![batch, steps, f], arg));
        }
        Ok(ArrayD::from_shape_vec(IxDyn(&[batch, win.steps_out, f]), y).expect("output size"))
    }

    fn backward(&mut self, grad_output: ArrayD<f32>) -> Result<Option<ArrayD<f32>>> {
        let (shape, arg) = rec::cached(&self.cache, &self.name)?;
        if grad_output.len() != arg.len() || grad_output.ndim() != 3 {
            return Err(Error::Shape(format!(
                "layer '{}': output gradient has shape {:?}, expected {} values in 3-D",
                self.name,
                grad_output.shape(),
                arg.len()
            )));
        }
        let mut dx = vec![0.0f32; shape.iter().product()];
        for (&i, &g) in arg.iter().zip(grad_output.iter()) {
            dx[i] += g;
        }
        Ok(Some(
            ArrayD::from_shape_vec(IxDyn(shape), dx).expect("input size"),
        ))
    }

    // Keras's pooling layers do not support masking and drop the mask.
    drops_mask!();

    named_config!(LayerConfig::MaxPooling1D);
}
