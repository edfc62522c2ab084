//! The `Sequential` model: layers in a stack, trained with `compile` + `fit` as in Keras.

pub mod data;
pub mod fit;
pub mod history;
pub mod sequential;
pub mod summary;

pub use data::{ClassWeight, Inputs, SampleWeight, Targets};
pub use fit::FitOptions;
pub use history::History;
pub use sequential::{DEFAULT_SEED, Sequential};

#[cfg(test)]
mod tests;
