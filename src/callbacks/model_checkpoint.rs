//! `ModelCheckpoint` (keras/src/callbacks/model_checkpoint.py): save the model (or
//! only its weights) after each epoch, or only when the monitored value improved.
//! The path may hold `{epoch}` (from 1, as Keras) and any log value with an optional
//! Python format spec: `best-{epoch:02d}-{val_loss:.4f}.safetensors`.

use std::path::{Path, PathBuf};

use super::messages::say;
use super::monitor::{Mode, Monitor};
use super::{Callback, Control, Logs};
use crate::error::{Error, Result};
use crate::io::{SaveExtras, save_model};
use crate::model::Sequential;

/// `keras.callbacks.ModelCheckpoint`, built with Keras's argument names and defaults:
///
/// ```
/// use recurrent::callbacks::ModelCheckpoint;
/// let best = ModelCheckpoint::new("best-{epoch:02d}-{val_loss:.4f}.safetensors")
///     .monitor("val_loss")
///     .save_best_only(true);
/// ```
#[derive(Debug)]
pub struct ModelCheckpoint {
    filepath: PathBuf,
    monitor: Monitor,
    mode: Mode,
    verbose: u8,
    save_best_only: bool,
    save_weights_only: bool,
    initial_value_threshold: Option<f64>,
    best: Option<f64>,
    /// Saved with each full checkpoint (vectorizer, data settings, training state).
    extras: SaveExtras,
    last_saved: Option<PathBuf>,
}

impl ModelCheckpoint {
    /// Keras's defaults: `monitor="val_loss"`, `verbose=0`, `save_best_only=False`,
    /// `save_weights_only=False`, `mode="auto"`, `initial_value_threshold=None`.
    /// `filepath` may hold `{epoch}` and `{name:.4f}`-style placeholders for any log
    /// value (`{val_loss:.4f}`).
    pub fn new(filepath: impl Into<PathBuf>) -> Self {
        ModelCheckpoint {
            filepath: filepath.into(),
            monitor: Monitor::new("val_loss", Mode::Auto),
            mode: Mode::Auto,
            verbose: 0,
            save_best_only: false,
            save_weights_only: false,
            initial_value_threshold: None,
            best: None,
            extras: SaveExtras::default(),
            last_saved: None,
        }
    }

    /// The log value that decides "best" (with `save_best_only`).
    pub fn monitor(mut self, monitor: impl Into<String>) -> Self {
        self.monitor = Monitor::new(&monitor.into(), self.mode);
        self
    }

    /// Whether the monitored value should go down (`Min`) or up (`Max`); `Auto`
    /// decides from its name.
    pub fn mode(mut self, mode: Mode) -> Self {
        self.mode = mode;
        self.monitor = Monitor::new(&self.monitor.name, mode);
        self
    }

    /// 1 prints a line for each save (or skipped save).
    pub fn verbose(mut self, verbose: u8) -> Self {
        self.verbose = verbose;
        self
    }

    /// Save only when the monitored value improved on the best so far.
    pub fn save_best_only(mut self, yes: bool) -> Self {
        self.save_best_only = yes;
        self
    }

    /// Save only the weights (`Sequential::save_weights`), not the whole model.
    pub fn save_weights_only(mut self, yes: bool) -> Self {
        self.save_weights_only = yes;
        self
    }

    /// The value to beat for the first save (with `save_best_only`).
    pub fn initial_value_threshold(mut self, threshold: Option<f64>) -> Self {
        self.initial_value_threshold = threshold;
        self
    }

    /// Things to store in every full checkpoint besides the model.
    pub fn with_extras(mut self, extras: SaveExtras) -> Self {
        self.extras = extras;
        self
    }

    /// The file written last, if any.
    pub fn last_saved(&self) -> Option<&Path> {
        self.last_saved.as_deref()
    }

    fn save(&mut self, path: &Path, model: &Sequential) -> Result<()> {
        if self.save_weights_only {
            model.save_weights(path)?;
        } else {
            save_model(model, path, &self.extras)?;
        }
        self.last_saved = Some(path.to_path_buf());
        Ok(())
    }
}

impl Callback for ModelCheckpoint {
    fn on_epoch_end(
        &mut self,
        epoch: usize,
        logs: &Logs,
        model: &mut Sequential,
    ) -> Result<Control> {
        // Keep the saved training state current: a checkpoint resumes after `epoch`.
        if let Some(t) = self.extras.training.as_mut() {
            t.epoch = epoch + 1;
            t.history.push(epoch, logs);
        }
        let path = PathBuf::from(format_path(
            &self.filepath.to_string_lossy(),
            epoch + 1,
            logs,
        )?);
        if self.save_best_only {
            let current = self.monitor.value(logs, "ModelCheckpoint")?;
            let best = self
                .best
                .or(self.initial_value_threshold)
                .unwrap_or(self.monitor.worst());
            if self.monitor.improves(current, best, 0.0) {
                if self.verbose > 0 {
                    say!(
                        "\nEpoch {}: {} improved from {:.5} to {current:.5}, saving model to {}",
                        epoch + 1,
                        self.monitor.name,
                        best,
                        path.display()
                    );
                }
                self.best = Some(current);
                self.save(&path, model)?;
            } else if self.verbose > 0 {
                say!(
                    "\nEpoch {}: {} did not improve from {:.5}",
                    epoch + 1,
                    self.monitor.name,
                    best
                );
            }
        } else {
            if self.verbose > 0 {
                say!("\nEpoch {}: saving model to {}", epoch + 1, path.display());
            }
            self.save(&path, model)?;
        }
        Ok(Control::Continue)
    }
}

