//! The Keras datasets (`keras.datasets.imdb`, `keras.datasets.reuters`): the same
//! files, read the same way, giving the same sequences and labels element for
//! element as Keras's `load_data`, plus the word indices to decode them.
//!
//! Files are found like Keras's `get_file` ([`download`]), read from Keras's `.npz`
//! format ([`npz`], [`npy`], with a restricted [`pickle`] reader that never runs
//! code), and shuffled with numpy's legacy `RandomState` ([`mt19937`]).
//!
//! [`generated`] makes small synthetic tasks from a seed (no file at all);
//! [`numeric_csv`] reads the number columns of a CSV file (time series).
//!
//! Downloading and the `imdb`/`reuters` loaders are the `download` feature, `.npz`
//! reading the `npz` feature (it brings the `zip` crate); `.npy`, the pickle reader
//! and the word indices are always there.

#[cfg(feature = "download")]
pub mod download;
pub mod dtype;
pub mod generated;
#[cfg(feature = "download")]
pub mod imdb;
pub mod mt19937;
pub mod npy;
#[cfg(feature = "npz")]
pub mod npz;
pub mod numeric_csv;
pub mod pickle;
#[cfg(feature = "download")]
mod remap;
#[cfg(feature = "download")]
pub mod reuters;
pub mod word_index;

#[cfg(feature = "download")]
pub use download::{FileOptions, get_file, keras_home};
#[cfg(feature = "download")]
pub use imdb::ImdbOptions;
pub use npy::{NpyArray, NpyData};
#[cfg(feature = "npz")]
pub use npz::Npz;
pub use numeric_csv::{NumericTable, read_numeric_csv};
#[cfg(feature = "download")]
pub use reuters::ReutersOptions;
pub use word_index::{ReverseWordIndex, WordIndex, decode_review};

/// One side of a dataset: ragged id sequences (Keras's object array of lists) and
/// their labels.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Split {
    pub x: Vec<Vec<i32>>,
    pub y: Vec<i64>,
}

/// What Keras's `load_data` returns: `(x_train, y_train), (x_test, y_test)`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SequenceDataset {
    pub train: Split,
    pub test: Split,
}

/// `((x_train, y_train), (x_test, y_test))`.
pub type SplitTuples = ((Vec<Vec<i32>>, Vec<i64>), (Vec<Vec<i32>>, Vec<i64>));

impl SequenceDataset {
    /// The Keras tuple shape `((x_train, y_train), (x_test, y_test))`.
    pub fn into_tuples(self) -> SplitTuples {
        ((self.train.x, self.train.y), (self.test.x, self.test.y))
    }
}
