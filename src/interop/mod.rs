//! Reading models written by Keras 3.

pub mod keras_config;

pub use keras_config::{KerasSequential, parse_keras_config};
