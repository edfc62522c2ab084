//! `Sequential::fit`: Keras's training loop. Per epoch: shuffle the training samples
//! (after `validation_split` took the last fraction, unshuffled, as Keras does), one
//! optimizer step per batch (the last batch may be smaller), then validation.
//! A non-finite loss or gradient stops training with an error before the step is
//! applied, so the weights keep their last finite values.

use std::io::{IsTerminal, Write};
use std::time::Instant;

use ndarray::{ArrayD, Axis};

use super::data::{Inputs, Targets};
use super::history::History;
use super::sequential::{Prepared, Sequential, check_batch_size};
use crate::callbacks::{Callback, Control, Logs};
use crate::error::{Error, Result};
use crate::layers::Param;
use crate::metrics::MetricState;

/// Arguments of `fit`, with Keras's defaults (`FitOptions::default()`).
pub struct FitOptions<'a> {
    pub epochs: usize,
    /// Default 32.
    pub batch_size: Option<usize>,
    /// Held-out data evaluated after each epoch; takes precedence over
    /// `validation_split`.
    pub validation_data: Option<(Inputs<'a>, Targets<'a>)>,
    /// Fraction in [0, 1) of the samples, taken from the end before shuffling.
    pub validation_split: f64,
    /// Shuffle the training samples before each epoch.
    pub shuffle: bool,
    /// 0 silent, 1 progress bar, 2 one line per epoch.
    pub verbose: u8,
    /// Epoch to start from (for resuming); epochs run from `initial_epoch` to `epochs`.
    pub initial_epoch: usize,
    pub callbacks: Vec<&'a mut dyn Callback>,
}

impl Default for FitOptions<'_> {
    fn default() -> Self {
        FitOptions {
            epochs: 1,
            batch_size: None,
            validation_data: None,
            validation_split: 0.0,
            shuffle: true,
            verbose: 1,
            initial_epoch: 0,
            callbacks: Vec::new(),
        }
    }
}

