//! Ctrl-C during `fit`: a flag set by the signal handler, checked by this callback
//! after every batch. When set, the callback ends `fit` with an error right after the
//! batch that was running (so the model holds consistent weights and optimizer
//! state), and the caller saves a checkpoint. Completed epochs are kept here so the
//! history is not lost with `fit`'s return value.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::{Callback, Control, Logs};
use crate::error::{Error, Result};
use crate::model::{History, Sequential};

/// Message of the error `fit` returns when interrupted; see `is_interrupt`.
pub const INTERRUPTED: &str = "training interrupted (Ctrl-C)";

pub struct Interrupt {
    flag: Arc<AtomicBool>,
    history: History,
    completed_epochs: usize,
    batches_in_epoch: usize,
}

impl Interrupt {
    /// Watch `flag` (set it from a signal handler, e.g. with the `ctrlc` crate).
    pub fn new(flag: Arc<AtomicBool>) -> Self {
        Interrupt {
            flag,
            history: History::default(),
            completed_epochs: 0,
            batches_in_epoch: 0,
        }
    }

    /// Epochs completed in this `fit` call, with their logs.
    pub fn history(&self) -> &History {
        &self.history
    }

    /// The epoch counter to resume from (`initial_epoch`): the last completed epoch
    /// + 1, or the `initial_epoch` of the interrupted run if none completed.
    pub fn completed_epochs(&self) -> usize {
        self.completed_epochs
    }

    /// Batches done in the epoch that was interrupted.
    pub fn batches_in_epoch(&self) -> usize {
        self.batches_in_epoch
    }

    pub fn is_set(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }
}

/// Whether `e` is the error this callback ends `fit` with.
pub fn is_interrupt(e: &Error) -> bool {
    matches!(e, Error::State(m) if m == INTERRUPTED)
}

impl Callback for Interrupt {
    fn on_epoch_begin(&mut self, epoch: usize) -> Result<()> {
        if self.completed_epochs < epoch {
            self.completed_epochs = epoch;
        }
        self.batches_in_epoch = 0;
        Ok(())
    }

    fn on_train_batch_end(&mut self, batch: usize, _logs: &Logs) -> Result<()> {
        self.batches_in_epoch = batch + 1;
        if self.flag.load(Ordering::SeqCst) {
            return Err(Error::State(INTERRUPTED.to_string()));
        }
        Ok(())
    }

    fn on_epoch_end(
        &mut self,
        epoch: usize,
        logs: &Logs,
        _model: &mut Sequential,
    ) -> Result<Control> {
        self.history.push(epoch, logs);
        self.completed_epochs = epoch + 1;
        // A Ctrl-C during validation: stop after this (complete) epoch.
        if self.flag.load(Ordering::SeqCst) {
            return Err(Error::State(INTERRUPTED.to_string()));
        }
        Ok(Control::Continue)
    }
}
