//! `TerminateOnNaN`: stop training when the loss becomes NaN or infinite.
//!
//! `fit` itself already refuses a non-finite batch loss (it returns an error before
//! the step is applied, so the weights stay finite); this callback additionally stops
//! cleanly, at the end of the epoch, when an epoch's logged loss or validation loss
//! is not finite.

use super::messages::say;
use super::{Callback, Control, Logs};
use crate::error::Result;
use crate::model::Sequential;

#[derive(Debug, Default)]
pub struct TerminateOnNan {
    bad_batch: Option<usize>,
}

impl TerminateOnNan {
    pub fn new() -> Self {
        Self::default()
    }
}

impl Callback for TerminateOnNan {
    fn on_epoch_begin(&mut self, _epoch: usize) -> Result<()> {
        self.bad_batch = None;
        Ok(())
    }

    fn on_train_batch_end(&mut self, batch: usize, logs: &Logs) -> Result<()> {
        if self.bad_batch.is_none() && logs.get("loss").is_some_and(|l| !l.is_finite()) {
            say!("Batch {batch}: Invalid loss, terminating training");
            self.bad_batch = Some(batch);
        }
        Ok(())
    }

    fn on_epoch_end(
        &mut self,
        epoch: usize,
        logs: &Logs,
        _model: &mut Sequential,
    ) -> Result<Control> {
        let bad = ["loss", "val_loss"]
            .iter()
            .find(|k| logs.get(**k).is_some_and(|v| !v.is_finite()));
        if self.bad_batch.is_some() || bad.is_some() {
            if let Some(k) = bad {
                say!("Epoch {}: Invalid {k}, terminating training", epoch + 1);
            }
            return Ok(Control::Stop);
        }
        Ok(Control::Continue)
    }
}
