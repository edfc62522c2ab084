//! What GlobalAveragePooling1D and GlobalMaxPooling1D share: Keras's arguments
//! (`data_format`, `keepdims`), shapes and input checks.

use ndarray::{ArrayD, ArrayView3, Ix3};
use serde::{Deserialize, Serialize};

use super::{LayerInput, Shape};
use crate::error::{Error, Result};

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
    pub(crate) fn shape_output(&self, pooled: ndarray::Array2<f32>) -> ArrayD<f32> {
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
    ) -> Result<ndarray::Array2<f32>> {
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
