//! `CSVLogger` (keras/src/callbacks/csv_logger.py): one row per epoch, `epoch` (from
//! 0, as Keras) then the log keys in sorted order. The file is rewritten atomically
//! after every epoch, so a crash never leaves a torn row.

use std::path::PathBuf;

use super::{Callback, Control, Logs};
use crate::config::CsvLoggerConfig;
use crate::error::{Error, Result};
use crate::io::write_atomic;
use crate::model::Sequential;

pub struct CsvLogger {
    filename: PathBuf,
    separator: char,
    append: bool,
    keys: Option<Vec<String>>,
    content: String,
}

impl CsvLogger {
    pub fn new(config: CsvLoggerConfig) -> Result<Self> {
        let mut chars = config.separator.chars();
        let separator = match (chars.next(), chars.next()) {
            (Some(c), None) => c,
            _ => {
                return Err(Error::invalid_argument(
                    "CSVLogger",
                    "separator",
                    format!("`{}` must be one character", config.separator),
                ));
            }
        };
        Ok(CsvLogger {
            filename: config.filename,
            separator,
            append: config.append,
            keys: None,
            content: String::new(),
        })
    }
}

impl Callback for CsvLogger {
    fn on_train_begin(&mut self, _model: &mut Sequential) -> Result<()> {
        self.content.clear();
        self.keys = None;
        if self.append && self.filename.exists() {
            self.content = std::fs::read_to_string(&self.filename)
                .map_err(|e| Error::io(&self.filename, e))?;
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
