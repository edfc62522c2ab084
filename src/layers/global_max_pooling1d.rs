//! Keras `GlobalMaxPooling1D`: the maximum over time steps, (batch, steps, features) to
//! (batch, features). Like Keras it ignores an input mask (padded steps take part) and
//! ends it.

use ndarray::{Array2, Array3, ArrayD};

use super::global_pooling::{self as gp, GlobalPooling1DConfig};
use super::recurrent as rec;
use super::{ForwardContext, Layer, LayerConfig, LayerInput, Param, Shape};
use crate::error::{Error, Result};
use crate::rng::SeededRng;

#[derive(Clone, Debug)]
pub struct GlobalMaxPooling1D {
    config: GlobalPooling1DConfig,
    name: String,
    built: bool,
    /// Share of the output gradient each input element receives, from the last training
    /// forward: 1 / (number of steps reaching the maximum) there, else 0 (TensorFlow's
    /// `reduce_max` gradient splits ties evenly).
    routes: Option<Array3<f32>>,
}

impl GlobalMaxPooling1D {
    pub fn new() -> Self {
        Self::with_config(GlobalPooling1DConfig::default())
    }

    pub fn from_config(config: GlobalPooling1DConfig) -> Result<Self> {
        let layer = Self::with_config(config);
        layer.config.validate("GlobalMaxPooling1D", &layer.name)?;
        Ok(layer)
    }

    fn with_config(config: GlobalPooling1DConfig) -> Self {
        let name = config
            .name
            .clone()
            .unwrap_or_else(|| "global_max_pooling1d".to_string());
        GlobalMaxPooling1D {
            config,
            name,
            built: false,
            routes: None,
        }
    }

    pub fn keepdims(mut self, on: bool) -> Self {
        self.config.keepdims = on;
        self
    }
}

impl Default for GlobalMaxPooling1D {
    fn default() -> Self {
        Self::new()
    }
}

impl Layer for GlobalMaxPooling1D {
    layer_names!("GlobalMaxPooling1D", "global_max_pooling1d");

    fn compute_output_shape(&self, input_shape: &[Option<usize>]) -> Result<Shape> {
        self.config.output_shape(&self.name, input_shape)
    }

    fn build(&mut self, input_shape: &[Option<usize>], _rng: &mut SeededRng) -> Result<()> {
        self.config.validate(self.class_name(), &self.name)?;
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
        self.routes = None;
        let x = gp::input_3d(&self.name, &input)?;
        let (batch, steps, features) = x.dim();
        if steps == 0 {
            return Err(Error::Shape(format!(
                "layer '{}' got sequences with 0 time steps",
                self.name
            )));
        }
        let mut pooled = Array2::from_elem((batch, features), f32::NEG_INFINITY);
        for (xb, mut out) in x.outer_iter().zip(pooled.outer_iter_mut()) {
            for xt in xb.outer_iter() {
                out.zip_mut_with(&xt, |o, &v| *o = o.max(v));
            }
        }
        if ctx.training {
            let mut routes = Array3::<f32>::zeros((batch, steps, features));
            for b in 0..batch {
                for f in 0..features {
                    let m = pooled[[b, f]];
                    let ties = (0..steps).filter(|&t| x[[b, t, f]] == m).count();
                    for t in 0..steps {
                        if x[[b, t, f]] == m {
                            routes[[b, t, f]] = 1.0 / ties as f32;
                        }
                    }
                }
            }
            self.routes = Some(routes);
        }
        Ok(self.config.shape_output(pooled))
    }

    fn backward(&mut self, grad_output: ArrayD<f32>) -> Result<Option<ArrayD<f32>>> {
        let routes = self
            .routes
            .as_ref()
            .ok_or_else(|| rec::no_forward(&self.name))?;
        let (batch, steps, features) = routes.dim();
        let g = self
            .config
            .grad_2d(&self.name, grad_output, batch, features)?;
        let dx = Array3::from_shape_fn((batch, steps, features), |(b, t, f)| {
            g[[b, f]] * routes[[b, t, f]]
        });
        Ok(Some(dx.into_dyn()))
    }

    fn compute_mask(
        &self,
        _input: &LayerInput<'_>,
        _input_mask: Option<&Array2<bool>>,
    ) -> Option<Array2<bool>> {
        None
    }

    fn params(&self) -> Vec<&Param> {
        Vec::new()
    }
    fn params_mut(&mut self) -> Vec<&mut Param> {
        Vec::new()
    }

    fn config(&self) -> serde_json::Value {
        let mut c = self.config.clone();
        c.name = Some(self.name.clone());
        serde_json::to_value(LayerConfig::GlobalMaxPooling1D(c)).expect("configs serialise")
    }
}
