//! Reading and writing Keras model files (Keras 3 `.keras` archives and legacy `.h5`
//! files), and writing ONNX.
//!
//! Keras import and export are the `keras` feature (HDF5 and zip readers and writers),
//! ONNX export the `onnx` feature (protobuf).

#[cfg(feature = "keras")]
mod hdf5_weights;
#[cfg(feature = "keras")]
pub mod keras_archive;
#[cfg(feature = "keras")]
pub mod keras_config;
#[cfg(feature = "keras")]
pub mod keras_export;
#[cfg(feature = "keras")]
pub mod keras_file;
#[cfg(feature = "keras")]
pub mod keras_h5;
#[cfg(feature = "onnx")]
pub mod onnx;

#[cfg(feature = "keras")]
pub use hdf5_weights::is_hdf5;
#[cfg(feature = "keras")]
pub use keras_archive::{load_keras_archive, load_keras_archive_bytes};
#[cfg(feature = "keras")]
pub use keras_config::{
    KerasSequential, KerasTraining, parse_keras_config, parse_keras_model_config,
    parse_training_config,
};
#[cfg(feature = "keras")]
pub use keras_export::{
    KERAS_VERSION, compile_from_keras, keras_archive_bytes, keras_format_for_path, keras_h5_bytes,
    keras_model_config, save_keras_as,
};
#[cfg(feature = "keras")]
pub use keras_file::{
    KerasFormat, KerasImport, import_keras_bytes, import_keras_model, keras_file_format,
    keras_format, load_keras_model,
};
#[cfg(feature = "keras")]
pub use keras_h5::{KerasH5Info, load_keras_h5, load_keras_h5_bytes};
