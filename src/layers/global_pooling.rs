//! What GlobalAveragePooling1D and GlobalMaxPooling1D share: Keras's arguments
//! (`data_format`, `keepdims`), shapes, input checks and the `Layer` plumbing
//! (`GlobalPooling1D<P>`); each file keeps only its reduction (`Pool1D`).

use ndarray::{Array2, Array3, ArrayD, ArrayView3, Ix3};
use serde::{Deserialize, Serialize};

use super::recurrent as rec;
use super::{ForwardContext, Layer, LayerConfig, LayerInput, Shape};
use crate::error::{Error, Result};
use crate::rng::SeededRng;

pub(crate) fn default_data_format() -> String {
    "channels_last".to_string()
}

/// Keras `data_format` of the 1D layers: only `channels_last` (batch, steps, features),
/// Keras's default, is implemented.
pub(crate) fn check_data_format(data_format: &str, class: &str, name: &str) -> Result<()> {
    match data_format {
        "channels_last" => Ok(()),
        "channels_first" => Err(Error::Unsupported(format!(
            "{class} '{name}': data_format='channels_first' is not implemented, only \
                 'channels_last'"
        ))),
        other => Err(Error::invalid_argument(
            format!("{class} '{name}'"),
            "data_format",
            format!("must be 'channels_last' or 'channels_first', got '{other}'"),
        )),
    }
}

/// Keras's arguments of the 1D global pooling layers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GlobalPooling1DConfig {
    #[serde(default)]
    pub name: Option<String>,
    /// Only `channels_last` (batch, steps, features), Keras's default, is implemented.
    #[serde(default = "default_data_format")]
    pub data_format: String,
    /// Keep the pooled time axis with length 1: (batch, 1, features).
    #[serde(default)]
    pub keepdims: bool,
}

impl Default for GlobalPooling1DConfig {
    fn default() -> Self {
        GlobalPooling1DConfig {
            name: None,
            data_format: default_data_format(),
            keepdims: false,
        }
    }
}

impl GlobalPooling1DConfig {
    pub(crate) fn validate(&self, class: &str, name: &str) -> Result<()> {
        check_data_format(&self.data_format, class, name)
    }

    /// (features,) or (1, features) for a (steps, features) input.
    pub(crate) fn output_shape(&self, name: &str, input_shape: &[Option<usize>]) -> Result<Shape> {
        match input_shape {
            [_, f] if self.keepdims => Ok(vec![Some(1), *f]),
            [_, f] => Ok(vec![*f]),
            _ => Err(Error::Shape(format!(
                "layer '{name}' expects input of shape (batch, steps, features), got {}",
                super::format_shape(input_shape)
            ))),
        }
    }

    /// The pooled (batch, features) values in the configured output shape.
    pub(crate) fn shape_output(&self, pooled: Array2<f32>) -> ArrayD<f32> {
        if self.keepdims {
            let (b, f) = pooled.dim();
            pooled
                .into_shape_with_order((b, 1, f))
                .expect("same number of values")
                .into_dyn()
        } else {
            pooled.into_dyn()
        }
    }

    /// The output gradient as (batch, features), checking its shape.
    pub(crate) fn grad_2d(
        &self,
        name: &str,
        grad: ArrayD<f32>,
        batch: usize,
        features: usize,
    ) -> Result<Array2<f32>> {
        let ok = if self.keepdims {
            grad.shape() == [batch, 1, features]
        } else {
            grad.shape() == [batch, features]
        };
        if !ok {
            return Err(Error::Shape(format!(
                "layer '{name}': output gradient has shape {:?}, expected ({batch}, {}{features})",
                grad.shape(),
                if self.keepdims { "1, " } else { "" }
            )));
        }
        Ok(grad
            .into_shape_with_order((batch, features))
            .expect("checked above"))
    }
}

/// The float (batch, steps, features) input, or an error naming the layer.
pub(crate) fn input_3d<'a>(name: &str, input: &'a LayerInput<'_>) -> Result<ArrayView3<'a, f32>> {
    match input {
        LayerInput::Floats(x) => x.view().into_dimensionality::<Ix3>().map_err(|_| {
            Error::Shape(format!(
                "layer '{name}' expects input (batch, steps, features), got shape {:?}",
                x.shape()
            ))
        }),
        LayerInput::Ids(_) => Err(Error::Shape(format!(
            "layer '{name}' expects float input (batch, steps, features), got integer token \
             ids; put an Embedding layer first"
        ))),
    }
}

