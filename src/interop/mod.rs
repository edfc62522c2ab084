//! Reading models written by Keras (Keras 3 `.keras` archives and legacy `.h5`
//! files), and writing ONNX.

mod hdf5_weights;
pub mod keras_archive;
pub mod keras_config;
pub mod keras_file;
pub mod keras_h5;
pub mod onnx;

pub use hdf5_weights::is_hdf5;
pub use keras_archive::{load_keras_archive, load_keras_archive_bytes};
pub use keras_config::{
    KerasSequential, KerasTraining, parse_keras_config, parse_keras_model_config,
    parse_training_config,
};
pub use keras_file::{
    KerasFormat, KerasImport, import_keras_bytes, import_keras_model, keras_file_format,
    keras_format, load_keras_model,
};
pub use keras_h5::{KerasH5Info, load_keras_h5, load_keras_h5_bytes};
