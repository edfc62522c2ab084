//! Keras `GlobalAveragePooling1D`: the mean over time steps, (batch, steps, features)
//! to (batch, features). With an input mask only the real steps are averaged, as in
//! Keras; the mask ends here. The layer plumbing is `GlobalPooling1D`'s; this file is
//! the reduction.

use ndarray::{Array2, Array3, ArrayView3, Axis};

use super::LayerConfig;
use super::global_pooling::{GlobalPooling1D, GlobalPooling1DConfig, Pool1D};
use crate::error::{Error, Result};

/// Keras `GlobalAveragePooling1D`.
pub type GlobalAveragePooling1D = GlobalPooling1D<AveragePool>;

/// The (masked) mean over time steps.
#[derive(Clone, Debug, Default)]
pub struct AveragePool {
    /// Weight of each (sample, step) in the last training forward's mean: 1 / count for
    /// real steps, 0 for masked ones. The input gradient is the output's times these.
    step_weights: Option<Array2<f32>>,
    features: usize,
}

impl Pool1D for AveragePool {
    const CLASS: &'static str = "GlobalAveragePooling1D";
    const DEFAULT_NAME: &'static str = "global_average_pooling1d";

    fn pool(
        &mut self,
        name: &str,
        x: ArrayView3<'_, f32>,
        mask: Option<&Array2<bool>>,
        training: bool,
    ) -> Result<Array2<f32>> {
        let (batch, steps, features) = x.dim();
        let weights = match mask {
            None => Array2::from_elem((batch, steps), 1.0 / steps as f32),
            Some(m) if m.dim() != (batch, steps) => {
                return Err(Error::Shape(format!(
                    "layer '{name}': input mask has shape {:?}, expected ({batch}, {steps})",
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
                            "layer '{name}': sample {b} has every time step masked, so its \
                             average is undefined"
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
        match mask {
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
        if training {
            self.step_weights = Some(weights);
            self.features = features;
        }
        Ok(pooled)
    }

    fn cached_dim(&self) -> Option<(usize, usize, usize)> {
        self.step_weights.as_ref().map(|w| {
            let (batch, steps) = w.dim();
            (batch, steps, self.features)
        })
    }

    fn clear(&mut self) {
        self.step_weights = None;
    }

    fn unpool(&self, g: &Array2<f32>) -> Array3<f32> {
        let w = self.step_weights.as_ref().expect("checked by cached_dim");
        let (batch, steps) = w.dim();
        Array3::from_shape_fn((batch, steps, self.features), |(b, t, f)| {
            g[[b, f]] * w[[b, t]]
        })
    }

    fn layer_config(config: GlobalPooling1DConfig) -> LayerConfig {
        LayerConfig::GlobalAveragePooling1D(config)
    }
}
