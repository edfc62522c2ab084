//! Reading models written by Keras 3, and writing ONNX.

pub mod keras_archive;
pub mod keras_config;
pub mod onnx;

pub use keras_archive::load_keras_archive;
pub use keras_config::{KerasSequential, parse_keras_config};
