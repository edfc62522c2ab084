//! Keras `GlobalMaxPooling1D`: the maximum over time steps, (batch, steps, features) to
//! (batch, features). Like Keras it ignores an input mask (padded steps take part) and
//! ends it. The layer plumbing is `GlobalPooling1D`'s; this file is the reduction.

use ndarray::{Array2, Array3, ArrayView3};

use super::LayerConfig;
use super::global_pooling::{GlobalPooling1D, GlobalPooling1DConfig, Pool1D};
use crate::error::{Error, Result};

/// Keras `GlobalMaxPooling1D`.
pub type GlobalMaxPooling1D = GlobalPooling1D<MaxPool>;

/// The maximum over time steps.
#[derive(Clone, Debug, Default)]
pub struct MaxPool {
    /// Share of the output gradient each input element receives, from the last training
    /// forward: 1 / (number of steps reaching the maximum) there, else 0 (TensorFlow's
    /// `reduce_max` gradient splits ties evenly).
    routes: Option<Array3<f32>>,
}

impl Pool1D for MaxPool {
    const CLASS: &'static str = "GlobalMaxPooling1D";
    const DEFAULT_NAME: &'static str = "global_max_pooling1d";

    fn pool(
        &mut self,
        name: &str,
        x: ArrayView3<'_, f32>,
        _mask: Option<&Array2<bool>>,
        training: bool,
    ) -> Result<Array2<f32>> {
        let (batch, steps, features) = x.dim();
        if steps == 0 {
            return Err(Error::Shape(format!(
                "layer '{name}' got sequences with 0 time steps"
            )));
        }
        let mut pooled = Array2::from_elem((batch, features), f32::NEG_INFINITY);
        for (xb, mut out) in x.outer_iter().zip(pooled.outer_iter_mut()) {
            for xt in xb.outer_iter() {
                out.zip_mut_with(&xt, |o, &v| *o = o.max(v));
            }
        }
        if training {
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
        Ok(pooled)
    }

    fn cached_dim(&self) -> Option<(usize, usize, usize)> {
        self.routes.as_ref().map(|r| r.dim())
    }

    fn clear(&mut self) {
        self.routes = None;
    }

    fn unpool(&self, g: &Array2<f32>) -> Array3<f32> {
        let routes = self.routes.as_ref().expect("checked by cached_dim");
        Array3::from_shape_fn(routes.dim(), |(b, t, f)| g[[b, f]] * routes[[b, t, f]])
    }

    fn layer_config(config: GlobalPooling1DConfig) -> LayerConfig {
        LayerConfig::GlobalMaxPooling1D(config)
    }
}
