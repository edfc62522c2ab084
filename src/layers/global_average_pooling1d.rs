//! Keras `GlobalAveragePooling1D`: the mean over time steps, (batch, steps, features)
//! to (batch, features). With an input mask only the real steps are averaged, as in
//! Keras; the mask ends here.

use ndarray::{Array2, ArrayD, Axis};

use super::global_pooling::{self as gp, GlobalPooling1DConfig};
use super::recurrent as rec;
use super::{ForwardContext, Layer, LayerConfig, LayerInput, Param, Shape};
use crate::error::{Error, Result};
use crate::rng::SeededRng;

#[derive(Clone, Debug)]
pub struct GlobalAveragePooling1D {
    config: GlobalPooling1DConfig,
    name: String,
    built: bool,
    input_mask: Option<Array2<bool>>,
    /// Weight of each (sample, step) in the last training forward's mean: 1 / count for
    /// real steps, 0 for masked ones. The input gradient is the output's times these.
    step_weights: Option<Array2<f32>>,
    features: usize,
}

impl GlobalAveragePooling1D {
    pub fn new() -> Self {
        Self::with_config(GlobalPooling1DConfig::default())
    }

    pub fn from_config(config: GlobalPooling1DConfig) -> Result<Self> {
        let layer = Self::with_config(config);
        layer
            .config
            .validate("GlobalAveragePooling1D", &layer.name)?;
        Ok(layer)
    }

    fn with_config(config: GlobalPooling1DConfig) -> Self {
        let name = config
            .name
            .clone()
            .unwrap_or_else(|| "global_average_pooling1d".to_string());
        GlobalAveragePooling1D {
            config,
            name,
            built: false,
            input_mask: None,
            step_weights: None,
            features: 0,
        }
    }

    pub fn keepdims(mut self, on: bool) -> Self {
        self.config.keepdims = on;
        self
    }
}

impl Default for GlobalAveragePooling1D {
    fn default() -> Self {
        Self::new()
    }
}

impl Layer for GlobalAveragePooling1D {
    layer_names!("GlobalAveragePooling1D", "global_average_pooling1d");

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
        self.step_weights = None;
        let x = gp::input_3d(&self.name, &input)?;
        let (batch, steps, features) = x.dim();
        let weights = match &self.input_mask {
            None => Array2::from_elem((batch, steps), 1.0 / steps as f32),
            Some(m) if m.dim() != (batch, steps) => {
                return Err(Error::Shape(format!(
                    "layer '{}': input mask has shape {:?}, expected ({batch}, {steps})",
                    self.name,
                    m.dim()
                )));
            }
            Some(m) => {
                let mut w = Array2::zeros((batch, steps));
                for (b, (row, mut wrow)) in m.outer_iter().zip(w.outer_iter_mut()).enumerate() {
                    let count = row.iter().filter(|&&r| r).count();
                    if count == 0 {
                        // Keras divides 0 by 0 here and returns NaN.
                        return Err(Error::Data(format!(
                            "layer '{}': sample {b} has every time step masked, so its \
                             average is undefined",
                            self.name
                        )));
                    }
                    for (wv, &r) in wrow.iter_mut().zip(row) {
                        *wv = if r { 1.0 } else { 0.0 };
                    }
                    wrow /= count as f32;
                }
                w
            }
        };
        let mut pooled = Array2::<f32>::zeros((batch, features));
        match &self.input_mask {
            // Keras: sum of the real steps, then one division by their count.
            Some(m) => {
                for ((xb, mb), (mut out, wb)) in x
                    .outer_iter()
                    .zip(m.outer_iter())
                    .zip(pooled.outer_iter_mut().zip(weights.outer_iter()))
                {
                    for (xt, &real) in xb.outer_iter().zip(mb) {
                        if real {
                            out += &xt;
                        }
                    }
                    let count = wb.iter().filter(|&&w| w > 0.0).count() as f32;
                    out /= count;
                }
            }
            None => {
                pooled = x.sum_axis(Axis(1));
                pooled /= steps as f32;
            }
        }
        if ctx.training {
            self.step_weights = Some(weights);
            self.features = features;
        }
        Ok(self.config.shape_output(pooled))
    }

    fn backward(&mut self, grad_output: ArrayD<f32>) -> Result<Option<ArrayD<f32>>> {
        let w = self
            .step_weights
            .as_ref()
            .ok_or_else(|| rec::no_forward(&self.name))?;
        let (batch, steps) = w.dim();
        let g = self
            .config
            .grad_2d(&self.name, grad_output, batch, self.features)?;
        let dx = ndarray::Array3::from_shape_fn((batch, steps, self.features), |(b, t, f)| {
            g[[b, f]] * w[[b, t]]
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

    fn set_input_mask(&mut self, mask: Option<Array2<bool>>) {
        self.input_mask = mask;
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
        serde_json::to_value(LayerConfig::GlobalAveragePooling1D(c)).expect("configs serialise")
    }
}
