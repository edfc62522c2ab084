//! Weight initialisers with Keras's names and formulas.

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Initializer {
    #[default]
    Zeros,
    Ones,
    /// U(-limit, limit), limit = sqrt(6 / (fan_in + fan_out)).
    GlorotUniform,
    /// Random orthogonal matrix (QR of a normal matrix, sign-corrected), Keras gain 1.
    Orthogonal,
    RandomUniform {
        minval: f32,
        maxval: f32,
    },
}
