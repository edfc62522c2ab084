//! The one error type of the library. Every failure a user can cause is a variant
//! here with enough context (layer, sample, time step, file) to find the cause.

use std::path::PathBuf;

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A layer or model was configured with an invalid argument.
    #[error("invalid argument `{arg}` for {context}: {reason}")]
    InvalidArgument {
        context: String,
        arg: String,
        reason: String,
    },
    /// Two consecutive layers (or the data and the model) disagree on a shape.
    #[error("shape mismatch: {0}")]
    Shape(String),
    /// A value in the user's data is out of range (token id, label, NaN, ...).
    #[error("invalid data: {0}")]
    Data(String),
    /// The model was used before `build`/`compile`, or in an unsupported way.
    #[error("{0}")]
    State(String),
    /// A feature that exists in Keras but is rejected here, named clearly.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A file exists but its content is not what we expect.
    #[error("{path}: {reason}")]
    Format { path: PathBuf, reason: String },
    /// Training produced a non-finite value.
    #[error("numerical error: {0}")]
    Numerical(String),
    /// A download failed.
    #[error("download of {url} failed: {reason}")]
    Download { url: String, reason: String },
}

impl Error {
    pub fn invalid_argument(
        context: impl Into<String>,
        arg: impl Into<String>,
        reason: impl Into<String>,
    ) -> Self {
        Error::InvalidArgument {
            context: context.into(),
            arg: arg.into(),
            reason: reason.into(),
        }
    }

    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    pub fn format(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        Error::Format {
            path: path.into(),
            reason: reason.into(),
        }
    }
}
