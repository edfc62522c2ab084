//! Raw text: loading labelled texts (class folders, CSV) and turning them into token
//! ids with a Keras-compatible `TextVectorization`.

pub mod csv;
pub mod dataset;
pub mod directory;
pub mod vectorization;

pub use csv::{CsvOptions, LabelEncoding, MAX_INTEGER_LABEL, load_text_csv, read_text_csv};
pub use dataset::{LoadWarning, TextDataset};
pub use directory::{
    DirectoryOptions, Subset, text_dataset_from_directory, text_datasets_from_directory_both,
};
pub use vectorization::{
    MAX_SEQUENCE_LENGTH, OOV_INDEX, OOV_TOKEN, PAD_TOKEN, Standardize, TextVectorization,
    TextVectorizationConfig, TextVectorizationState,
};
