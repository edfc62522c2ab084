//! `Sequential::fit`: Keras's training loop, in its steps: check the arguments, split
//! off the validation data (`validation_split` takes the last fraction, unshuffled,
//! as Keras does), then per epoch shuffle the training samples, one optimizer step
//! per batch (the last batch may be smaller), validate, and tell the callbacks. The
//! progress display is a callback too (`ProgbarLogger`, installed first for
//! `verbose > 0`, as Keras installs its own).
//! A non-finite loss or gradient stops training with an error before the step is
//! applied, so the weights keep their last finite values.

use ndarray::{ArrayD, Axis};

use super::data::{Inputs, Targets};
use super::history::History;
use super::sequential::{Prepared, Sequential, check_batch_size};
use crate::callbacks::{Callback, Control, Logs, ProgbarLogger};
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
    /// 0 silent, 1 progress bar, 2 one line per epoch (Keras's `ProgbarLogger`).
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

/// The data `fit` validates on. Two variants, not one `Prepared`: `Inputs` is
/// invariant in its lifetime, and the two borrow from different places.
enum Validation<'g, 'd> {
    /// `validation_data`.
    Given(Prepared<'g>),
    /// The end of the training data (`validation_split`).
    Split(Prepared<'d>),
}

/// The callbacks of one `fit` call, called in order (Keras's `CallbackList`).
struct CallbackList<'c> {
    items: Vec<&'c mut dyn Callback>,
}

impl CallbackList<'_> {
    fn on_train_begin(&mut self, model: &mut Sequential) -> Result<()> {
        self.items
            .iter_mut()
            .try_for_each(|cb| cb.on_train_begin(model))
    }

    fn on_epoch_begin(&mut self, epoch: usize, model: &mut Sequential) -> Result<()> {
        self.items.iter_mut().try_for_each(|cb| {
            cb.on_epoch_begin(epoch)?;
            cb.on_epoch_begin_with_model(epoch, model)
        })
    }

    fn logs_learning_rate(&self) -> bool {
        self.items.iter().any(|cb| cb.logs_learning_rate())
    }

    fn on_train_batch_end(&mut self, batch: usize, logs: &Logs) -> Result<()> {
        self.items
            .iter_mut()
            .try_for_each(|cb| cb.on_train_batch_end(batch, logs))
    }

    fn stop_training(&self) -> bool {
        self.items.iter().any(|cb| cb.stop_training())
    }

    /// Every callback sees the epoch's end; `Stop` if any of them asked for it.
    fn on_epoch_end(
        &mut self,
        epoch: usize,
        logs: &Logs,
        model: &mut Sequential,
    ) -> Result<Control> {
        let mut control = Control::Continue;
        for cb in self.items.iter_mut() {
            if cb.on_epoch_end(epoch, logs, model)? == Control::Stop {
                control = Control::Stop;
            }
        }
        Ok(control)
    }

    fn on_train_end(&mut self, logs: &Logs, model: &mut Sequential) -> Result<()> {
        self.items
            .iter_mut()
            .try_for_each(|cb| cb.on_train_end(logs, model))
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
        check_fit_options(&options)?;
        let data = self.prepare_data(x.into(), y.into(), "fit")?;
        let (train_len, validation) = match options.validation_data.take() {
            Some((vx, vy)) => {
                let v = self.prepare_data(vx, vy, "validation_data")?;
                (data.x.len(), Some(Validation::Given(v)))
            }
            None => match split_validation(&data, options.validation_split)? {
                (n, Some(v)) => (n, Some(Validation::Split(v))),
                (n, None) => (n, None),
            },
        };

        // Progress first, so its epoch line precedes the other callbacks' messages.
        let steps = train_len.div_ceil(batch_size);
        let mut progbar = (options.verbose > 0)
            .then(|| ProgbarLogger::new(options.epochs, steps, options.verbose));
        let mut items: Vec<&mut dyn Callback> = Vec::new();
        if let Some(p) = progbar.as_mut() {
            items.push(p);
        }
        for cb in options.callbacks.iter_mut() {
            items.push(&mut **cb);
        }
        let mut callbacks = CallbackList { items };

        callbacks.on_train_begin(self)?;
        let mut history = History::default();
        let mut last_logs = Logs::new();
        let mut order: Vec<usize> = (0..train_len).collect();
        for epoch in options.initial_epoch..options.epochs {
            callbacks.on_epoch_begin(epoch, self)?;
            if options.shuffle {
                order.sort_unstable();
                self.train_rng.shuffle(&mut order);
            }
            let mut logs = self.run_epoch(epoch, &data, &order, batch_size, &mut callbacks)?;
            if let Some(v) = &validation {
                let logs_of_v = match v {
                    Validation::Given(v) => self.evaluate_prepared(v, batch_size)?,
                    Validation::Split(v) => self.evaluate_prepared(v, batch_size)?,
                };
                for (k, value) in logs_of_v {
                    logs.insert(format!("val_{k}"), value);
                }
            }
            if callbacks.logs_learning_rate()
                && let Some(opt) = self.optimizer()
            {
                // The rate this epoch trained with (float32, as Keras logs it).
                logs.insert("learning_rate".to_string(), opt.learning_rate());
            }
            history.push(epoch, &logs);
            let control = callbacks.on_epoch_end(epoch, &logs, self)?;
            last_logs = logs;
            if control == Control::Stop || callbacks.stop_training() {
                break;
            }
        }
        callbacks.on_train_end(&last_logs, self)?;
        Ok(history)
    }

