//! `Sequential::fit`: Keras's training loop, in its steps: check the arguments, split
//! off the validation data (`validation_split` takes the last fraction, unshuffled,
//! as Keras does), then per epoch shuffle the training samples, one optimizer step
//! per batch (the last batch may be smaller), validate, and tell the callbacks. The
//! progress display is a callback too (`ProgbarLogger`, installed first for
//! `verbose > 0`, as Keras installs its own).
//! A non-finite loss or gradient stops training with an error before the step is
//! applied, so the weights keep their last finite values.
//!
//! Sample and class weights follow Keras 3 (`keras/src/losses/loss.py`,
//! `trainers/data_adapters`), checked against Keras's values in
//! `tests/sample_weights.rs`:
//! - each loss value is multiplied by its weight and the batch loss is
//!   `sum(w * loss) / count` (`sum_over_batch_size`: the number of loss values, not
//!   the sum of the weights), so the gradient is the weighted loss's gradient;
//! - the logged `loss` is the mean of the batch losses weighted by batch size, as
//!   without weights (Keras's loss tracker is a `Mean` with `sample_weight =
//!   batch_size`); a smaller last batch counts by its size;
//! - `class_weight` becomes per-sample weights before training
//!   (`class_weight_to_sample_weights`): class = label, rounded 0/1 label, or argmax
//!   of the one-hot row; classes not named weigh 1;
//! - `class_weight` and `sample_weight` together are an error, as in Keras;
//!   `class_weight` weighs training only, `sample_weight` is split with
//!   `validation_split` (the validation part keeps its weights), and
//!   `validation_sample_weight` weighs `validation_data`;
//! - the metrics given to `compile` are not weighted; `weighted_metrics`
//!   (`compile_with_weighted_metrics`) are, as in Keras.
//!
//! Without weights no batch does any extra work: the weights travel as an `Option`
//! and the unweighted loss is the weighted one with no weight array.

use ndarray::{ArrayD, Axis};

