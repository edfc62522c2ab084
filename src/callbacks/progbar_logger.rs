//! `ProgbarLogger`: the Keras progress display as a callback ("Epoch 3/10", then the
//! bar or the epoch line of [`Progbar`]). `fit` installs one, first in the callback
//! list, for `verbose > 0` (as Keras installs its `ProgbarLogger`); add one yourself
//! only with `verbose = 0`, e.g. to write elsewhere with `with_output`.

use std::io::{IsTerminal, Write};

use super::{Callback, Control, Logs};
use crate::error::{Error, Result};
use crate::model::Sequential;
pub use crate::progbar::{Display, Progbar};

pub struct ProgbarLogger {
    epochs: usize,
    steps: usize,
    display: Display,
    bar: Option<Progbar>,
    out: Box<dyn Write + Send>,
}

impl ProgbarLogger {
    /// `epochs` as passed to `fit`, `steps` batches per epoch; `verbose` as Keras
    /// (0, 1, 2), on stdout.
    pub fn new(epochs: usize, steps: usize, verbose: u8) -> Self {
        let display = Display::for_verbose(verbose, std::io::stdout().is_terminal());
        Self::with_output(epochs, steps, display, Box::new(std::io::stdout()))
    }

    /// Same, writing to `out` with an explicit display mode.
    pub fn with_output(
        epochs: usize,
        steps: usize,
        display: Display,
        out: Box<dyn Write + Send>,
    ) -> Self {
        ProgbarLogger {
            epochs,
            steps,
            display,
            bar: None,
            out,
        }
    }

    fn write_err(e: std::io::Error) -> Error {
        Error::io("<stdout>", e)
    }
}

fn values(logs: &Logs) -> Vec<(String, f64)> {
    logs.iter().map(|(k, v)| (k.clone(), *v)).collect()
}

impl Callback for ProgbarLogger {
    fn on_epoch_begin(&mut self, epoch: usize) -> Result<()> {
        self.bar = Some(Progbar::new(self.steps, self.display));
        if self.display != Display::Silent && self.epochs > 1 {
            writeln!(self.out, "Epoch {}/{}", epoch + 1, self.epochs).map_err(Self::write_err)?;
        }
        Ok(())
    }

    fn on_train_batch_end(&mut self, batch: usize, logs: &Logs) -> Result<()> {
        if let Some(bar) = self.bar.as_mut() {
            bar.update(batch + 1, &values(logs), false, &mut self.out)
                .map_err(Self::write_err)?;
        }
        Ok(())
    }

    fn on_epoch_end(
        &mut self,
        _epoch: usize,
        logs: &Logs,
        _model: &mut Sequential,
    ) -> Result<Control> {
        if let Some(bar) = self.bar.as_mut() {
            bar.update(self.steps, &values(logs), true, &mut self.out)
                .map_err(Self::write_err)?;
        }
        Ok(Control::Continue)
    }
}