impl Sequential {
    /// Train the model (Keras `model.fit`). Returns the per-epoch `History`.
    pub fn fit<'x, 'y, 'o>(
        &mut self,
        x: impl Into<Inputs<'x>>,
        y: impl Into<Targets<'y>>,
        mut options: FitOptions<'o>,
    ) -> Result<History> {
        let batch_size = check_batch_size(options.batch_size)?;
        let vs = options.validation_split;
        if !(0.0..1.0).contains(&vs) {
            return Err(Error::invalid_argument(
                "fit",
                "validation_split",
                format!("must be in [0, 1), got {vs}"),
            ));
        }
        if options.initial_epoch > options.epochs {
            return Err(Error::invalid_argument(
                "fit",
                "initial_epoch",
                format!(
                    "{} is after the last epoch ({})",
                    options.initial_epoch, options.epochs
                ),
            ));
        }
        let data = self.prepare_data(x.into(), y.into(), "fit")?;
        let n = data.x.len();
        let (train_len, external_val) = match options.validation_data.take() {
            Some((vx, vy)) => (n, Some(self.prepare_data(vx, vy, "validation_data")?)),
            None if vs > 0.0 => {
                let split_at = (n as f64 * (1.0 - vs)).floor() as usize;
                if split_at == 0 || split_at == n {
                    return Err(Error::invalid_argument(
                        "fit",
                        "validation_split",
                        format!(
                            "{vs} of {n} samples leaves {split_at} for training and {} for \
                             validation; both need at least one",
                            n - split_at
                        ),
                    ));
                }
                (split_at, None)
            }
            None => (n, None),
        };
        let split_val = (external_val.is_none() && train_len < n).then(|| Prepared {
            x: match &data.x {
                Inputs::Ids(a) => Inputs::Ids(a.slice_axis(Axis(0), (train_len..n).into()).into()),
                Inputs::Floats(a) => {
                    Inputs::Floats(a.slice_axis(Axis(0), (train_len..n).into()).into())
                }
            },
            y: data.y.slice_axis(Axis(0), (train_len..n).into()).to_owned(),
            accuracy: data.accuracy,
        });

        let steps = train_len.div_ceil(batch_size);
        let mut callbacks = std::mem::take(&mut options.callbacks);
        let mut history = History::default();
        for cb in callbacks.iter_mut() {
            cb.on_train_begin(self)?;
        }
        let mut last_logs = Logs::new();
        let mut order: Vec<usize> = (0..train_len).collect();
        let tty = std::io::stdout().is_terminal();
        for epoch in options.initial_epoch..options.epochs {
            for cb in callbacks.iter_mut() {
                cb.on_epoch_begin(epoch)?;
            }
            if options.verbose > 0 {
                println!("Epoch {}/{}", epoch + 1, options.epochs);
            }
            if options.shuffle {
                order.sort_unstable();
                self.train_rng.shuffle(&mut order);
            }
            let start_time = Instant::now();
            let mut acc = EpochTotals::new(self.metrics(), data.accuracy);
            for (step, idx) in order.chunks(batch_size).enumerate() {
                let xb = data.x.select(idx);
                let yb = super::data::select_rows(&data.y, idx);
                let loss =
                    self.train_step(xb.view(), &yb, &mut acc.states)
                        .map_err(|e| match e {
                            Error::Numerical(m) => Error::Numerical(format!(
                                "{m} (epoch {}, batch {}); the weights keep their values from \
                             before this batch",
                                epoch + 1,
                                step + 1
                            )),
                            other => other,
                        })?;
                acc.add(loss, idx.len());
                let logs = acc.logs(self.metrics());
                for cb in callbacks.iter_mut() {
                    cb.on_train_batch_end(step, &logs)?;
                }
                if options.verbose == 1 && tty {
                    print!(
                        "\r{}",
                        progress_line(step + 1, steps, start_time, &logs, false)
                    );
                    let _ = std::io::stdout().flush();
                }
            }
            let mut logs = acc.logs(self.metrics());
            // Separate branches: `Inputs` is invariant in its lifetime.
            let val_logs = match (&external_val, &split_val) {
                (Some(v), _) => Some(self.evaluate_prepared(v, batch_size)?),
                (None, Some(v)) => Some(self.evaluate_prepared(v, batch_size)?),
                (None, None) => None,
            };
            if let Some(val_logs) = val_logs {
                for (k, value) in val_logs {
                    logs.insert(format!("val_{k}"), value);
                }
            }
            match options.verbose {
                0 => {}
                1 => {
                    let line = progress_line(steps, steps, start_time, &logs, false);
                    if tty {
                        println!("\r{line}");
                    } else {
                        println!("{line}");
                    }
                }
                _ => println!("{}", progress_line(steps, steps, start_time, &logs, true)),
            }
            history.push(epoch, &logs);
            let mut stop = false;
            for cb in callbacks.iter_mut() {
                stop |= cb.on_epoch_end(epoch, &logs, self)? == Control::Stop;
            }
            last_logs = logs;
            if stop {
                break;
            }
        }
        for cb in callbacks.iter_mut() {
            cb.on_train_end(&last_logs, self)?;
        }
        Ok(history)
    }

    /// Forward, loss, backward and one optimizer step on a batch. Returns the batch
    /// loss; adds the batch to the metrics' states.
    fn train_step(
        &mut self,
        x: crate::layers::LayerInput<'_>,
        y: &ArrayD<f32>,
        metrics: &mut [MetricState],
    ) -> Result<f64> {
        let loss_fn = self
            .compiled
            .as_ref()
            .expect("checked in prepare_data")
            .loss;
        let mut rng = std::mem::replace(&mut self.train_rng, crate::rng::SeededRng::new(0));
        let out = self.forward_for_loss(x, true, &mut rng);
        self.train_rng = rng;
        let out = out?;
        let (value, fused) = match self.fused_logits(loss_fn) {
            Some(z) => (loss_fn.value_and_grad_from_logits(y.view(), z)?, true),
            None => (loss_fn.value_and_grad(y.view(), out.view())?, false),
        };
        if !value.loss.is_finite() {
            return Err(Error::Numerical(format!("the loss became {}", value.loss)));
        }
        for m in metrics.iter_mut() {
            m.update(y.view(), out.view())?;
        }
        let mut grad = Some(value.grad);
        let n_layers = self.layers.len();
        for (i, layer) in self.layers.iter_mut().enumerate().rev() {
            let Some(g) = grad.take() else { break };
            grad = if fused && i + 1 == n_layers {
                layer.backward_from_logits(g)?
            } else {
                layer.backward(g)?
            };
        }
        let names: Vec<String> = self
            .layers
            .iter()
            .flat_map(|l| {
                l.params()
                    .into_iter()
                    .map(|p| format!("{}/{}", l.name(), p.name))
                    .collect::<Vec<_>>()
            })
            .collect();
        let mut vars: Vec<(String, &mut Param)> = names
            .into_iter()
            .zip(self.layers.iter_mut().flat_map(|l| l.params_mut()))
            .collect();
        for (name, p) in &vars {
            let finite = p.grad.as_slice().map(crate::kernels::fast_math::all_finite);
            if finite == Some(true) {
                continue;
            }
            if let Some(v) = p.grad.iter().find(|v| !v.is_finite()) {
                return Err(Error::Numerical(format!(
                    "the gradient of `{name}` contains {v}"
                )));
            }
        }
        let optimizer = &mut self
            .compiled
            .as_mut()
            .expect("checked in prepare_data")
            .optimizer;
        optimizer.apply(&mut vars)?;
        Ok(value.loss)
    }
}

