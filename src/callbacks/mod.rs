//! Callbacks: user code that `Sequential::fit` calls at fixed points of training, as
//! Keras's `keras.callbacks.Callback`. Every hook has a default that does nothing.
//! `on_epoch_end` gets the model, so early stopping and checkpoints can read and set
//! weights (`Sequential::get_weights` / `set_weights`) and stop training.

use std::collections::BTreeMap;

pub mod csv_logger;
pub mod early_stopping;
pub mod interrupt;
pub mod learning_rate_scheduler;
pub mod messages;
pub mod model_checkpoint;
pub mod monitor;
pub mod progbar_logger;
pub mod reduce_lr_on_plateau;
pub mod terminate_on_nan;

pub use csv_logger::CsvLogger;
pub use early_stopping::EarlyStopping;
pub use interrupt::Interrupt;
pub use learning_rate_scheduler::LearningRateScheduler;
pub use model_checkpoint::ModelCheckpoint;
pub use monitor::Mode;
pub use progbar_logger::ProgbarLogger;
pub use reduce_lr_on_plateau::ReduceLrOnPlateau;
pub use terminate_on_nan::TerminateOnNan;

use crate::error::Result;
use crate::model::Sequential;

/// Metric values by name (`loss`, `accuracy`, `val_loss`, `val_accuracy`). Sorted by
/// name, which is the order Keras 3 reports them in.
pub type Logs = BTreeMap<String, f64>;

/// What training should do after a callback returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Control {
    #[default]
    Continue,
    /// Finish this epoch normally, then end `fit` (Keras `model.stop_training = True`).
    Stop,
}

/// Code `fit` calls at fixed points of training (Keras's `keras.callbacks.Callback`).
/// Pass callbacks in `FitOptions::callbacks`; they are called in that order, after
/// the progress bar `fit` installs for `verbose > 0`.
///
/// ```
/// use recurrent::{Callback, Control, Logs, Result, Sequential};
///
/// /// Stops once the training loss is below a target.
/// struct LossBelow(f64);
///
/// impl Callback for LossBelow {
///     fn on_epoch_end(&mut self, _epoch: usize, logs: &Logs, _model: &mut Sequential) -> Result<Control> {
///         Ok(if logs["loss"] < self.0 { Control::Stop } else { Control::Continue })
///     }
/// }
/// ```
pub trait Callback {
    /// Before the first epoch.
    fn on_train_begin(&mut self, _model: &mut Sequential) -> Result<()> {
        Ok(())
    }
    /// `epoch` counts from 0, as in Keras.
    fn on_epoch_begin(&mut self, _epoch: usize) -> Result<()> {
        Ok(())
    }
    /// Right after `on_epoch_begin`, with the model (Keras's `on_epoch_begin` reads
    /// `self.model`): `LearningRateScheduler` sets the optimizer's rate here.
    fn on_epoch_begin_with_model(&mut self, _epoch: usize, _model: &mut Sequential) -> Result<()> {
        Ok(())
    }
    /// Whether `fit` logs `learning_rate` each epoch (Keras 3's ReduceLROnPlateau and
    /// LearningRateScheduler write the optimizer's rate into the epoch's logs, so it is
    /// in `History` and the CSV log).
    fn logs_learning_rate(&self) -> bool {
        false
    }
    /// After each optimisation step; `logs` hold the running epoch averages.
    fn on_train_batch_end(&mut self, _batch: usize, _logs: &Logs) -> Result<()> {
        Ok(())
    }
    /// After each batch of `fit`'s validation pass (`batch` counts from 0 in every
    /// pass); an error ends `fit` with it. Keras passes the pass's running logs; here
    /// the hook is for work between batches (the Python bridge runs Ctrl-C there).
    fn on_test_batch_end(&mut self, _batch: usize) -> Result<()> {
        Ok(())
    }
    /// Asked after every batch (Keras 3 checks `model.stop_training` after every
    /// step): `true` ends the epoch after the batch that just finished (validation and
    /// `on_epoch_end` still run), then `fit`.
    fn stop_training(&self) -> bool {
        false
    }
    /// After each epoch, validation included.
    fn on_epoch_end(
        &mut self,
        _epoch: usize,
        _logs: &Logs,
        _model: &mut Sequential,
    ) -> Result<Control> {
        Ok(Control::Continue)
    }
    /// After the last epoch (also after a `Control::Stop`); `logs` are the last epoch's.
    fn on_train_end(&mut self, _logs: &Logs, _model: &mut Sequential) -> Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod builtin_tests;
