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
    /// A CSV file: a text column and a label column, or (with `sequence_length`)
    /// numeric columns of a time series cut into windows.
    Csv,
    /// A Keras-layout `.npz` with `x_train`, `y_train`, `x_test`, `y_test`: id
    /// sequences, or float arrays of any rank.
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
    /// For a time-series `csv`: rows per window
    /// (`timeseries_dataset_from_array(sequence_length)`). Setting it makes the CSV
    /// numeric (feature columns and a target column instead of text and labels).
    #[serde(default)]
    pub sequence_length: Option<usize>,
    /// Rows between window starts (Keras default 1).
    #[serde(default)]
    pub sequence_stride: Option<usize>,
    /// Rows between the steps of a window (Keras default 1).
    #[serde(default)]
    pub sampling_rate: Option<usize>,
    /// The columns fed to the model, in order (default: every column).
    #[serde(default)]
    pub feature_columns: Option<Vec<String>>,
    /// The column to forecast (it may also be a feature).
    #[serde(default)]
    pub target_column: Option<String>,
    /// `targets = data[target_offset:, target_column]`, as a Keras user passes
    /// targets to `timeseries_dataset_from_array`: the window starting at row `p` is
    /// paired with row `p + target_offset`. Default: the row right after the
    /// window's last step, `(sequence_length - 1) * sampling_rate + 1` (Keras's
    /// `data[sequence_length:]` when `sampling_rate = 1`).
    #[serde(default)]
    pub target_offset: Option<usize>,
    /// Standardise every column with the mean and standard deviation of the training
    /// rows only (Keras's weather-forecasting tutorial); saved with the model, so
    /// `predict` scales its input the same way and gives values in the target's units.
    #[serde(default)]
    pub normalize: bool,
    /// For `npz`: the array names (default Keras's `x_train`, `y_train`, `x_test`,
    /// `y_test`).
    #[serde(default)]
    pub npz_keys: Option<NpzKeys>,
}

/// The array names of an `.npz` data file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NpzKeys {
    #[serde(default = "NpzKeys::x_train")]
    pub x_train: String,
    #[serde(default = "NpzKeys::y_train")]
    pub y_train: String,
    #[serde(default = "NpzKeys::x_test")]
    pub x_test: String,
    #[serde(default = "NpzKeys::y_test")]
    pub y_test: String,
    /// Keras's `fit(sample_weight=...)` from the file: the member holding one weight
    /// per training sample (or per sample and step); none by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sample_weight: Option<String>,
}

impl NpzKeys {
    fn x_train() -> String {
        "x_train".into()
    }
    fn y_train() -> String {
        "y_train".into()
    }
    fn x_test() -> String {
        "x_test".into()
    }
    fn y_test() -> String {
        "y_test".into()
    }
}

impl Default for NpzKeys {
    fn default() -> Self {
        NpzKeys {
            x_train: Self::x_train(),
            y_train: Self::y_train(),
            x_test: Self::x_test(),
            y_test: Self::y_test(),
            sample_weight: None,
        }
    }
}

/// A failed `[data]` check: the key and the reason.
pub type DataCheck = std::result::Result<(), (&'static str, String)>;

impl DataConfig {
    /// Every key at its default, for `source`.
    pub fn new(source: DataSource) -> Self {
        DataConfig {
            source,
            path: None,
            num_words: None,
            maxlen: None,
            validation_split: None,
            test_split: None,
            seed: default_seed(),
            one_hot: false,
            padding: None,
            truncating: None,
            task: GeneratedTask::default(),
            samples: None,
            text_column: None,
            label_column: None,
            sequence_length: None,
            sequence_stride: None,
            sampling_rate: None,
            feature_columns: None,
            target_column: None,
            target_offset: None,
            normalize: false,
            npz_keys: None,
        }
    }

    /// A numeric time series from a CSV file (`source = "csv"` with `sequence_length`).
    pub fn is_series_csv(&self) -> bool {
        self.source == DataSource::Csv && self.sequence_length.is_some()
    }

    /// Raw text, turned into ids by a `TextVectorization` saved with the model.
    pub fn is_text(&self) -> bool {
        self.source.is_text(self.task) && !self.is_series_csv()
    }

    /// The time-series and npz keys: where they apply and their ranges.
    pub fn check_numeric(&self) -> DataCheck {
        let series = self.is_series_csv();
        let series_keys: [(&'static str, bool); 7] = [
            ("sequence_stride", self.sequence_stride.is_some()),
            ("sampling_rate", self.sampling_rate.is_some()),
            ("feature_columns", self.feature_columns.is_some()),
            ("target_column", self.target_column.is_some()),
            ("target_offset", self.target_offset.is_some()),
            ("normalize", self.normalize),
            ("sequence_length", self.sequence_length.is_some()),
        ];
        if !series {
            if let Some((key, _)) = series_keys.iter().find(|(_, set)| *set) {
                return Err((
                    key,
                    "only applies to a time-series CSV (source = \"csv\" with sequence_length)"
                        .into(),
                ));
            }
        } else {
            for (key, set) in [
                ("text_column", self.text_column.is_some()),
                ("label_column", self.label_column.is_some()),
                ("maxlen", self.maxlen.is_some()),
                ("num_words", self.num_words.is_some()),
                ("one_hot", self.one_hot),
            ] {
                if set {
                    return Err((
                        key,
                        "does not apply to a time-series CSV (sequence_length is set): \
                         windows are sequence_length rows of the feature_columns"
                            .into(),
                    ));
                }
            }
            if self.target_column.is_none() {
                return Err((
                    "target_column",
                    "a time-series CSV needs the column to forecast: target_column = \"...\""
                        .into(),
                ));
            }
            for (key, v) in [
                ("sequence_length", self.sequence_length),
                ("sequence_stride", self.sequence_stride),
                ("sampling_rate", self.sampling_rate),
            ] {
                match v {
                    Some(0) => return Err((key, "must be at least 1".into())),
                    Some(n) if n > super::MAX_MAXLEN => {
                        return Err((
                            key,
                            format!("{n} is over the limit of {} rows", super::MAX_MAXLEN),
                        ));
                    }
                    _ => {}
                }
            }
            if let Some(c) = &self.feature_columns {
                if c.is_empty() {
                    return Err(("feature_columns", "needs at least one column".into()));
                }
                if let Some(d) = c.iter().enumerate().find(|(i, n)| c[..*i].contains(n)) {
                    return Err((
                        "feature_columns",
                        format!("column {:?} is listed twice", d.1),
                    ));
                }
            }
        }
        if self.npz_keys.is_some() && self.source != DataSource::Npz {
            return Err(("npz_keys", "only applies to source = \"npz\"".into()));
        }
        Ok(())
    }

    /// `target_offset`, or its default: the row after the window's last step.
    pub fn target_offset_or_default(&self) -> usize {
        self.target_offset.unwrap_or_else(|| {
            let len = self.sequence_length.unwrap_or(1).max(1);
            (len - 1)
                .saturating_mul(self.sampling_rate.unwrap_or(1))
                .saturating_add(1)
        })
    }
}
