//! `Dense`: `activation(x @ kernel + bias)` over the last axis, so it works on 2-D
//! (batch, features) and 3-D (batch, time, features) input alike, as in Keras.

use ndarray::{Array2, ArrayD, Axis, Ix2, IxDyn};

use super::config::DenseConfig;
use super::{Activation, ForwardContext, Initializer, Layer, LayerInput, Param, Shape};
use crate::error::{Error, Result};
use crate::rng::SeededRng;

#[derive(Debug, Clone)]
pub struct Dense {
    name: String,
    units: usize,
    activation: Activation,
    use_bias: bool,
    kernel_initializer: Initializer,
    bias_initializer: Initializer,
    input_shape: Option<Shape>,
    /// `kernel` (in, units), then `bias` (units) when `use_bias`.
    params: Vec<Param>,
    /// Input of the last training forward, flattened to (rows, in).
    cache_input: Option<Array2<f32>>,
    /// Output (post-activation) of the last forward, flattened to (rows, units).
    cache_output: Option<Array2<f32>>,
    /// Pre-activation of the last forward, in the output's full shape; kept only for
    /// sigmoid/softmax, whose loss Keras computes from logits.
    cache_logits: Option<ArrayD<f32>>,
    /// Full shape of the last input, to shape the input gradient.
    last_input_shape: Vec<usize>,
}

impl Dense {
    /// A Dense layer with Keras defaults: linear activation, bias, glorot_uniform kernel.
    pub fn new(units: usize) -> Self {
        Dense {
            name: "dense".to_string(),
            units,
            activation: Activation::Linear,
            use_bias: true,
            kernel_initializer: Initializer::GlorotUniform,
            bias_initializer: Initializer::Zeros,
            input_shape: None,
            params: Vec::new(),
            cache_input: None,
            cache_output: None,
            cache_logits: None,
            last_input_shape: Vec::new(),
        }
    }

    pub fn activation(mut self, activation: Activation) -> Self {
        self.activation = activation;
        self
    }

    pub fn use_bias(mut self, use_bias: bool) -> Self {
        self.use_bias = use_bias;
        self
    }

    pub fn kernel_initializer(mut self, init: Initializer) -> Self {
        self.kernel_initializer = init;
        self
    }

    pub fn bias_initializer(mut self, init: Initializer) -> Self {
        self.bias_initializer = init;
        self
    }

    /// Input shape without the batch axis, when this is the model's first layer.
    pub fn input_shape(mut self, shape: Shape) -> Self {
        self.input_shape = Some(shape);
        self
    }

    /// Explicit name instead of the model's `dense`, `dense_1`, ...
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    pub fn from_config(c: &DenseConfig) -> Result<Self> {
        if c.units == 0 {
            return Err(Error::invalid_argument(
                "Dense",
                "units",
                "must be a positive integer, got 0",
            ));
        }
        let mut d = Dense::new(c.units)
            .activation(c.activation)
            .use_bias(c.use_bias)
            .kernel_initializer(c.kernel_initializer.clone())
            .bias_initializer(c.bias_initializer.clone());
        d.input_shape = c.input_shape.clone();
        if let Some(n) = &c.name {
            d.name = n.clone();
        }
        Ok(d)
    }

    pub fn units(&self) -> usize {
        self.units
    }

    pub fn get_activation(&self) -> Activation {
        self.activation
    }

    fn kernel(&self) -> Result<&Param> {
        self.params
            .first()
            .ok_or_else(|| Error::State(format!("layer `{}` is used before build", self.name)))
    }

