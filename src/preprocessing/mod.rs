//! Array preprocessing utilities of the Keras tutorials: padding sequences, one-hot
//! labels, train/test splitting, sequence-length statistics and time-series windows
//! (`timeseries_dataset_from_array`).

pub mod categorical;
pub mod sequence;
pub mod split;
pub mod stats;
pub mod timeseries;

pub use categorical::to_categorical;
pub use sequence::{PadOptions, Padding, Truncating, pad_sequences, pad_sequences_with};
pub use split::{Rows, TestSize, TrainTestSplit, train_test_indices, train_test_split};
pub use stats::{Histogram, LengthStats};
pub use timeseries::{
    TimeseriesOptions, TimeseriesWindows, timeseries_dataset_from_array, window_starts,
};
