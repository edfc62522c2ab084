//! `EarlyStopping` (keras/src/callbacks/early_stopping.py): stop when the monitored
//! value has not improved for `patience` epochs; optionally put back the best weights
//! when training ends.

use ndarray::ArrayD;

use super::monitor::Monitor;
use super::{Callback, Control, Logs};
use crate::config::EarlyStoppingConfig;
use crate::error::Result;
use crate::model::Sequential;

pub struct EarlyStopping {
    config: EarlyStoppingConfig,
    monitor: Monitor,
    wait: usize,
    best: Option<f64>,
    best_epoch: usize,
    best_weights: Option<Vec<(String, ArrayD<f32>)>>,
    stopped_epoch: usize,
}

impl EarlyStopping {
    pub fn new(config: EarlyStoppingConfig) -> Self {
        let monitor = Monitor::new(&config.monitor, config.mode);
        EarlyStopping {
            config,
            monitor,
            wait: 0,
            best: None,
            best_epoch: 0,
            best_weights: None,
            stopped_epoch: 0,
        }
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
            Some(r) => self.monitor.improves(current, r, self.config.min_delta),
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
        if epoch < self.config.start_from_epoch {
            return Ok(Control::Continue);
        }
        if self.config.restore_best_weights && self.best_weights.is_none() {
            self.best_weights = Some(model.get_weights());
            self.best_epoch = epoch;
        }
        self.wait += 1;
        if self.is_improvement(current, self.best) {
            self.best = Some(current);
            self.best_epoch = epoch;
            if self.config.restore_best_weights {
                self.best_weights = Some(model.get_weights());
            }
            // Restart the wait only when both the baseline and the best are beaten.
            if self.config.baseline.is_none() || self.is_improvement(current, self.config.baseline)
            {
                self.wait = 0;
            }
            return Ok(Control::Continue);
        }
        if self.wait >= self.config.patience && epoch > 0 {
            self.stopped_epoch = epoch;
            return Ok(Control::Stop);
        }
        Ok(Control::Continue)
    }

    fn on_train_end(&mut self, _logs: &Logs, model: &mut Sequential) -> Result<()> {
        if self.stopped_epoch > 0 && self.config.verbose > 0 {
            println!("Epoch {}: early stopping", self.stopped_epoch + 1);
        }
        // Keras 3 restores at the end of training whether or not it stopped early.
        if self.config.restore_best_weights
            && let Some(w) = self.best_weights.take()
        {
            if self.config.verbose > 0 {
                println!(
                    "Restoring model weights from the end of the best epoch: {}.",
                    self.best_epoch + 1
                );
            }
            model.set_weights(&w)?;
        }
        Ok(())
    }
}