    /// Gradient w.r.t. the pre-activation -> parameter gradients and input gradient.
    fn backward_pre(&mut self, g_pre: Array2<f32>) -> Result<Option<ArrayD<f32>>> {
        let x = self.cache_input.as_ref().ok_or_else(|| {
            Error::State(format!(
                "layer `{}`: backward called without a training forward",
                self.name
            ))
        })?;
        let kgrad = x.t().dot(&g_pre);
        let bgrad = g_pre.sum_axis(Axis(0));
        let kernel = self.params[0]
            .value
            .view()
            .into_dimensionality::<Ix2>()
            .expect("kernel is 2-D");
        let dx = g_pre.dot(&kernel.t());
        self.params[0].grad = kgrad.into_dyn();
        if self.use_bias {
            self.params[1].grad = bgrad.into_dyn();
        }
        Ok(Some(reshape(dx, &self.last_input_shape)))
    }
}

impl Layer for Dense {
    layer_names!("Dense", "dense");

    fn compute_output_shape(&self, input_shape: &[Option<usize>]) -> Result<Shape> {
        match input_shape.last() {
            None => Err(Error::Shape(format!(
                "layer `{}` (Dense) needs input with at least one feature axis, got shape {}",
                self.name,
                crate::layers::format_shape(input_shape)
            ))),
            Some(None) => Err(Error::Shape(format!(
                "layer `{}` (Dense) needs a known last input dimension, got shape {}",
                self.name,
                crate::layers::format_shape(input_shape)
            ))),
            Some(Some(_)) => {
                let mut out = input_shape.to_vec();
                *out.last_mut().expect("non-empty") = Some(self.units);
                Ok(out)
            }
        }
    }

    fn build(&mut self, input_shape: &[Option<usize>], rng: &mut SeededRng) -> Result<()> {
        self.compute_output_shape(input_shape)?;
        let in_dim = input_shape
            .last()
            .copied()
            .flatten()
            .expect("checked above");
        let mut params = vec![Param::new(
            "kernel",
            self.kernel_initializer.init(&[in_dim, self.units], rng),
        )];
        if self.use_bias {
            params.push(Param::new(
                "bias",
                self.bias_initializer.init(&[self.units], rng),
            ));
        }
        self.params = params;
        Ok(())
    }

    fn forward(
        &mut self,
        input: LayerInput<'_>,
        ctx: &mut ForwardContext<'_>,
    ) -> Result<ArrayD<f32>> {
        let x = input.into_floats(
            &format!("`{}` (Dense)", self.name),
            "; put an Embedding layer first or pass floats",
        )?;
        let kernel = self.kernel()?;
        let in_dim = kernel.value.shape()[0];
        if x.ndim() < 2 || x.shape()[x.ndim() - 1] != in_dim {
            return Err(Error::Shape(format!(
                "layer `{}` (Dense) expects input (batch, ..., {in_dim}), got {:?}",
                self.name,
                x.shape()
            )));
        }
        let rows = x.len() / in_dim;
        let x2 = x
            .as_standard_layout()
            .into_owned()
            .into_shape_with_order((rows, in_dim))
            .expect("size matches");
        let k = kernel
            .value
            .view()
            .into_dimensionality::<Ix2>()
            .expect("kernel is 2-D");
        let mut z = x2.dot(&k);
        if self.use_bias {
            z += &self.params[1].value.view();
        }
        let mut out_shape = x.shape().to_vec();
        *out_shape.last_mut().expect("ndim >= 2") = self.units;
        let keep_logits = matches!(self.activation, Activation::Sigmoid | Activation::Softmax);
        self.cache_logits = if keep_logits {
            Some(reshape(z.clone(), &out_shape))
        } else {
            None
        };
        let mut y = z.into_dyn();
        self.activation.apply(&mut y);
        let y2 = y
            .into_dimensionality::<Ix2>()
            .expect("2-D before reshaping");
        if ctx.training {
            self.cache_input = Some(x2);
            self.cache_output = Some(y2.clone());
            self.last_input_shape = x.shape().to_vec();
        } else {
            self.cache_input = None;
            self.cache_output = None;
        }
        Ok(reshape(y2, &out_shape))
    }

