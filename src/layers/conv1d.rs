//! Keras `Conv1D` over (batch, steps, channels): kernel (kernel_size, in_channels,
//! filters), bias (filters), padding `valid` / `same` / `causal`, strides and
//! dilation_rate. Computed as im2col + one GEMM: each output step's receptive field is
//! a row of (kernel_size * in_channels) values, in the kernel's row order.
//!
//! Keras's Conv1D does not support masking: an incoming mask is dropped (Keras warns
//! and downstream layers see none), so `compute_mask` returns `None` here too.

use ndarray::{Array2, ArrayD, IxDyn};
use serde::{Deserialize, Serialize};

use super::config::{Conv1DConfig, LayerConfig};
use super::recurrent as rec;
use super::{Activation, ForwardContext, Layer, LayerInput, Param, Shape};
use crate::error::{Error, Result};
use crate::kernels::{MatMut, MatRef, matmul};
use crate::rng::SeededRng;

/// Keras `padding` of Conv1D and the 1D pooling layers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Padding {
    /// No padding: only windows that fit inside the sequence.
    #[default]
    Valid,
    /// Zero padding (TensorFlow `SAME`: the odd extra step goes on the right) so that
    /// the output has ceil(steps / strides) steps.
    Same,
    /// Conv1D only: `dilation_rate * (kernel_size - 1)` zeros on the left, so output
    /// step t sees no input after t.
    Causal,
}

impl Padding {
    pub fn name(self) -> &'static str {
        match self {
            Padding::Valid => "valid",
            Padding::Same => "same",
            Padding::Causal => "causal",
        }
    }
}

/// Where a sliding window of `size` taps (`dilation` apart, moving by `stride`) sits:
/// output length and the zero (or -inf) padding before the first input step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Window {
    pub size: usize,
    pub stride: usize,
    pub dilation: usize,
    pub pad_left: usize,
    pub steps_in: usize,
    pub steps_out: usize,
}

impl Window {
    /// Keras's `compute_conv_output_shape` / `compute_pooling_output_shape` rules;
    /// an error when no window fits (Keras: "output size would be zero or negative").
    pub fn new(
        layer: &str,
        steps_in: usize,
        size: usize,
        stride: usize,
        dilation: usize,
        padding: Padding,
    ) -> Result<Self> {
        let span = dilation * (size - 1) + 1;
        let (steps_out, pad_left) = match padding {
            Padding::Valid => {
                if steps_in < span {
                    return Err(Error::Shape(format!(
                        "layer '{layer}': a window spanning {span} steps does not fit in \
                         {steps_in} input steps with padding='valid' (the output would have \
                         no steps)"
                    )));
                }
                ((steps_in - span) / stride + 1, 0)
            }
            Padding::Same => {
                let out = steps_in.div_ceil(stride);
                let total = ((out.max(1) - 1) * stride + span).saturating_sub(steps_in);
                (out, total / 2)
            }
            Padding::Causal => (steps_in.div_ceil(stride), dilation * (size - 1)),
        };
        if steps_out == 0 {
            return Err(Error::Shape(format!(
                "layer '{layer}' got sequences with 0 time steps"
            )));
        }
        Ok(Window {
            size,
            stride,
            dilation,
            pad_left,
            steps_in,
            steps_out,
        })
    }

    /// The input step read by tap `j` of output step `p`, if inside the sequence.
    #[inline]
    pub fn source(&self, p: usize, j: usize) -> Option<usize> {
        (p * self.stride + j * self.dilation)
            .checked_sub(self.pad_left)
            .filter(|&s| s < self.steps_in)
    }

    /// Output length for an input length that may be unknown.
    pub fn output_steps(
        layer: &str,
        steps_in: Option<usize>,
        size: usize,
        stride: usize,
        dilation: usize,
        padding: Padding,
    ) -> Result<Option<usize>> {
        steps_in
            .map(|s| Window::new(layer, s, size, stride, dilation, padding).map(|w| w.steps_out))
            .transpose()
    }
}

/// 1D convolution layer (Keras 3 `keras.layers.Conv1D`).
#[derive(Clone, Debug)]
pub struct Conv1D {
    config: Conv1DConfig,
    name: String,
    in_channels: usize,
    /// `kernel` (kernel_size, in_channels, filters), then `bias` (filters) if `use_bias`.
    params: Vec<Param>,
    cache: Option<Cache>,
    /// Pre-activation of the last forward (training or not), kept for sigmoid/softmax
    /// only: Keras's cross-entropy losses use these logits (`Layer::output_logits`).
    logits: Option<ArrayD<f32>>,
}

/// What `backward` needs from the last training forward.
#[derive(Clone, Debug)]
struct Cache {
    batch: usize,
    window: Window,
    /// im2col rows (batch * steps_out, kernel_size * in_channels).
    cols: Vec<f32>,
    /// Output after the activation, (batch, steps_out, filters).
    y: ArrayD<f32>,
}