/// What differs between the 1D global pooling layers: the reduction over time steps and
/// its gradient. `GlobalPooling1D` owns everything else (arguments, name, checks, the
/// `Layer` plumbing), as `Recurrent` does for the cells.
pub trait Pool1D: Clone + std::fmt::Debug + Default + Send + Sync + 'static {
    /// Keras class name and default layer name.
    const CLASS: &'static str;
    const DEFAULT_NAME: &'static str;
    /// The (batch, features) pooled values of a (batch, steps, features) input; with
    /// `training`, keeps what `backward` needs. `mask` is the input mask, if any.
    fn pool(
        &mut self,
        name: &str,
        x: ArrayView3<'_, f32>,
        mask: Option<&Array2<bool>>,
        training: bool,
    ) -> Result<Array2<f32>>;
    /// (batch, steps, features) of the last training `pool`, None before one.
    fn cached_dim(&self) -> Option<(usize, usize, usize)>;
    /// Clears what the last training `pool` kept.
    fn clear(&mut self);
    /// The input gradient for the (batch, features) output gradient `g`.
    fn unpool(&self, g: &Array2<f32>) -> Array3<f32>;
    /// This pooling's entry in `LayerConfig`.
    fn layer_config(config: GlobalPooling1DConfig) -> LayerConfig;
}

/// A 1D global pooling layer: `GlobalAveragePooling1D` or `GlobalMaxPooling1D`.
/// Like Keras, both end the mask.
#[derive(Clone, Debug)]
pub struct GlobalPooling1D<P: Pool1D> {
    config: GlobalPooling1DConfig,
    name: String,
    built: bool,
    pool: P,
}

impl<P: Pool1D> GlobalPooling1D<P> {
    pub fn new() -> Self {
        Self::with_config(GlobalPooling1DConfig::default())
    }

    pub fn from_config(config: GlobalPooling1DConfig) -> Result<Self> {
        let layer = Self::with_config(config);
        layer.config.validate(P::CLASS, &layer.name)?;
        Ok(layer)
    }

    fn with_config(config: GlobalPooling1DConfig) -> Self {
        let name = config
            .name
            .clone()
            .unwrap_or_else(|| P::DEFAULT_NAME.to_string());
        GlobalPooling1D {
            config,
            name,
            built: false,
            pool: P::default(),
        }
    }

    /// Keras `keepdims`: keep the pooled time axis with length 1.
    pub fn keepdims(mut self, on: bool) -> Self {
        self.config.keepdims = on;
        self
    }
}

impl<P: Pool1D> Default for GlobalPooling1D<P> {
    fn default() -> Self {
        Self::new()
    }
}

impl<P: Pool1D> Layer for GlobalPooling1D<P> {
    layer_names!(P::CLASS, P::DEFAULT_NAME);

    fn compute_output_shape(&self, input_shape: &[Option<usize>]) -> Result<Shape> {
        self.config.output_shape(&self.name, input_shape)
    }

    fn build(&mut self, input_shape: &[Option<usize>], _rng: &mut SeededRng) -> Result<()> {
        self.config.validate(P::CLASS, &self.name)?;
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
        self.pool.clear();
        let x = input_3d(&self.name, &input)?;
        let pooled = self.pool.pool(&self.name, x, ctx.mask, ctx.training)?;
        Ok(self.config.shape_output(pooled))
    }

    fn backward(&mut self, grad_output: ArrayD<f32>) -> Result<Option<ArrayD<f32>>> {
        let (batch, _, features) = self
            .pool
            .cached_dim()
            .ok_or_else(|| rec::no_forward(&self.name))?;
        let g = self
            .config
            .grad_2d(&self.name, grad_output, batch, features)?;
        Ok(Some(self.pool.unpool(&g).into_dyn()))
    }

    drops_mask!();

    named_config!(P::layer_config);
}