    fn backward(&mut self, grad_output: ArrayD<f32>) -> Result<Option<ArrayD<f32>>> {
        let y = self.cache_output.as_ref().ok_or_else(|| {
            Error::State(format!(
                "layer `{}`: backward called without a training forward",
                self.name
            ))
        })?;
        let g = grad_output
            .as_standard_layout()
            .into_owned()
            .into_shape_with_order(y.raw_dim())
            .map_err(|_| {
                Error::Shape(format!(
                    "layer `{}`: output gradient has {} values, expected {}",
                    self.name,
                    grad_output.len(),
                    y.len()
                ))
            })?;
        let g_pre = self
            .activation
            .backward(&y.clone().into_dyn(), &g.into_dyn())
            .into_dimensionality::<Ix2>()
            .expect("2-D");
        self.backward_pre(g_pre)
    }

    fn params(&self) -> Vec<&Param> {
        self.params.iter().collect()
    }
    fn params_mut(&mut self) -> Vec<&mut Param> {
        self.params.iter_mut().collect()
    }

    fn config(&self) -> serde_json::Value {
        serde_json::json!({
            "type": "dense",
            "name": self.name,
            "units": self.units,
            "activation": self.activation,
            "use_bias": self.use_bias,
            "kernel_initializer": self.kernel_initializer,
            "bias_initializer": self.bias_initializer,
            "input_shape": self.input_shape,
        })
    }

    fn input_shape_hint(&self) -> Option<Shape> {
        self.input_shape.clone()
    }

    fn output_logits(&self) -> Option<(Activation, &ArrayD<f32>)> {
        self.cache_logits.as_ref().map(|z| (self.activation, z))
    }

    fn backward_from_logits(&mut self, grad_logits: ArrayD<f32>) -> Result<Option<ArrayD<f32>>> {
        let rows = grad_logits.len() / self.units.max(1);
        let g = grad_logits
            .as_standard_layout()
            .into_owned()
            .into_shape_with_order((rows, self.units))
            .map_err(|_| {
                Error::Shape(format!(
                    "layer `{}`: logits gradient has shape {:?}, expected last axis {}",
                    self.name,
                    grad_logits.shape(),
                    self.units
                ))
            })?;
        self.backward_pre(g)
    }
}