impl Conv1D {
    /// `Conv1D(filters, kernel_size)` with Keras's defaults.
    pub fn new(filters: usize, kernel_size: usize) -> Result<Self> {
        Self::from_config(Conv1DConfig::new(filters, kernel_size))
    }

    /// From a (deserialised) config, checking every argument.
    pub fn from_config(config: Conv1DConfig) -> Result<Self> {
        let name = config.name.clone().unwrap_or_else(|| "conv1d".to_string());
        let layer = Conv1D {
            config,
            name,
            in_channels: 0,
            params: Vec::new(),
            cache: None,
            logits: None,
        };
        layer.validate()?;
        Ok(layer)
    }

    pub fn settings(&self) -> &Conv1DConfig {
        &self.config
    }

    fn validate(&self) -> Result<()> {
        let c = &self.config;
        let ctx = format!("Conv1D '{}'", self.name);
        for (arg, v) in [
            ("filters", c.filters),
            ("kernel_size", c.kernel_size),
            ("strides", c.strides),
            ("dilation_rate", c.dilation_rate),
        ] {
            if v == 0 {
                return Err(Error::invalid_argument(
                    &ctx,
                    arg,
                    "must be a positive integer, got 0",
                ));
            }
        }
        if c.strides > 1 && c.dilation_rate > 1 {
            return Err(Error::invalid_argument(
                &ctx,
                "strides",
                format!(
                    "strides > 1 cannot be combined with dilation_rate > 1 (as in Keras), got \
                     strides={} and dilation_rate={}",
                    c.strides, c.dilation_rate
                ),
            ));
        }
        super::global_pooling::check_data_format(&c.data_format, "Conv1D", &self.name)
    }

    fn window(&self, steps: usize) -> Result<Window> {
        let c = &self.config;
        Window::new(
            &self.name,
            steps,
            c.kernel_size,
            c.strides,
            c.dilation_rate,
            c.padding,
        )
    }
}

impl Layer for Conv1D {
    layer_names!("Conv1D", "conv1d", config);

    fn input_shape_hint(&self) -> Option<Shape> {
        self.config.input_shape.clone()
    }

    fn compute_output_shape(&self, input_shape: &[Option<usize>]) -> Result<Shape> {
        let c = &self.config;
        match input_shape {
            [steps, Some(ch)] if *ch > 0 => Ok(vec![
                Window::output_steps(
                    &self.name,
                    *steps,
                    c.kernel_size,
                    c.strides,
                    c.dilation_rate,
                    c.padding,
                )?,
                Some(c.filters),
            ]),
            _ => Err(Error::Shape(format!(
                "layer '{}' (Conv1D) expects input (batch, steps, channels) with a known \
                 channel count, got {}",
                self.name,
                rec::show_shape(input_shape)
            ))),
        }
    }

    fn build(&mut self, input_shape: &[Option<usize>], rng: &mut SeededRng) -> Result<()> {
        self.validate()?;
        if self.is_built() {
            return Err(rec::already_built(&self.name));
        }
        self.compute_output_shape(input_shape)?;
        let ch = input_shape[1].expect("checked by compute_output_shape");
        let c = &self.config;
        let layer = format!("Conv1D '{}'", self.name);
        let shape = [c.kernel_size, ch, c.filters];
        let kernel = (c.kernel_initializer).init_for(&layer, "kernel_initializer", &shape, rng)?;
        let mut params = vec![Param::new("kernel", kernel)];
        if c.use_bias {
            let bias =
                (c.bias_initializer).init_for(&layer, "bias_initializer", &[c.filters], rng)?;
            params.push(Param::new("bias", bias));
        }
        self.params = params;
        self.in_channels = ch;
        Ok(())
    }

