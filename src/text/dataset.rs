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

    /// One line summing up the warnings for a user (`None` when there are none): how
    /// many sources were decoded lossily and the first few, e.g.
    /// `2 texts were not valid UTF-8 (invalid bytes replaced with U+FFFD): a.txt, b.txt`.
    /// The CLI prints it as a `warning:`; a library user can print it or read
    /// `warnings`.
    pub fn warning_summary(&self) -> Option<String> {
        const SHOWN: usize = 3;
        if self.warnings.is_empty() {
            return None;
        }
        let locations: Vec<&str> = self
            .warnings
            .iter()
            .map(|w| match w {
                LoadWarning::LossyUtf8 { location } => location.as_str(),
            })
            .collect();
        let n = locations.len();
        let more = if n > SHOWN {
            format!(" and {} more", n - SHOWN)
        } else {
            String::new()
        };
        Some(format!(
            "{n} text{} not valid UTF-8 (invalid bytes replaced with U+FFFD): {}{more}",
            if n == 1 { " was" } else { "s were" },
            locations[..n.min(SHOWN)].join(", ")
        ))
    }
}

#[cfg(test)]
mod warning_tests {
    use super::*;

    #[test]
    fn summary_counts_and_names_the_first_sources() {
        let mut ds = TextDataset::default();
        assert_eq!(ds.warning_summary(), None);
        for i in 0..5 {
            ds.warnings.push(LoadWarning::LossyUtf8 {
                location: format!("f{i}.txt"),
            });
        }
        let s = ds.warning_summary().unwrap();
        assert!(s.starts_with("5 texts were not valid UTF-8"), "{s}");
        assert!(s.contains("f0.txt, f1.txt, f2.txt and 2 more"), "{s}");
    }
}
