//! `Dropout(rate)`: inverted dropout as in Keras. While training, each value is zeroed
//! with probability `rate` and the kept ones are scaled by `1 / (1 - rate)`, so
//! inference is the identity.

use ndarray::ArrayD;

use super::config::DropoutConfig;
use super::{ForwardContext, Layer, LayerInput, Shape};
use crate::error::{Error, Result};
use crate::rng::SeededRng;

#[derive(Debug, Clone)]
pub struct Dropout {
    name: String,
    rate: f32,
    built: bool,
    /// Scaled keep-mask (0 or 1/(1-rate)) of the last training forward; `None` when
    /// the last forward was the identity.
    mask: Option<ArrayD<f32>>,
}

impl Dropout {
    /// Panics never: an invalid rate is reported by `try_new`/`from_config`, and by
    /// the model when the layer is added (see `check_rate`).
    pub fn new(rate: f32) -> Self {
        Dropout {
            name: "dropout".to_string(),
            rate,
            built: false,
            mask: None,
        }
    }

    /// `new` with the rate checked: it must be in [0, 1).
    pub fn try_new(rate: f32) -> Result<Self> {
        check_rate(rate)?;
        Ok(Dropout::new(rate))
    }

    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    pub fn from_config(c: &DropoutConfig) -> Result<Self> {
        let mut d = Dropout::try_new(c.rate)?;
        if let Some(n) = &c.name {
            d.name = n.clone();
        }
        Ok(d)
    }

    pub fn rate(&self) -> f32 {
        self.rate
    }

    /// The scaled mask of the last training forward (for tests and inspection).
    pub fn mask(&self) -> Option<&ArrayD<f32>> {
        self.mask.as_ref()
    }
}

fn check_rate(rate: f32) -> Result<()> {
    if !(0.0..1.0).contains(&rate) {
        return Err(Error::invalid_argument(
            "Dropout",
            "rate",
            format!("must be in [0, 1), got {rate}"),
        ));
    }
    Ok(())
}

impl Layer for Dropout {
    layer_names!("Dropout", "dropout");

    fn compute_output_shape(&self, input_shape: &[Option<usize>]) -> Result<Shape> {
        Ok(input_shape.to_vec())
    }

    fn build(&mut self, _input_shape: &[Option<usize>], _rng: &mut SeededRng) -> Result<()> {
        check_rate(self.rate).map_err(|e| match e {
            Error::InvalidArgument { arg, reason, .. } => Error::InvalidArgument {
                context: format!("layer `{}` (Dropout)", self.name),
                arg,
                reason,
            },
            other => other,
        })?;
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
        let x = input.into_floats(&format!("`{}` (Dropout)", self.name), "")?;
        if !ctx.training || self.rate == 0.0 {
            self.mask = None;
            return Ok(x.to_owned());
        }
        let scale = 1.0 / (1.0 - self.rate);
        let rate = self.rate;
        // Drawn in standard (row-major) order on this thread: deterministic per seed.
        let mask = ArrayD::from_shape_simple_fn(x.raw_dim(), || {
            if ctx.rng.uniform01() >= rate {
                scale
            } else {
                0.0
            }
        });
        let y = &x * &mask;
        self.mask = Some(mask);
        Ok(y)
    }

    fn backward(&mut self, grad_output: ArrayD<f32>) -> Result<Option<ArrayD<f32>>> {
        match &self.mask {
            None => Ok(Some(grad_output)),
            Some(mask) if mask.shape() == grad_output.shape() => Ok(Some(grad_output * mask)),
            Some(mask) => Err(Error::Shape(format!(
                "layer `{}`: output gradient shape {:?} differs from the forward's {:?}",
                self.name,
                grad_output.shape(),
                mask.shape()
            ))),
        }
    }

    fn config(&self) -> serde_json::Value {
        serde_json::json!({"type": "dropout", "name": self.name, "rate": self.rate})
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::IxDyn;

    fn forward(layer: &mut Dropout, x: &ArrayD<f32>, training: bool) -> ArrayD<f32> {
        // Same seed every call: the same mask, so finite differences see a fixed mask.
        let mut rng = SeededRng::new(11);
        let mut ctx = ForwardContext::new(training, &mut rng);
        layer
            .forward(LayerInput::Floats(x.view()), &mut ctx)
            .unwrap()
    }

    #[test]
    fn gradient_matches_finite_differences_with_fixed_mask() {
        let mut rng = SeededRng::new(2);
        let x = ArrayD::from_shape_simple_fn(IxDyn(&[4, 3, 5]), || rng.uniform(-1.0, 1.0));
        let w = ArrayD::from_shape_simple_fn(IxDyn(&[4, 3, 5]), || rng.uniform(-1.0, 1.0));
        let mut d = Dropout::try_new(0.4).unwrap();
        d.build(&[Some(3), Some(5)], &mut rng).unwrap();
        forward(&mut d, &x, true);
        let mask = d.mask().unwrap().clone();
        let kept = mask.iter().filter(|&&m| m != 0.0).count();
        assert!(kept > 0 && kept < mask.len(), "mask is not trivial");
        assert!(
            mask.iter()
                .all(|&m| m == 0.0 || (m - 1.0 / 0.6).abs() < 1e-6)
        );
        let dx = d.backward(w.clone()).unwrap().unwrap();
        let eps = 1e-2f32;
        for i in 0..x.len() {
            let mut xp = x.clone();
            xp.as_slice_mut().unwrap()[i] += eps;
            let mut xm = x.clone();
            xm.as_slice_mut().unwrap()[i] -= eps;
            let lp: f32 = (forward(&mut d, &xp, true) * &w).sum();
            let lm: f32 = (forward(&mut d, &xm, true) * &w).sum();
            let num = (lp - lm) / (2.0 * eps);
            let ana = dx.as_slice().unwrap()[i];
            assert!((num - ana).abs() < 1e-3, "dx[{i}]: {ana} vs {num}");
        }
    }

    #[test]
    fn identity_at_inference_and_mean_preserved_in_training() {
        let x = ArrayD::from_elem(IxDyn(&[200, 50]), 1.0f32);
        let mut d = Dropout::try_new(0.3).unwrap();
        assert_eq!(forward(&mut d, &x, false), x);
        let y = forward(&mut d, &x, true);
        let mean = y.mean().unwrap();
        assert!((mean - 1.0).abs() < 0.05, "mean {mean}");
    }

    #[test]
    fn rate_outside_range_is_rejected() {
        assert!(Dropout::try_new(1.0).is_err());
        assert!(Dropout::try_new(-0.1).is_err());
        assert!(Dropout::try_new(f32::NAN).is_err());
        let mut rng = SeededRng::new(0);
        let e = Dropout::new(1.5).build(&[Some(2)], &mut rng).unwrap_err();
        assert!(e.to_string().contains("dropout"), "{e}");
    }
}
