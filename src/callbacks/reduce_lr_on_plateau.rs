//! `ReduceLROnPlateau` (keras/src/callbacks/reduce_lr_on_plateau.py): multiply the
//! learning rate by `factor` when the monitored value has not improved by more than
//! `min_delta` for `patience` epochs, then wait `cooldown` epochs.

use super::monitor::Monitor;
use super::{Callback, Control, Logs};
use crate::config::ReduceLrOnPlateauConfig;
use crate::error::{Error, Result};
use crate::model::Sequential;

pub struct ReduceLrOnPlateau {
    config: ReduceLrOnPlateauConfig,
    monitor: Monitor,
    best: f64,
    wait: usize,
    cooldown_counter: usize,
}

impl ReduceLrOnPlateau {
    pub fn new(config: ReduceLrOnPlateauConfig) -> Result<Self> {
        if !(0.0..1.0).contains(&config.factor) {
            return Err(Error::invalid_argument(
                "ReduceLROnPlateau",
                "factor",
                format!(
                    "{} must be in [0, 1) (it multiplies the learning rate)",
                    config.factor
                ),
            ));
        }
        let monitor = Monitor::new(&config.monitor, config.mode);
        Ok(ReduceLrOnPlateau {
            best: monitor.worst(),
            monitor,
            config,
            wait: 0,
            cooldown_counter: 0,
        })
    }
}

impl Callback for ReduceLrOnPlateau {
    fn on_train_begin(&mut self, _model: &mut Sequential) -> Result<()> {
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
        if self
            .monitor
            .improves(current, self.best, self.config.min_delta)
        {
            self.best = current;
            self.wait = 0;
        } else if self.cooldown_counter == 0 {
            self.wait += 1;
            if self.wait >= self.config.patience {
                let opt = model.optimizer_mut().ok_or_else(|| {
                    Error::State("ReduceLROnPlateau needs a compiled model".into())
                })?;
                let old = opt.config().learning_rate();
                // Keras compares against min_lr in float32.
                if (old as f32) > (self.config.min_lr as f32) {
                    let new = (old * self.config.factor).max(self.config.min_lr);
                    opt.set_learning_rate(new)?;
                    if self.config.verbose > 0 {
                        println!(
                            "\nEpoch {}: ReduceLROnPlateau reducing learning rate to {new}.",
                            epoch + 1
                        );
                    }
                    self.cooldown_counter = self.config.cooldown;
                    self.wait = 0;
                }
            }
        }
        Ok(Control::Continue)
    }
}
