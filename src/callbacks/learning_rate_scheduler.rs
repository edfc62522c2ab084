//! `LearningRateScheduler` (keras/src/callbacks/learning_rate_scheduler.py): at the
//! start of each epoch, `schedule(epoch, current_rate)` gives the optimizer's learning
//! rate; the rate is logged as `learning_rate` at the epoch's end.

use super::Callback;
use super::messages::say;
use crate::error::{Error, Result};
use crate::model::Sequential;
use crate::optimizers::LearningRateSchedule;

type Schedule = Box<dyn FnMut(usize, f64) -> f64 + Send>;

/// `keras.callbacks.LearningRateScheduler(schedule, verbose=0)`:
///
/// ```
/// use recurrent::callbacks::LearningRateScheduler;
/// // Keras's docs example: keep the rate for 10 epochs, then decay it by e^-0.1.
/// let s = LearningRateScheduler::new(|epoch, lr| if epoch < 10 { lr } else { lr * (-0.1f64).exp() });
/// ```
///
/// The optimizer's learning rate must be a number (Keras refuses to set a rate given as
/// a `LearningRateSchedule`; so does `Optimizer::set_learning_rate`).
pub struct LearningRateScheduler {
    schedule: Schedule,
    verbose: u8,
}

impl std::fmt::Debug for LearningRateScheduler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LearningRateScheduler")
            .field("verbose", &self.verbose)
            .finish_non_exhaustive()
    }
}

impl LearningRateScheduler {
    /// `schedule(epoch, lr)`: the epoch counts from 0; `lr` is the current rate.
    pub fn new(schedule: impl FnMut(usize, f64) -> f64 + Send + 'static) -> Self {
        LearningRateScheduler {
            schedule: Box::new(schedule),
            verbose: 0,
        }
    }

    /// A Keras `LearningRateSchedule` evaluated at the epoch number (what a config file
    /// can express: `schedule = { type = "ExponentialDecay", ... }`).
    pub fn from_schedule(schedule: LearningRateSchedule) -> Self {
        Self::new(move |epoch, _| schedule.value(epoch as u64) as f64)
    }

    /// 1 prints `Epoch N: LearningRateScheduler setting learning rate to X.`
    pub fn verbose(mut self, verbose: u8) -> Self {
        self.verbose = verbose;
        self
    }
}

impl Callback for LearningRateScheduler {
    fn on_epoch_begin_with_model(&mut self, epoch: usize, model: &mut Sequential) -> Result<()> {
        let opt = model.optimizer_mut().ok_or_else(|| {
            Error::State("LearningRateScheduler: the model is not compiled".to_string())
        })?;
        let lr = (self.schedule)(epoch, opt.learning_rate());
        if !lr.is_finite() || lr < 0.0 {
            return Err(Error::invalid_argument(
                "LearningRateScheduler",
                "schedule",
                format!("gave {lr} for epoch {epoch}; a learning rate is a finite number >= 0"),
            ));
        }
        opt.set_learning_rate(lr)?;
        if self.verbose > 0 {
            say!(
                "\nEpoch {}: LearningRateScheduler setting learning rate to {lr}.",
                epoch + 1
            );
        }
        Ok(())
    }

    fn logs_learning_rate(&self) -> bool {
        true
    }
}
