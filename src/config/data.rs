//! `[data]`: where the samples come from and how they become model input.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// The data sources a config can name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DataSource {
    /// `keras.datasets.imdb` (binary sentiment, token ids).
    Imdb,
    /// `keras.datasets.reuters` (46 topics, token ids).
    Reuters,
    /// A folder of text files, one sub-folder per class (`text_dataset_from_directory`).
    TextDir,
    /// A CSV file with a text column and a label column.
    Csv,
    /// A Keras-layout `.npz` with `x_train`, `y_train`, `x_test`, `y_test` id sequences.
    Npz,
    /// Data made on the spot from `seed` (no download): see `GeneratedTask`.
    Generated,
}

impl DataSource {
    pub fn name(self) -> &'static str {
        match self {
            DataSource::Imdb => "imdb",
            DataSource::Reuters => "reuters",
            DataSource::TextDir => "text_dir",
            DataSource::Csv => "csv",
            DataSource::Npz => "npz",
            DataSource::Generated => "generated",
        }
    }

    /// Raw-text sources go through a `TextVectorization` that is saved with the model.
    pub fn is_text(self, task: GeneratedTask) -> bool {
        match self {
            DataSource::TextDir | DataSource::Csv => true,
            DataSource::Generated => task == GeneratedTask::Sentiment,
            _ => false,
        }
    }
}

/// The generated data sets.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GeneratedTask {
    /// Short reviews made of sentiment words and filler words; the label is whether
    /// positive words outnumber negative ones. Raw text, binary labels.
    #[default]
    Sentiment,
    /// Token-id sequences whose label is the class token at the very start, followed
    /// by noise: the model must remember across the whole sequence.
    Memory,
    /// A noisy sum of sines: windows of `maxlen` values, target the next value
    /// (float input, regression).
    Series,
}

impl GeneratedTask {
    pub fn name(self) -> &'static str {
        match self {
            GeneratedTask::Sentiment => "sentiment",
            GeneratedTask::Memory => "memory",
            GeneratedTask::Series => "series",
        }
    }
}

fn default_seed() -> u64 {
    42
}

/// The `[data]` table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataConfig {
    pub source: DataSource,
    /// A local file or folder (npz, text folder, CSV; or the Keras `imdb.npz` /
    /// `reuters.npz` when offline).
    #[serde(default)]
    pub path: Option<PathBuf>,
    /// Keep the `num_words` most frequent words (Keras `load_data(num_words)`, or
    /// `TextVectorization(max_tokens)` for raw text).
    #[serde(default)]
    pub num_words: Option<usize>,
    /// Pad or truncate every sequence to this length (`pad_sequences(maxlen)`, or
    /// `TextVectorization(output_sequence_length)`); the window length for `series`.
    #[serde(default)]
    pub maxlen: Option<usize>,
    /// Fraction of the training data held out for validation, from its end (Keras
    /// `fit(validation_split)`).
    #[serde(default)]
    pub validation_split: Option<f64>,
    /// Fraction held out as the test split for sources without one (csv, text_dir
    /// without `train/` and `test/` folders, generated).
    #[serde(default)]
    pub test_split: Option<f64>,
    /// Seeds the whole run: weights, dropout, shuffling, generated data.
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// Replace each id by a one-hot vector of length `num_words` (ids -> (T, num_words)
    /// floats), for recurrent layers without an Embedding.
    #[serde(default)]
    pub one_hot: bool,
    /// `pad_sequences(padding=...)`: "pre" (Keras default) or "post".
    #[serde(default)]
    pub padding: Option<String>,
    /// `pad_sequences(truncating=...)`: "pre" (Keras default) or "post".
    #[serde(default)]
    pub truncating: Option<String>,
    /// For `generated`: which task.
    #[serde(default)]
    pub task: GeneratedTask,
    /// For `generated`: number of samples (train + test).
    #[serde(default)]
    pub samples: Option<usize>,
    /// For `csv`: the text and label column names.
    #[serde(default)]
    pub text_column: Option<String>,
    #[serde(default)]
    pub label_column: Option<String>,
}
