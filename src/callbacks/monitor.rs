//! The comparison shared by EarlyStopping, ModelCheckpoint and ReduceLROnPlateau
//! (Keras's `MonitorCallback`): which direction is better for the monitored value.

use serde::{Deserialize, Serialize};

use super::Logs;
use crate::error::{Error, Result};

/// Keras `mode`: whether the monitored quantity should go down or up; `auto` picks
/// `max` for accuracy-like names and `min` otherwise.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    #[default]
    Auto,
    Min,
    Max,
}

impl Mode {
    /// Resolve `auto` for `monitor` as Keras's `MonitorCallback._set_monitor_op` does:
    /// names containing "acc" (or "auc", "precision", "recall", "f1") are maximised.
    pub fn resolve(self, monitor: &str) -> Mode {
        match self {
            Mode::Auto => {
                let m = monitor.strip_prefix("val_").unwrap_or(monitor);
                let maximise = ["acc", "auc", "precision", "recall", "f1", "fbeta"]
                    .iter()
                    .any(|k| m.contains(k));
                if maximise { Mode::Max } else { Mode::Min }
            }
            other => other,
        }
    }
}

/// A monitored log value and its direction.
#[derive(Clone, Debug)]
pub struct Monitor {
    pub name: String,
    /// `true` when larger is better.
    pub maximize: bool,
}

impl Monitor {
    pub fn new(name: &str, mode: Mode) -> Self {
        Monitor {
            name: name.to_string(),
            maximize: mode.resolve(name) == Mode::Max,
        }
    }

    /// The value in `logs`; an error naming the available keys if it is missing
    /// (Keras only warns, which silently disables the callback).
    pub fn value(&self, logs: &Logs, who: &str) -> Result<f64> {
        logs.get(&self.name).copied().ok_or_else(|| {
            Error::invalid_argument(
                who,
                "monitor",
                format!(
                    "`{}` is not in the logs; available: {}",
                    self.name,
                    logs.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
            )
        })
    }

    /// The worst possible value (Keras's initial `best`).
    pub fn worst(&self) -> f64 {
        if self.maximize {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        }
    }

    /// Strictly better than `reference` by more than `min_delta` (`min_delta >= 0`).
    pub fn improves(&self, current: f64, reference: f64, min_delta: f64) -> bool {
        let d = min_delta.abs();
        if self.maximize {
            current - d > reference
        } else {
            current + d < reference
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_mode_and_min_delta() {
        let loss = Monitor::new("val_loss", Mode::Auto);
        assert!(!loss.maximize);
        assert!(loss.improves(0.5, 0.6, 0.05));
        assert!(!loss.improves(0.56, 0.6, 0.05));
        let acc = Monitor::new("val_accuracy", Mode::Auto);
        assert!(acc.maximize);
        assert!(acc.improves(0.8, 0.7, 0.0));
        assert!(!acc.improves(0.7, 0.7, 0.0));
        assert!(Monitor::new("val_accuracy", Mode::Min).improves(0.6, 0.7, 0.0));
        let mut logs = Logs::new();
        logs.insert("loss".into(), 1.0);
        let e = loss.value(&logs, "EarlyStopping").unwrap_err().to_string();
        assert!(e.contains("val_loss") && e.contains("loss"), "{e}");
    }
}