    fn forward(
        &mut self,
        input: LayerInput<'_>,
        ctx: &mut ForwardContext<'_>,
    ) -> Result<ArrayD<f32>> {
        self.cache = None;
        self.logits = None;
        if !self.is_built() {
            return Err(rec::not_built(&self.name));
        }
        let ch = self.in_channels;
        let x = input.floats_3d(&self.name, "Conv1D", Some(ch))?;
        let (batch, steps) = (x.shape()[0], x.shape()[1]);
        let win = self.window(steps)?;
        let x = x.as_standard_layout();
        let xs = x.as_slice().expect("standard layout");
        let (k, f) = (self.config.kernel_size, self.config.filters);
        let row = k * ch;
        let rows = batch * win.steps_out;
        let mut cols = vec![0.0f32; rows * row];
        for (b, sample) in cols.chunks_mut(win.steps_out * row).enumerate() {
            let xb = &xs[b * steps * ch..(b + 1) * steps * ch];
            for (p, r) in sample.chunks_mut(row).enumerate() {
                for j in 0..k {
                    if let Some(s) = win.source(p, j) {
                        r[j * ch..(j + 1) * ch].copy_from_slice(&xb[s * ch..(s + 1) * ch]);
                    }
                }
            }
        }
        let kernel = rec::values(&self.name, &self.params[0])?;
        let bias = match self.params.get(1) {
            Some(p) => Some(rec::values(&self.name, p)?),
            None => None,
        };
        let mut z = Vec::new();
        rec::project_inputs(&cols, rows, row, kernel, f, bias, &[], &mut z);
        let mut y =
            ArrayD::from_shape_vec(IxDyn(&[batch, win.steps_out, f]), z).expect("rows * filters");
        let act = self.config.activation;
        self.logits = matches!(act, Activation::Sigmoid | Activation::Softmax).then(|| y.clone());
        act.apply(&mut y);
        if ctx.training {
            self.cache = Some(Cache {
                batch,
                window: win,
                cols,
                y: y.clone(),
            });
        }
        Ok(y)
    }

    fn backward(&mut self, grad_output: ArrayD<f32>) -> Result<Option<ArrayD<f32>>> {
        let cache = self.checked_cache(&grad_output)?;
        let dz = self.config.activation.backward(&cache.y, &grad_output);
        self.backward_pre_activation(dz)
    }

    fn output_logits(&self) -> Option<(Activation, &ArrayD<f32>)> {
        Some((self.config.activation, self.logits.as_ref()?))
    }

    fn backward_from_logits(&mut self, grad_logits: ArrayD<f32>) -> Result<Option<ArrayD<f32>>> {
        self.checked_cache(&grad_logits)?;
        self.backward_pre_activation(grad_logits)
    }

    // Keras's Conv1D does not support masking and drops the mask.
    drops_mask!();

    params_field!();

    named_config!(LayerConfig::Conv1D);
}

impl Conv1D {
    /// The cache of the last training forward, checked against a gradient's shape.
    fn checked_cache(&self, grad: &ArrayD<f32>) -> Result<&Cache> {
        let cache = rec::cached(&self.cache, &self.name)?;
        if grad.shape() != cache.y.shape() {
            return Err(Error::Shape(format!(
                "layer '{}': output gradient has shape {:?}, expected {:?}",
                self.name,
                grad.shape(),
                cache.y.shape()
            )));
        }
        Ok(cache)
    }

    /// Backward from dL/d(pre-activation) `dz`: writes the weight gradients and returns
    /// the input gradient (col2im of dz · kernel^T).
    fn backward_pre_activation(&mut self, dz: ArrayD<f32>) -> Result<Option<ArrayD<f32>>> {
        let cache = rec::cached(&self.cache, &self.name)?;
        let (k, f, ch) = (
            self.config.kernel_size,
            self.config.filters,
            self.in_channels,
        );
        let win = cache.window;
        let row = k * ch;
        let rows = cache.batch * win.steps_out;
        let dz = dz.as_standard_layout();
        let dz = dz.as_slice().expect("standard layout");
        let mut dcols = vec![0.0f32; rows * row];
        {
            let kernel = rec::values(&self.name, &self.params[0])?;
            matmul(
                MatRef::new(dz, rows, f),
                MatRef::new(kernel, row, f).t(),
                0.0,
                MatMut::new(&mut dcols, rows, row),
            );
        }
        let (kp, bp) = self.params.split_at_mut(1);
        let kg = rec::grads_mut(&self.name, &mut kp[0])?;
        rec::weight_grad(
            &cache.cols,
            row,
            row,
            dz,
            f,
            f,
            rows,
            MatMut::new(kg, row, f),
        );
        if let Some(b) = bp.first_mut() {
            rec::bias_grad(dz, rows, f, rec::grads_mut(&self.name, b)?);
        }
        // col2im: each receptive-field entry adds back onto the input step it read.
        let steps = win.steps_in;
        let mut dx = vec![0.0f32; cache.batch * steps * ch];
        for (b, sample) in dcols.chunks(win.steps_out * row).enumerate() {
            let db = &mut dx[b * steps * ch..(b + 1) * steps * ch];
            for (p, r) in sample.chunks(row).enumerate() {
                for j in 0..k {
                    if let Some(s) = win.source(p, j) {
                        db[s * ch..(s + 1) * ch]
                            .iter_mut()
                            .zip(&r[j * ch..(j + 1) * ch])
                            .for_each(|(d, g)| *d += g);
                    }
                }
            }
        }
        Ok(Some(
            ArrayD::from_shape_vec(IxDyn(&[cache.batch, steps, ch]), dx)
                .expect("batch * steps * channels"),
        ))
    }
}