/// Reshape a (rows, cols) product to `shape` (same element count); matrix products
/// may come back in column-major layout, which a row-major reshape cannot view.
fn reshape(a: Array2<f32>, shape: &[usize]) -> ArrayD<f32> {
    let a = if a.is_standard_layout() {
        a
    } else {
        a.as_standard_layout().into_owned()
    };
    a.into_shape_with_order(IxDyn(shape))
        .expect("reshape keeps the element count")
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array;

    /// Loss = sum(w ⊙ forward(x)) for a fixed random `w`, so dL/dy = w.
    fn loss(layer: &mut Dense, x: &ArrayD<f32>, w: &ArrayD<f32>) -> f64 {
        let mut rng = SeededRng::new(0);
        let mut ctx = ForwardContext::new(false, &mut rng);
        let y = layer
            .forward(LayerInput::Floats(x.view()), &mut ctx)
            .unwrap();
        y.iter()
            .zip(w.iter())
            .map(|(a, b)| *a as f64 * *b as f64)
            .sum()
    }

    fn random(shape: &[usize], rng: &mut SeededRng) -> ArrayD<f32> {
        Array::from_shape_fn(IxDyn(shape), |_| rng.uniform(-1.0, 1.0))
    }

    fn check(activation: Activation, in_shape: &[usize]) {
        let mut rng = SeededRng::new(3);
        let units = 4;
        let mut layer = Dense::new(units).activation(activation);
        let feat: Shape = in_shape[1..].iter().map(|&d| Some(d)).collect();
        layer.build(&feat, &mut rng).unwrap();
        // Non-zero bias so every path of the gradient is exercised.
        layer.params[1].value = random(&[units], &mut rng);
        let x = random(in_shape, &mut rng);
        let mut out_shape = in_shape.to_vec();
        *out_shape.last_mut().unwrap() = units;
        let w = random(&out_shape, &mut rng);

        let mut ctx_rng = SeededRng::new(0);
        let mut ctx = ForwardContext::new(true, &mut ctx_rng);
        layer
            .forward(LayerInput::Floats(x.view()), &mut ctx)
            .unwrap();
        let dx = layer.backward(w.clone()).unwrap().unwrap();
        let grads: Vec<ArrayD<f32>> = layer.params.iter().map(|p| p.grad.clone()).collect();

        let eps = 1e-2f32;
        let tol = |a: f64, n: f64| (a - n).abs() <= 2e-3 + 2e-2 * n.abs();
        for i in 0..x.len() {
            let mut xp = x.clone();
            xp.as_slice_mut().unwrap()[i] += eps;
            let mut xm = x.clone();
            xm.as_slice_mut().unwrap()[i] -= eps;
            let num = (loss(&mut layer, &xp, &w) - loss(&mut layer, &xm, &w)) / (2.0 * eps as f64);
            let ana = dx.as_slice().unwrap()[i] as f64;
            assert!(
                tol(ana, num),
                "{activation:?} {in_shape:?} dx[{i}]: {ana} vs {num}"
            );
        }
        for (pi, g) in grads.iter().enumerate() {
            for i in 0..g.len() {
                let orig = layer.params[pi].value.as_slice().unwrap()[i];
                layer.params[pi].value.as_slice_mut().unwrap()[i] = orig + eps;
                let lp = loss(&mut layer, &x, &w);
                layer.params[pi].value.as_slice_mut().unwrap()[i] = orig - eps;
                let lm = loss(&mut layer, &x, &w);
                layer.params[pi].value.as_slice_mut().unwrap()[i] = orig;
                let num = (lp - lm) / (2.0 * eps as f64);
                let ana = g.as_slice().unwrap()[i] as f64;
                assert!(
                    tol(ana, num),
                    "{activation:?} {in_shape:?} param {pi}[{i}]: {ana} vs {num}"
                );
            }
        }
    }

    #[test]
    fn gradients_match_finite_differences() {
        for act in [
            Activation::Linear,
            Activation::Relu,
            Activation::Sigmoid,
            Activation::Tanh,
            Activation::Softmax,
        ] {
            check(act, &[3, 5]);
            check(act, &[2, 3, 5]);
        }
    }

    #[test]
    fn output_shape_and_param_count() {
        let mut rng = SeededRng::new(0);
        let mut d = Dense::new(46).activation(Activation::Softmax);
        assert_eq!(
            d.compute_output_shape(&[None, Some(100)]).unwrap(),
            vec![None, Some(46)]
        );
        assert!(d.compute_output_shape(&[Some(3), None]).is_err());
        d.build(&[Some(100)], &mut rng).unwrap();
        assert_eq!(d.param_count(), 100 * 46 + 46);
    }

    #[test]
    fn rejects_token_ids_and_wrong_width() {
        let mut rng = SeededRng::new(0);
        let mut d = Dense::new(2);
        d.build(&[Some(3)], &mut rng).unwrap();
        let ids = ndarray::Array2::<i32>::zeros((2, 3));
        let mut ctx = ForwardContext::new(false, &mut rng);
        let e = d
            .forward(LayerInput::Ids(ids.view()), &mut ctx)
            .unwrap_err();
        assert!(e.to_string().contains("token ids"), "{e}");
        let x = ArrayD::<f32>::zeros(IxDyn(&[2, 4]));
        let e = d
            .forward(LayerInput::Floats(x.view()), &mut ctx)
            .unwrap_err();
        assert!(e.to_string().contains("dense"), "{e}");
    }

    #[test]
    fn zero_units_is_rejected() {
        let c: DenseConfig = serde_json::from_value(serde_json::json!({"units": 0})).unwrap();
        assert!(Dense::from_config(&c).is_err());
    }
}