use super::data::{
    ClassWeight, Inputs, SampleWeight, Targets, align_sample_weight, class_weight_to_sample_weights,
};
use super::history::History;
use super::sequential::{Prepared, Sequential, check_batch_size};
use crate::callbacks::{Callback, Control, Logs, ProgbarLogger};
use crate::error::{Error, Result};
use crate::layers::Param;
use crate::metrics::{Metric, MetricState};

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
    /// Keras's `class_weight`: class index -> weight of that class's training
    /// samples (classes not named weigh 1). Not with `sample_weight`.
    pub class_weight: Option<ClassWeight>,
    /// Keras's `sample_weight`: one weight per training sample (or per sample and
    /// step for per-step outputs), finite and >= 0.
    pub sample_weight: Option<SampleWeight<'a>>,
    /// The third element of Keras's `validation_data=(x_val, y_val, val_sample_weights)`.
    pub validation_sample_weight: Option<SampleWeight<'a>>,
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
            class_weight: None,
            sample_weight: None,
            validation_sample_weight: None,
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

    fn on_test_batch_end(&mut self, batch: usize) -> Result<()> {
        self.items
            .iter_mut()
            .try_for_each(|cb| cb.on_test_batch_end(batch))
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
        let mut data = self.prepare_data(x.into(), y.into(), "fit")?;
        data.weights = self.training_weights(&data, &mut options)?;
        let (train_len, validation) = match options.validation_data.take() {
            Some((vx, vy)) => {
                let mut v = self.prepare_data(vx, vy, "validation_data")?;
                if let Some(w) = options.validation_sample_weight.take() {
                    v.weights = Some(self.loss_weights(&v, w, "validation_sample_weight")?);
                }
                (data.x.len(), Some(Validation::Given(v)))
            }
            // `class_weight` weighs training only; `sample_weight` is split too.
            None => match split_validation(
                &data,
                options.validation_split,
                options.class_weight.is_none(),
            )? {
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
                let hook = &mut |batch| callbacks.on_test_batch_end(batch);
                let logs_of_v = match v {
                    Validation::Given(v) => self.evaluate_prepared_with(v, batch_size, hook)?,
                    Validation::Split(v) => self.evaluate_prepared_with(v, batch_size, hook)?,
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

    /// The metrics and the weighted metrics.
    fn compiled_metrics(&self) -> (&[Metric], &[Metric]) {
        (self.metrics(), self.weighted_metrics())
    }

    /// Loss and metrics on `x`, `y` with one weight per sample (Keras
    /// `model.evaluate(x, y, sample_weight=...)`): the loss and the `weighted_metrics`
    /// are weighted as in `fit`, the `metrics` are not (as in Keras).
    pub fn evaluate_weighted<'x, 'y, 'w>(
        &mut self,
        x: impl Into<Inputs<'x>>,
        y: impl Into<Targets<'y>>,
        sample_weight: impl Into<SampleWeight<'w>>,
        batch_size: Option<usize>,
    ) -> Result<Logs> {
        self.evaluate_weighted_with(x, y, sample_weight, batch_size, &mut |_| Ok(()))
    }

    /// `evaluate_weighted`, calling `after_batch(batch_index)` after each batch (see
    /// `predict_with`).
    pub fn evaluate_weighted_with<'x, 'y, 'w>(
        &mut self,
        x: impl Into<Inputs<'x>>,
        y: impl Into<Targets<'y>>,
        sample_weight: impl Into<SampleWeight<'w>>,
        batch_size: Option<usize>,
        after_batch: &mut dyn FnMut(usize) -> Result<()>,
    ) -> Result<Logs> {
        let batch_size = check_batch_size(batch_size)?;
        let mut prepared = self.prepare_data(x.into(), y.into(), "evaluate")?;
        prepared.weights =
            Some(self.loss_weights(&prepared, sample_weight.into(), "sample_weight")?);
        self.evaluate_prepared_with(&prepared, batch_size, after_batch)
    }

    /// The training data's weights from `class_weight` or `sample_weight` (not both,
    /// as Keras), or None.
    fn training_weights(
        &self,
        data: &Prepared<'_>,
        options: &mut FitOptions<'_>,
    ) -> Result<Option<ArrayD<f32>>> {
        if options.validation_sample_weight.is_some() && options.validation_data.is_none() {
            return Err(Error::invalid_argument(
                "fit",
                "validation_sample_weight",
                "weighs `validation_data`, which is not given",
            ));
        }
        match (options.class_weight.as_ref(), options.sample_weight.take()) {
            (Some(_), Some(_)) => Err(Error::invalid_argument(
                "fit",
                "class_weight",
                "cannot be given together with sample_weight (as in Keras); fold the \
                 class weights into sample_weight",
            )),
            (None, Some(w)) => Ok(Some(self.loss_weights(data, w, "sample_weight")?)),
            (Some(cw), None) => {
                let loss = self.loss().expect("checked in prepare_data");
                let classes = self.output_shape().and_then(|s| *s.last()?).unwrap_or(1);
                let w = class_weight_to_sample_weights(
                    &data.y,
                    cw,
                    loss.is_sparse(),
                    loss.is_crossentropy(),
                    classes,
                )?;
                Ok(Some(w))
            }
            (None, None) => Ok(None),
        }
    }

    /// `weights` checked and shaped as the loss values of `data` (the targets'
    /// shape without the class axis, which sparse labels do not have).
    fn loss_weights(
        &self,
        data: &Prepared<'_>,
        weights: SampleWeight<'_>,
        what: &str,
    ) -> Result<ArrayD<f32>> {
        let loss = self.loss().expect("checked in prepare_data");
        let shape = data.y.shape();
        let values = if loss.is_sparse() {
            shape
        } else {
            &shape[..shape.len() - 1]
        };
        align_sample_weight(weights, values, what)
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
        let mut totals = EpochTotals::new(self.metrics(), self.weighted_metrics(), data.accuracy);
        for (step, idx) in order.chunks(batch_size).enumerate() {
            let xb = data.x.select(idx);
            let yb = super::data::select_rows(&data.y, idx);
            // Only with weights: their rows for this batch.
            let wb = data
                .weights
                .as_ref()
                .map(|w| super::data::select_rows(w, idx));
            let loss = self
                .train_step(xb.view(), &yb, wb.as_ref(), &mut totals)
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
            callbacks.on_train_batch_end(step, &totals.logs(self.compiled_metrics()))?;
            if callbacks.stop_training() {
                break;
            }
        }
        Ok(totals.logs(self.compiled_metrics()))
    }

    /// Forward, loss, backward and one optimizer step on a batch. Returns the batch
    /// loss; adds the batch to the metrics' states.
    fn train_step(
        &mut self,
        x: crate::layers::LayerInput<'_>,
        y: &ArrayD<f32>,
        weights: Option<&ArrayD<f32>>,
        totals: &mut EpochTotals,
    ) -> Result<f64> {
        let w = weights.map(|w| w.as_slice().expect("selected rows are contiguous"));
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
            Some(z) => (
                loss_fn.value_and_grad_from_logits_weighted(y.view(), z, w)?,
                true,
            ),
            None => (
                loss_fn.value_and_grad_weighted(y.view(), out.view(), w)?,
                false,
            ),
        };
        if !value.loss.is_finite() {
            return Err(Error::Numerical(format!("the loss became {}", value.loss)));
        }
        for m in totals.states.iter_mut() {
            m.update(y.view(), out.view())?;
        }
        for m in totals.weighted.iter_mut() {
            m.update_weighted(y.view(), out.view(), w)?;
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
    /// The `weighted_metrics`' states.
    weighted: Vec<MetricState>,
}

impl EpochTotals {
    fn new(
        metrics: &[Metric],
        weighted: &[Metric],
        accuracy: crate::metrics::AccuracyKind,
    ) -> Self {
        EpochTotals {
            loss_sum: 0.0,
            samples: 0,
            states: metrics.iter().map(|m| m.state(accuracy)).collect(),
            weighted: weighted.iter().map(|m| m.state(accuracy)).collect(),
        }
    }

    fn add(&mut self, loss: f64, batch: usize) {
        // Keras weights each batch loss by its batch size.
        self.loss_sum += loss * batch as f64;
        self.samples += batch;
    }

    /// `metrics` then `weighted_metrics`, as `Sequential::compiled_metrics` gives them.
    fn logs(&self, (metrics, weighted): (&[Metric], &[Metric])) -> Logs {
        let mut logs = Logs::new();
        logs.insert(
            "loss".to_string(),
            self.loss_sum / self.samples.max(1) as f64,
        );
        let states = self.states.iter().chain(&self.weighted);
        for (m, s) in metrics.iter().chain(weighted).zip(states) {
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
    split_weights: bool,
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
    // Keras splits `sample_weight` with the data (`train_validation_split`), and
    // applies `class_weight` to the training part only.
    let weights = match (&data.weights, split_weights) {
        (Some(w), true) => Some(w.slice_axis(Axis(0), (split_at..n).into()).to_owned()),
        _ => None,
    };
    Ok((
        split_at,
        Some(Prepared {
            x,
            y,
            accuracy,
            weights,
        }),
    ))
}