    /// One pass over the training samples in `order`, one optimizer step per batch.
    /// Returns the epoch's logs (loss and metrics, averaged over the samples).
    fn run_epoch(
        &mut self,
        epoch: usize,
        data: &Prepared<'_>,
        order: &[usize],
        batch_size: usize,
        callbacks: &mut CallbackList<'_>,
    ) -> Result<Logs> {
        let mut totals = EpochTotals::new(self.metrics(), data.accuracy);
        for (step, idx) in order.chunks(batch_size).enumerate() {
            let xb = data.x.select(idx);
            let yb = super::data::select_rows(&data.y, idx);
            let loss = self
                .train_step(xb.view(), &yb, &mut totals.states)
                .map_err(|e| match e {
                    // The data passed its checks before training: a non-finite value
                    // met inside the model comes from the weights, not the data.
                    Error::Data(m) if m.contains("inf") || m.contains("NaN") => {
                        Error::Numerical(format!(
                            "training diverged: {m} (epoch {}, batch {}); the weights keep \
                             their values from before this batch",
                            epoch + 1,
                            step + 1
                        ))
                    }
                    Error::Numerical(m) => Error::Numerical(format!(
                        "{m} (epoch {}, batch {}); the weights keep their values from \
                             before this batch",
                        epoch + 1,
                        step + 1
                    )),
                    other => other,
                })?;
            totals.add(loss, idx.len());
            callbacks.on_train_batch_end(step, &totals.logs(self.metrics()))?;
            if callbacks.stop_training() {
                break;
            }
        }
        Ok(totals.logs(self.metrics()))
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

/// `fit`'s arguments that can be checked before any data is touched.
fn check_fit_options(options: &FitOptions<'_>) -> Result<()> {
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
    Ok(())
}

/// The number of training samples, and the validation part that `validation_split`
/// takes from the end of `data` (a view, no copy of the inputs), as Keras does
/// before shuffling.
fn split_validation<'d>(
    data: &'d Prepared<'_>,
    validation_split: f64,
) -> Result<(usize, Option<Prepared<'d>>)> {
    let n = data.x.len();
    if validation_split <= 0.0 {
        return Ok((n, None));
    }
    let split_at = (n as f64 * (1.0 - validation_split)).floor() as usize;
    if split_at == 0 || split_at == n {
        return Err(Error::invalid_argument(
            "fit",
            "validation_split",
            format!(
                "{validation_split} of {n} samples leaves {split_at} for training and {} for \
                 validation; both need at least one",
                n - split_at
            ),
        ));
    }
    let x = match &data.x {
        Inputs::Ids(a) => Inputs::Ids(a.slice_axis(Axis(0), (split_at..n).into()).into()),
        Inputs::Floats(a) => Inputs::Floats(a.slice_axis(Axis(0), (split_at..n).into()).into()),
    };
    let y = data.y.slice_axis(Axis(0), (split_at..n).into()).to_owned();
    let accuracy = data.accuracy;
    Ok((split_at, Some(Prepared { x, y, accuracy })))
}
