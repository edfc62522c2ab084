//! One entry point for Keras model files, told apart by content rather than by name:
//! a zip (`PK\x03\x04`) is a Keras 3 `.keras` archive, an HDF5 signature a legacy `.h5`
//! full-model file.

use std::path::Path;

use super::hdf5_weights::is_hdf5;
use super::keras_archive::read_archive;
use super::keras_h5::load_keras_h5_bytes;
use crate::error::{Error, Result};
use crate::model::Sequential;

/// The two Keras model file formats we read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KerasFormat {
    /// Keras 3 `.keras` (zip of config.json and model.weights.h5).
    Archive,
    /// Legacy HDF5 full model (`.h5`, Keras 2 / tf.keras / Keras 3 legacy writer).
    Hdf5,
}

impl KerasFormat {
    /// What the format is called in messages.
    pub fn describe(self) -> &'static str {
        match self {
            KerasFormat::Archive => "Keras .keras archive",
            KerasFormat::Hdf5 => "Keras HDF5 (.h5) model",
        }
    }
}

/// A model read from a Keras file, with where it came from.
#[derive(Debug)]
pub struct KerasImport {
    pub model: Sequential,
    pub format: KerasFormat,
    /// The `keras_version` the `.h5` file records, if any.
    pub keras_version: Option<String>,
    /// The loss, metrics and optimizer the model was compiled with, if it was
    /// (`.h5` `training_config`, `.keras` `compile_config`); see
    /// `keras_config::parse_training_config`.
    pub training_config: Option<serde_json::Value>,
}

/// The Keras format of a file's first bytes, if it is one.
pub fn keras_format(bytes: &[u8]) -> Option<KerasFormat> {
    if bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(b"PK\x05\x06") {
        Some(KerasFormat::Archive)
    } else if is_hdf5(bytes) {
        Some(KerasFormat::Hdf5)
    } else {
        None
    }
}

/// The Keras format of the file at `path`, if it is one (reads its first bytes; a user
/// block before the HDF5 signature is only looked for in the first 64 KiB).
pub fn keras_file_format(path: &Path) -> Result<Option<KerasFormat>> {
    use std::io::Read;
    crate::io::check_input_file(path)?;
    let f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut head = Vec::new();
    f.take(1 << 16)
        .read_to_end(&mut head)
        .map_err(|e| Error::io(path, e))?;
    Ok(keras_format(&head))
}

/// Reads a Keras `.keras` or `.h5` model file (by content) into a built `Sequential`.
pub fn load_keras_model(path: impl AsRef<Path>) -> Result<Sequential> {
    import_keras_model(path.as_ref()).map(|i| i.model)
}

/// `load_keras_model`, also saying which format the file was.
pub fn import_keras_model(path: &Path) -> Result<KerasImport> {
    let bytes = crate::io::read_input(path)?;
    import_keras_bytes(&bytes, path)
}

/// `import_keras_model` on the file's bytes; `path` only names it in errors.
pub fn import_keras_bytes(bytes: &[u8], path: &Path) -> Result<KerasImport> {
    match keras_format(bytes) {
        Some(KerasFormat::Archive) => {
            let (model, training_config) = read_archive(bytes, path)?;
            Ok(KerasImport {
                model,
                format: KerasFormat::Archive,
                keras_version: None,
                training_config,
            })
        }
        Some(KerasFormat::Hdf5) => {
            let (model, info) = load_keras_h5_bytes(bytes, path)?;
            Ok(KerasImport {
                model,
                format: KerasFormat::Hdf5,
                keras_version: info.keras_version,
                training_config: info.training_config,
            })
        }
        None => Err(Error::format(
            path,
            "not a Keras model file: neither a .keras archive (zip) nor an .h5 (HDF5) file",
        )),
    }
}
