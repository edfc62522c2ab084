//! `EarlyStopping` (keras/src/callbacks/early_stopping.py): stop when the monitored
//! value has not improved for `patience` epochs; optionally put back the best weights
//! when training ends.

use ndarray::ArrayD;

use super::messages::say;
use super::monitor::{Mode, Monitor};
use super::{Callback, Control, Logs};
use crate::error::Result;
use crate::model::Sequential;

/// `keras.callbacks.EarlyStopping`, built with Keras's argument names and defaults:
///
/// ```
/// use recurrent::callbacks::EarlyStopping;
/// let early = EarlyStopping::new()
///     .monitor("val_loss")
///     .patience(3)
///     .restore_best_weights(true);
/// ```
#[derive(Debug)]
pub struct EarlyStopping {
    monitor: Monitor,
    mode: Mode,
    min_delta: f64,
    patience: usize,
    verbose: u8,
    baseline: Option<f64>,
    restore_best_weights: bool,
    start_from_epoch: usize,
    wait: usize,
    best: Option<f64>,
    best_epoch: usize,
    best_weights: Option<Vec<(String, ArrayD<f32>)>>,
    stopped_epoch: usize,
}

impl Default for EarlyStopping {
    fn default() -> Self {
        Self::new()
    }
}

impl EarlyStopping {
    /// Keras's defaults: `monitor="val_loss"`, `min_delta=0`, `patience=0`,
    /// `verbose=0`, `mode="auto"`, `baseline=None`, `restore_best_weights=False`,
    /// `start_from_epoch=0`.
    pub fn new() -> Self {
        EarlyStopping {
            monitor: Monitor::new("val_loss", Mode::Auto),
            mode: Mode::Auto,
            min_delta: 0.0,
            patience: 0,
            verbose: 0,
            baseline: None,
            restore_best_weights: false,
            start_from_epoch: 0,
            wait: 0,
            best: None,
            best_epoch: 0,
            best_weights: None,
            stopped_epoch: 0,
        }
    }

    /// The log value to watch (`val_loss`, `val_accuracy`, `loss`, ...).
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

    /// A change smaller than this does not count as an improvement.
    pub fn min_delta(mut self, min_delta: f64) -> Self {
        self.min_delta = min_delta;
        self
    }

    /// Epochs without improvement after which training stops.
    pub fn patience(mut self, patience: usize) -> Self {
        self.patience = patience;
        self
    }

    /// 1 prints when training stops and when the best weights are restored.
    pub fn verbose(mut self, verbose: u8) -> Self {
        self.verbose = verbose;
        self
    }

    /// A value the monitored quantity must beat before the wait restarts.
    pub fn baseline(mut self, baseline: Option<f64>) -> Self {
        self.baseline = baseline;
        self
    }

    /// Put back the weights of the best epoch when training ends.
    pub fn restore_best_weights(mut self, restore: bool) -> Self {
        self.restore_best_weights = restore;
        self
    }

    /// Epochs to wait before watching at all (a warm-up).
    pub fn start_from_epoch(mut self, epoch: usize) -> Self {
        self.start_from_epoch = epoch;
        self
    }

    /// The epoch (from 0) training was stopped at, if it was.
    pub fn stopped_epoch(&self) -> Option<usize> {
        (self.stopped_epoch > 0).then_some(self.stopped_epoch)
    }

    /// The best monitored value seen and its epoch (from 0).
    pub fn best(&self) -> Option<(f64, usize)> {
        self.best.map(|b| (b, self.best_epoch))
    }

    fn is_improvement(&self, current: f64, reference: Option<f64>) -> bool {
        match reference {
            None => true,
            Some(r) => self.monitor.improves(current, r, self.min_delta),
        }
    }
}

impl Callback for EarlyStopping {
    fn on_train_begin(&mut self, _model: &mut Sequential) -> Result<()> {
        self.wait = 0;
        self.stopped_epoch = 0;
        self.best = None;
        self.best_weights = None;
        self.best_epoch = 0;
        Ok(())
    }

    fn on_epoch_end(
        &mut self,
        epoch: usize,
        logs: &Logs,
        model: &mut Sequential,
    ) -> Result<Control> {
        let current = self.monitor.value(logs, "EarlyStopping")?;
        if epoch < self.start_from_epoch {
            return Ok(Control::Continue);
        }
        if self.restore_best_weights && self.best_weights.is_none() {
            self.best_weights = Some(model.get_weights());
            self.best_epoch = epoch;
        }
        self.wait += 1;
        if self.is_improvement(current, self.best) {
            self.best = Some(current);
            self.best_epoch = epoch;
            if self.restore_best_weights {
                self.best_weights = Some(model.get_weights());
            }
            // Restart the wait only when both the baseline and the best are beaten.
            if self.baseline.is_none() || self.is_improvement(current, self.baseline) {
                self.wait = 0;
            }
            return Ok(Control::Continue);
        }
        if self.wait >= self.patience && epoch > 0 {
            self.stopped_epoch = epoch;
            return Ok(Control::Stop);
        }
        Ok(Control::Continue)
    }

    fn on_train_end(&mut self, _logs: &Logs, model: &mut Sequential) -> Result<()> {
        if self.stopped_epoch > 0 && self.verbose > 0 {
            say!("Epoch {}: early stopping", self.stopped_epoch + 1);
        }
        // Keras 3 restores at the end of training whether or not it stopped early.
        if self.restore_best_weights
            && let Some(w) = self.best_weights.take()
        {
            if self.verbose > 0 {
                say!(
                    "Restoring model weights from the end of the best epoch: {}.",
                    self.best_epoch + 1
                );
            }
            model.set_weights(&w)?;
        }
        Ok(())
    }
}