/// Running sums of one epoch: the loss, and each metric's state (Keras's metrics
/// accumulate over the epoch: AUC from the epoch's counts, not a mean of batches).
struct EpochTotals {
    loss_sum: f64,
    samples: usize,
    states: Vec<MetricState>,
}

impl EpochTotals {
    fn new(metrics: &[crate::metrics::Metric], accuracy: crate::metrics::AccuracyKind) -> Self {
        EpochTotals {
            loss_sum: 0.0,
            samples: 0,
            states: metrics.iter().map(|m| m.state(accuracy)).collect(),
        }
    }

    fn add(&mut self, loss: f64, batch: usize) {
        // Keras weights each batch loss by its batch size.
        self.loss_sum += loss * batch as f64;
        self.samples += batch;
    }

    fn logs(&self, metrics: &[crate::metrics::Metric]) -> Logs {
        let mut logs = Logs::new();
        logs.insert(
            "loss".to_string(),
            self.loss_sum / self.samples.max(1) as f64,
        );
        for (m, s) in metrics.iter().zip(&self.states) {
            logs.insert(m.name().to_string(), s.result());
        }
        logs
    }
}

/// Keras's Progbar line: verbose 1 `25/25 ━━━━━━━━━━━━━━━━━━━━ 2s 67ms/step - ...`,
/// verbose 2 `25/25 - 2s - 67ms/step - ...`.
fn progress_line(step: usize, steps: usize, start: Instant, logs: &Logs, one_line: bool) -> String {
    let elapsed = start.elapsed().as_secs_f64();
    let per_step = elapsed / step.max(1) as f64;
    let per_step = if per_step >= 1.0 || per_step == 0.0 {
        format!("{per_step:.0}s/step")
    } else if per_step >= 1e-3 {
        format!("{:.0}ms/step", per_step * 1e3)
    } else {
        format!("{:.0}us/step", per_step * 1e6)
    };
    let values: String = logs
        .iter()
        .map(|(k, v)| format!(" - {k}: {}", format_value(*v)))
        .collect();
    let width = steps.to_string().len();
    if one_line {
        format!("{step:>width$}/{steps} - {elapsed:.0}s - {per_step}{values}")
    } else {
        let filled = (20 * step) / steps.max(1);
        let bar: String = "━".repeat(filled) + &" ".repeat(20 - filled);
        let time = if step == steps {
            format!("{elapsed:.0}s {per_step}")
        } else {
            let eta = per_step_secs(elapsed, step) * (steps - step) as f64;
            format!("{eta:.0}s {per_step}")
        };
        format!("{step:>width$}/{steps} {bar} {time}{values}")
    }
}

fn per_step_secs(elapsed: f64, step: usize) -> f64 {
    elapsed / step.max(1) as f64
}

/// Keras prints `{:.4f}` when |v| > 1e-3, else `{:.4e}` (Python's exponent style).
fn format_value(v: f64) -> String {
    if v.abs() > 1e-3 {
        format!("{v:.4}")
    } else {
        let s = format!("{v:.4e}");
        match s.split_once('e') {
            Some((m, e)) => {
                let (sign, digits) = match e.strip_prefix('-') {
                    Some(d) => ('-', d),
                    None => ('+', e),
                };
                format!("{m}e{sign}{digits:0>2}")
            }
            None => s,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_formatted_as_keras() {
        assert_eq!(format_value(0.41642), "0.4164");
        assert_eq!(format_value(0.00012345), "1.2345e-04");
        assert_eq!(format_value(0.0), "0.0000e+00");
    }
}