/// Fill `{name}` / `{name:spec}` placeholders (Python `str.format` style) from `epoch`
/// and `logs`. Supported specs: `.Nf`, `.Ne`, `0Nd`/`Nd` (integers), none.
pub fn format_path(template: &str, epoch: usize, logs: &Logs) -> Result<String> {
    let bad = |reason: String| Error::invalid_argument("ModelCheckpoint", "filepath", reason);
    let mut out = String::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open].replace("}}", "}"));
        let after = &rest[open + 1..];
        if let Some(stripped) = after.strip_prefix('{') {
            out.push('{');
            rest = stripped;
            continue;
        }
        let close = after
            .find('}')
            .ok_or_else(|| bad(format!("`{template}` has an unclosed `{{`")))?;
        let field = &after[..close];
        let (name, spec) = field.split_once(':').unwrap_or((field, ""));
        let value = if name == "epoch" {
            epoch as f64
        } else {
            *logs.get(name).ok_or_else(|| {
                bad(format!(
                    "`{{{name}}}` in `{template}` is not a log value; available: epoch, {}",
                    logs.keys().cloned().collect::<Vec<_>>().join(", ")
                ))
            })?
        };
        out.push_str(&format_value(value, spec, name == "epoch").ok_or_else(|| {
            bad(format!(
                "format spec `{spec}` of `{{{name}}}` is not supported (`.Nf`, `.Ne`, `Nd`, \
                 `0Nd`, with N at most {MAX_SPEC_WIDTH})"
            ))
        })?);
        rest = &after[close + 1..];
    }
    out.push_str(&rest.replace("}}", "}"));
    Ok(out)
}

/// Largest width or precision in a placeholder: a file name has at most 255 bytes,
/// and Rust's formatter panics on widths past 65535 (`{epoch:999999999d}`).
const MAX_SPEC_WIDTH: usize = 255;

fn format_value(v: f64, spec: &str, integer: bool) -> Option<String> {
    if spec.is_empty() {
        return Some(if integer {
            format!("{}", v as i64)
        } else {
            format!("{v}")
        });
    }
    if let Some(p) = spec.strip_prefix('.') {
        let (digits, kind) = p.split_at(p.len().checked_sub(1)?);
        let digits: usize = digits.parse().ok().filter(|&d| d <= MAX_SPEC_WIDTH)?;
        return match kind {
            "f" => Some(format!("{v:.digits$}")),
            "e" => {
                let s = format!("{v:.digits$e}");
                let (m, e) = s.split_once('e')?;
                let (sign, d) = e.strip_prefix('-').map_or(('+', e), |d| ('-', d));
                Some(format!("{m}e{sign}{d:0>2}"))
            }
            _ => None,
        };
    }
    if let Some(w) = spec.strip_suffix('d') {
        let zero = w.starts_with('0');
        let width: usize = if w.is_empty() {
            0
        } else {
            w.parse().ok().filter(|&n| n <= MAX_SPEC_WIDTH)?
        };
        let n = v as i64;
        return Some(if zero {
            format!("{n:0width$}")
        } else {
            format!("{n:width$}")
        });
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_follow_python_format() {
        let mut logs = Logs::new();
        logs.insert("val_loss".into(), 0.439_612);
        logs.insert("accuracy".into(), 0.8);
        assert_eq!(
            format_path("m-{epoch:02d}-{val_loss:.4f}.safetensors", 3, &logs).unwrap(),
            "m-03-0.4396.safetensors"
        );
        assert_eq!(format_path("e{epoch}", 12, &logs).unwrap(), "e12");
        assert_eq!(
            format_path("{{x}}-{accuracy:.1e}", 1, &logs).unwrap(),
            "{x}-8.0e-01"
        );
        let e = format_path("{val_acc:.2f}", 1, &logs)
            .unwrap_err()
            .to_string();
        assert!(e.contains("val_acc") && e.contains("val_loss"), "{e}");
        assert!(format_path("{epoch:x}", 1, &logs).is_err());
        // Extreme widths are errors, not formatter panics.
        for spec in ["{epoch:999999999d}", "{epoch:0999999d}", "{loss:.99999f}"] {
            let mut l = Logs::new();
            l.insert("loss".into(), 0.5);
            let e = format_path(spec, 1, &l).unwrap_err().to_string();
            assert!(e.contains("at most 255"), "{e}");
        }
        assert!(format_path("{epoch", 1, &logs).is_err());
    }
}
