//! `ReduceLROnPlateau` (keras/src/callbacks/reduce_lr_on_plateau.py): multiply the
//! learning rate by `factor` when the monitored value has not improved by more than
//! `min_delta` for `patience` epochs, then wait `cooldown` epochs.

use super::messages::say;
use super::monitor::{Mode, Monitor};
use super::{Callback, Control, Logs};
use crate::error::{Error, Result};
use crate::model::Sequential;

/// `keras.callbacks.ReduceLROnPlateau`, built with Keras's argument names and
/// defaults:
///
/// ```
/// use recurrent::callbacks::ReduceLrOnPlateau;
/// let plateau = ReduceLrOnPlateau::new().factor(0.5).patience(2).min_lr(1e-5);
/// ```
///
/// A `factor` outside [0, 1) is refused when training begins (`validate`), before
/// any epoch runs.
#[derive(Debug)]
pub struct ReduceLrOnPlateau {
    monitor: Monitor,
    mode: Mode,
    factor: f64,
    patience: usize,
    verbose: u8,
    min_delta: f64,
    cooldown: usize,
    min_lr: f64,
    best: f64,
    wait: usize,
    cooldown_counter: usize,
}

impl Default for ReduceLrOnPlateau {
    fn default() -> Self {
        Self::new()
    }
}

impl ReduceLrOnPlateau {
    /// Keras's defaults: `monitor="val_loss"`, `factor=0.1`, `patience=10`,
    /// `verbose=0`, `mode="auto"`, `min_delta=1e-4`, `cooldown=0`, `min_lr=0`.
    pub fn new() -> Self {
        let monitor = Monitor::new("val_loss", Mode::Auto);
        ReduceLrOnPlateau {
            best: monitor.worst(),
            monitor,
            mode: Mode::Auto,
            factor: 0.1,
            patience: 10,
            verbose: 0,
            min_delta: 1e-4,
            cooldown: 0,
            min_lr: 0.0,
            wait: 0,
            cooldown_counter: 0,
        }
    }

    /// The log value to watch.
    pub fn monitor(mut self, monitor: impl Into<String>) -> Self {
        self.monitor = Monitor::new(&monitor.into(), self.mode);
        self.best = self.monitor.worst();
        self
    }

    /// Whether the monitored value should go down (`Min`) or up (`Max`); `Auto`
    /// decides from its name.
    pub fn mode(mut self, mode: Mode) -> Self {
        self.mode = mode;
        self.monitor = Monitor::new(&self.monitor.name, mode);
        self.best = self.monitor.worst();
        self
    }

    /// What the learning rate is multiplied by, in [0, 1).
    pub fn factor(mut self, factor: f64) -> Self {
        self.factor = factor;
        self
    }

    /// Epochs without improvement before the learning rate is reduced.
    pub fn patience(mut self, patience: usize) -> Self {
        self.patience = patience;
        self
    }

    /// 1 prints each reduction.
    pub fn verbose(mut self, verbose: u8) -> Self {
        self.verbose = verbose;
        self
    }

    /// A change smaller than this does not count as an improvement.
    pub fn min_delta(mut self, min_delta: f64) -> Self {
        self.min_delta = min_delta;
        self
    }

    /// Epochs to wait after a reduction before watching again.
    pub fn cooldown(mut self, cooldown: usize) -> Self {
        self.cooldown = cooldown;
        self
    }

    /// The learning rate is never reduced below this.
    pub fn min_lr(mut self, min_lr: f64) -> Self {
        self.min_lr = min_lr;
        self
    }

    /// Refuse a `factor` outside [0, 1) (Keras raises for `factor >= 1`; a negative
    /// factor would make the learning rate negative).
    pub fn validate(&self) -> Result<()> {
        if !(0.0..1.0).contains(&self.factor) {
            return Err(Error::invalid_argument(
                "ReduceLROnPlateau",
                "factor",
                format!(
                    "{} must be in [0, 1) (it multiplies the learning rate)",
                    self.factor
                ),
            ));
        }
        Ok(())
    }
}

impl Callback for ReduceLrOnPlateau {
    fn logs_learning_rate(&self) -> bool {
        true
    }

    fn on_train_begin(&mut self, _model: &mut Sequential) -> Result<()> {
        self.validate()?;
        self.best = self.monitor.worst();
        self.wait = 0;
        self.cooldown_counter = 0;
        Ok(())
    }

    fn on_epoch_end(
        &mut self,
        epoch: usize,
        logs: &Logs,
        model: &mut Sequential,
    ) -> Result<Control> {
        let current = self.monitor.value(logs, "ReduceLROnPlateau")?;
        let in_cooldown = self.cooldown_counter > 0;
        if in_cooldown {
            self.cooldown_counter -= 1;
            self.wait = 0;
        }
        if self.monitor.improves(current, self.best, self.min_delta) {
            self.best = current;
            self.wait = 0;
        } else if self.cooldown_counter == 0 {
            self.wait += 1;
            if self.wait >= self.patience {
                let opt = model.optimizer_mut().ok_or_else(|| {
                    Error::State("ReduceLROnPlateau needs a compiled model".into())
                })?;
                let old = opt.config().learning_rate();
                // Keras compares against min_lr in float32.
                if (old as f32) > (self.min_lr as f32) {
                    let new = (old * self.factor).max(self.min_lr);
                    opt.set_learning_rate(new)?;
                    if self.verbose > 0 {
                        say!(
                            "\nEpoch {}: ReduceLROnPlateau reducing learning rate to {new}.",
                            epoch + 1
                        );
                    }
                    self.cooldown_counter = self.cooldown;
                    self.wait = 0;
                }
            }
        }
        Ok(Control::Continue)
    }
}
