//! `TextDataset`: labelled raw texts as the loaders return them, with the warnings the
//! loading produced (files decoded lossily) so nothing is dropped silently.

use std::fmt;

use crate::{Error, Result};

/// Something a loader accepted but had to alter; reported, never fatal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LoadWarning {
    /// The file (or CSV record) was not valid UTF-8; invalid bytes were replaced with
    /// U+FFFD. `location` is the file, or `file:line N` for a CSV record.
    LossyUtf8 { location: String },
}

impl fmt::Display for LoadWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadWarning::LossyUtf8 { location } => write!(
                f,
                "{location}: not valid UTF-8, invalid bytes replaced with U+FFFD"
            ),
        }
    }
}

/// Texts with integer labels (`labels[i]` is an index into `class_names`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TextDataset {
    pub texts: Vec<String>,
    pub labels: Vec<i32>,
    pub class_names: Vec<String>,
    /// Where each text came from: its file, or `file:line N` for a CSV record.
    pub sources: Vec<String>,
    pub warnings: Vec<LoadWarning>,
}

impl TextDataset {
    pub fn len(&self) -> usize {
        self.texts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.texts.is_empty()
    }

    /// Keeps only the samples at `indices`, in that order (warnings are kept whole).
    /// An index past the end is an error naming it.
    pub fn select(&self, indices: &[usize]) -> Result<TextDataset> {
        if let Some(&bad) = indices.iter().find(|&&i| i >= self.len()) {
            return Err(Error::invalid_argument(
                "TextDataset::select",
                "indices",
                format!("index {bad} is out of range for {} samples", self.len()),
            ));
        }
        Ok(TextDataset {
            texts: indices.iter().map(|&i| self.texts[i].clone()).collect(),
            labels: indices.iter().map(|&i| self.labels[i]).collect(),
            class_names: self.class_names.clone(),
            sources: indices.iter().map(|&i| self.sources[i].clone()).collect(),
            warnings: self.warnings.clone(),
        })
    }
}
