//! `CSVLogger` (keras/src/callbacks/csv_logger.py): one row per epoch, `epoch` (from
//! 0, as Keras) then the log keys in sorted order. The file is rewritten atomically
//! after every epoch, so a crash never leaves a torn row.

use std::path::PathBuf;

use super::{Callback, Control, Logs};
use crate::error::{Error, Result};
use crate::io::write_atomic;
use crate::model::Sequential;

/// `keras.callbacks.CSVLogger`, built with Keras's argument names and defaults
/// (`separator=","`, `append=False`):
///
/// ```
/// use recurrent::callbacks::CsvLogger;
/// let log = CsvLogger::new("training.csv").separator(';').append(true);
/// ```
#[derive(Debug)]
pub struct CsvLogger {
    filename: PathBuf,
    separator: char,
    append: bool,
    keys: Option<Vec<String>>,
    content: String,
}

impl CsvLogger {
    pub fn new(filename: impl Into<PathBuf>) -> Self {
        CsvLogger {
            filename: filename.into(),
            separator: ',',
            append: false,
            keys: None,
            content: String::new(),
        }
    }

    /// The character between fields.
    pub fn separator(mut self, separator: char) -> Self {
        self.separator = separator;
        self
    }

    /// Add rows to an existing file instead of replacing it.
    pub fn append(mut self, append: bool) -> Self {
        self.append = append;
        self
    }

    /// Keras's `separator` is a string; this is its one character, or an error
    /// naming the argument.
    pub fn separator_char(separator: &str) -> Result<char> {
        let mut chars = separator.chars();
        match (chars.next(), chars.next()) {
            (Some(c), None) => Ok(c),
            _ => Err(Error::invalid_argument(
                "CSVLogger",
                "separator",
                format!("`{separator}` must be one character"),
            )),
        }
    }
}

impl Callback for CsvLogger {
    fn on_train_begin(&mut self, _model: &mut Sequential) -> Result<()> {
        self.content.clear();
        self.keys = None;
        if self.append && self.filename.exists() {
            self.content = crate::io::read_input_to_string(&self.filename)?;
            if !self.content.is_empty() && !self.content.ends_with('\n') {
                self.content.push('\n');
            }
            // Keras skips the header when appending to a non-empty file.
            if let Some(header) = self.content.lines().next() {
                let keys: Vec<String> = header
                    .split(self.separator)
                    .skip(1)
                    .map(str::to_string)
                    .collect();
                self.keys = Some(keys);
            }
        }
        Ok(())
    }

    fn on_epoch_end(
        &mut self,
        epoch: usize,
        logs: &Logs,
        _model: &mut Sequential,
    ) -> Result<Control> {
        let sep = self.separator.to_string();
        if self.keys.is_none() {
            let keys: Vec<String> = logs.keys().cloned().collect();
            self.content.push_str("epoch");
            for k in &keys {
                self.content.push_str(&sep);
                self.content.push_str(k);
            }
            self.content.push('\n');
            self.keys = Some(keys);
        }
        let keys = self.keys.as_ref().expect("set above");
        self.content.push_str(&epoch.to_string());
        for k in keys {
            self.content.push_str(&sep);
            // Keras writes "NA" for a key missing from this epoch's logs.
            match logs.get(k) {
                Some(v) => self.content.push_str(&v.to_string()),
                None => self.content.push_str("NA"),
            }
        }
        self.content.push('\n');
        write_atomic(&self.filename, self.content.as_bytes())?;
        Ok(Control::Continue)
    }
}
