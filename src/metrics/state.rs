//! A metric's running state over an epoch (Keras's metric variables and
//! `update_state`/`result`), in f64 (Keras keeps float32 variables: results agree to
//! float32 rounding, ~1e-7 relative).
//!
//! - Mean metrics (the accuracies, MSE, MAE) are Keras's `MeanMetricWrapper`: each
//!   sample's values are averaged over its non-batch axes, then `total / count` over
//!   all samples seen.
//! - Precision and Recall count tp, fp, fn at `y_pred > threshold` over every value
//!   (labels are positive when non-zero), as `update_confusion_matrix_variables`.
//! - AUC uses Keras's evenly spaced thresholds `[-eps, 1/(T-1), ..., (T-2)/(T-1),
//!   1+eps]` and its bucket shortcut (`ceil(p*(T-1)) - 1` in float32, predictions
//!   clipped to [0, 1]), so the counts are Keras's exactly; the area is Keras's
//!   `result()` (ROC or PR; interpolation, minoring or majoring; PR interpolation as
//!   `interpolate_pr_auc`, Davis & Goadrich 2006).
//! - F1Score counts per class (or in total for `micro`) and combines at `result()`.
//! - With `sample_weight` (`update_weighted`, Keras's `weighted_metrics`): each row's
//!   weight multiplies its mean value (and is what the mean counts) or its confusion
//!   counts, as Keras broadcasts `sample_weight` over a row's predictions.

use ndarray::ArrayViewD;

use super::accuracy::argmax;
use super::{AccuracyKind, AucCurve, AucSummation, F1Average, MetricKind};
use crate::error::{Error, Result};

/// Keras's `backend.epsilon()`.
const EPSILON: f64 = 1e-7;

#[derive(Clone, Debug)]
enum MeanOf {
    Binary(f32),
    Categorical,
    Sparse,
    TopK(usize),
    SparseTopK(usize),
    SquaredError,
    AbsoluteError,
}

#[derive(Clone, Debug)]
enum Inner {
    Mean {
        of: MeanOf,
        total: f64,
        count: f64,
    },
    /// Precision (`recall == false`) or Recall at one threshold.
    Threshold {
        threshold: f32,
        recall: bool,
        tp: f64,
        fp: f64,
        fn_: f64,
    },
    Auc {
        curve: AucCurve,
        summation: AucSummation,
        from_logits: bool,
        tp: Vec<f64>,
        fp: Vec<f64>,
        tn: Vec<f64>,
        fn_: Vec<f64>,
    },
    F1 {
        average: Option<F1Average>,
        threshold: Option<f32>,
        /// Per class (one entry for `micro`); empty until the first batch.
        tp: Vec<f64>,
        fp: Vec<f64>,
        fn_: Vec<f64>,
        support: Vec<f64>,
        classes: Option<usize>,
    },
}

/// The running state of one metric.
#[derive(Clone, Debug)]
pub struct MetricState {
    /// Keras's name of the computation, for errors.
    what: &'static str,
    inner: Inner,
}

impl MetricState {
    /// A fresh state for `kind`; `accuracy` resolves `MetricKind::Accuracy`.
    pub fn new(kind: &MetricKind, accuracy: AccuracyKind) -> Self {
        let mean = |of| Inner::Mean {
            of,
            total: 0.0,
            count: 0.0,
        };
        let at = |threshold, recall| Inner::Threshold {
            threshold,
            recall,
            tp: 0.0,
            fp: 0.0,
            fn_: 0.0,
        };
        let (what, inner) = match kind {
            MetricKind::Accuracy => match accuracy {
                AccuracyKind::Binary => ("binary_accuracy", mean(MeanOf::Binary(0.5))),
                AccuracyKind::Categorical => ("categorical_accuracy", mean(MeanOf::Categorical)),
                AccuracyKind::SparseCategorical => {
                    ("sparse_categorical_accuracy", mean(MeanOf::Sparse))
                }
            },
            MetricKind::BinaryAccuracy { threshold } => {
                ("binary_accuracy", mean(MeanOf::Binary(*threshold)))
            }
            MetricKind::CategoricalAccuracy => ("categorical_accuracy", mean(MeanOf::Categorical)),
            MetricKind::SparseCategoricalAccuracy => {
                ("sparse_categorical_accuracy", mean(MeanOf::Sparse))
            }
            MetricKind::TopKCategoricalAccuracy { k } => {
                ("top_k_categorical_accuracy", mean(MeanOf::TopK(*k)))
            }
            MetricKind::SparseTopKCategoricalAccuracy { k } => (
                "sparse_top_k_categorical_accuracy",
                mean(MeanOf::SparseTopK(*k)),
            ),
            MetricKind::MeanSquaredError => ("mean_squared_error", mean(MeanOf::SquaredError)),
            MetricKind::MeanAbsoluteError => ("mean_absolute_error", mean(MeanOf::AbsoluteError)),
            MetricKind::Precision { threshold } => ("precision", at(*threshold, false)),
            MetricKind::Recall { threshold } => ("recall", at(*threshold, true)),
            MetricKind::Auc {
                num_thresholds,
                curve,
                summation_method,
                from_logits,
            } => (
                "auc",
                Inner::Auc {
                    curve: *curve,
                    summation: *summation_method,
                    from_logits: *from_logits,
                    tp: vec![0.0; *num_thresholds],
                    fp: vec![0.0; *num_thresholds],
                    tn: vec![0.0; *num_thresholds],
                    fn_: vec![0.0; *num_thresholds],
                },
            ),
            MetricKind::F1Score { average, threshold } => (
                "f1_score",
                Inner::F1 {
                    average: *average,
                    threshold: *threshold,
                    tp: Vec::new(),
                    fp: Vec::new(),
                    fn_: Vec::new(),
                    support: Vec::new(),
                    classes: None,
                },
            ),
        };
        MetricState { what, inner }
    }

    /// Add one batch: `y_true` as aligned to the output by the loss, `y_pred` the
    /// model's output (batch axis first).
    pub fn update(
        &mut self,
        y_true: ArrayViewD<'_, f32>,
        y_pred: ArrayViewD<'_, f32>,
    ) -> Result<()> {
        self.update_weighted(y_true, y_pred, None)
    }

    /// `update` with Keras's `sample_weight`: one weight per prediction row (per
    /// sample, or per sample and step), as `fit` aligns them for the loss. Mean
    /// metrics add `sum(w * value)` and `sum(w)`; the confusion counts of Precision,
    /// Recall, AUC and F1Score add each prediction's row weight instead of 1.
    pub fn update_weighted(
        &mut self,
        y_true: ArrayViewD<'_, f32>,
        y_pred: ArrayViewD<'_, f32>,
        weights: Option<&[f32]>,
    ) -> Result<()> {
        let mut b = Batch::new(self.what, y_true, y_pred);
        if let Some(w) = weights {
            if w.len() != b.rows {
                return Err(Error::Shape(format!(
                    "{}: {} sample weights for {} prediction rows",
                    self.what,
                    w.len(),
                    b.rows
                )));
            }
            b.weights = Some(w);
        }
        match &mut self.inner {
            Inner::Mean { of, total, count } => {
                let values = mean_values(of, &b)?;
                add_sample_means(&b, &values, total, count)
            }
            Inner::Threshold {
                threshold,
                tp,
                fp,
                fn_,
                ..
            } => count_at_threshold(&b, *threshold, [tp, fp, fn_]),
            Inner::Auc {
                from_logits,
                tp,
                fp,
                tn,
                fn_,
                ..
            } => count_auc_buckets(&b, *from_logits, [tp, fp, tn, fn_]),
            Inner::F1 {
                average,
                threshold,
                tp,
                fp,
                fn_,
                support,
                classes,
            } => {
                f1_check_and_size(
                    &b,
                    *average,
                    classes,
                    [&mut *tp, &mut *fp, &mut *fn_, &mut *support],
                )?;
                count_f1(&b, *threshold, [tp, fp, fn_, support]);
                Ok(())
            }
        }
    }

    /// The metric's value over everything added so far (0 before any data).
    pub fn result(&self) -> f64 {
        let div = |a: f64, b: f64| if b == 0.0 { 0.0 } else { a / b };
        match &self.inner {
            Inner::Mean { total, count, .. } => div(*total, *count),
            Inner::Threshold {
                recall,
                tp,
                fp,
                fn_,
                ..
            } => {
                if *recall {
                    div(*tp, tp + fn_)
                } else {
                    div(*tp, tp + fp)
                }
            }
            Inner::Auc {
                curve,
                summation,
                tp,
                fp,
                tn,
                fn_,
                ..
            } => auc(*curve, *summation, tp, fp, tn, fn_),
            Inner::F1 {
                average,
                tp,
                fp,
                fn_,
                support,
                ..
            } => {
                if tp.is_empty() {
                    return 0.0;
                }
                let f1: Vec<f64> = (0..tp.len())
                    .map(|i| {
                        let precision = tp[i] / (tp[i] + fp[i] + EPSILON);
                        let recall = tp[i] / (tp[i] + fn_[i] + EPSILON);
                        precision * recall / (precision + recall + EPSILON) * 2.0
                    })
                    .collect();
                match average {
                    Some(F1Average::Weighted) => {
                        let sum: f64 = support.iter().sum::<f64>() + EPSILON;
                        f1.iter().zip(support).map(|(f, w)| f * (w / sum)).sum()
                    }
                    _ => f1.iter().sum::<f64>() / f1.len() as f64,
                }
            }
        }
    }
}

/// One batch, flattened, with its shapes kept for error messages.
struct Batch<'w> {
    what: &'static str,
    /// One weight per row (`update_weighted`), or None: every row weighs 1.
    weights: Option<&'w [f32]>,
    yt: Vec<f32>,
    yp: Vec<f32>,
    yt_shape: Vec<usize>,
    yp_shape: Vec<usize>,
    /// Samples (the batch axis), classes (the last axis) and rows of `c` values.
    samples: usize,
    c: usize,
    rows: usize,
}

impl Batch<'_> {
    fn new(what: &'static str, y_true: ArrayViewD<'_, f32>, y_pred: ArrayViewD<'_, f32>) -> Self {
        let yp_shape = y_pred.shape().to_vec();
        let yt_shape = y_true.shape().to_vec();
        let samples = yp_shape.first().copied().unwrap_or(1).max(1);
        let c = yp_shape.last().copied().unwrap_or(1).max(1);
        let rows = y_pred.len() / c;
        Batch {
            what,
            weights: None,
            yt: y_true.iter().copied().collect(),
            yp: y_pred.iter().copied().collect(),
            yt_shape,
            yp_shape,
            samples,
            c,
            rows,
        }
    }

    fn mismatch(&self, want: usize, per: &str) -> Error {
        let (what, yt_shape, yp_shape) = (self.what, &self.yt_shape, &self.yp_shape);
        Error::Shape(format!(
            "{what}: labels of shape {yt_shape:?} for predictions of shape {yp_shape:?}; \
             expected {want} labels ({per})"
        ))
    }

    /// One label per prediction, or the mismatch error.
    fn one_label_per_prediction(&self, per: &str) -> Result<()> {
        if self.yt.len() != self.yp.len() {
            return Err(self.mismatch(self.yp.len(), per));
        }
        Ok(())
    }

    /// The weight of row `r`.
    fn row_weight(&self, r: usize) -> f64 {
        self.weights.map_or(1.0, |w| w[r] as f64)
    }

    /// The weight of flat prediction `i` (its row's; no division when unweighted).
    fn elem_weight(&self, i: usize) -> f64 {
        match self.weights {
            Some(w) => w[i / self.c] as f64,
            None => 1.0,
        }
    }

    /// Row `r`'s `c` labels and predictions.
    fn row(&self, r: usize) -> (&[f32], &[f32]) {
        let c = self.c;
        (&self.yt[r * c..(r + 1) * c], &self.yp[r * c..(r + 1) * c])
    }
}

/// A mean metric's values: one per element (binary, errors) or per row (class metrics).
fn mean_values(of: &MeanOf, b: &Batch) -> Result<Vec<f64>> {
    match of {
        MeanOf::Binary(t) => binary_hits(b, *t),
        MeanOf::SquaredError => row_errors(b, true),
        MeanOf::AbsoluteError => row_errors(b, false),
        MeanOf::Categorical => categorical_hits(b, None),
        MeanOf::TopK(k) => categorical_hits(b, Some(*k)),
        MeanOf::Sparse => sparse_hits(b, None),
        MeanOf::SparseTopK(k) => sparse_hits(b, Some(*k)),
    }
}

fn binary_hits(b: &Batch, t: f32) -> Result<Vec<f64>> {
    b.one_label_per_prediction("one per prediction")?;
    Ok(b.yt
        .iter()
        .zip(&b.yp)
        .map(|(&y, &p)| f64::from(y == if p > t { 1.0 } else { 0.0 }))
        .collect())
}

/// Keras's loss function: the mean over the last axis per row, of the squared
/// (`sq`) or absolute error.
fn row_errors(b: &Batch, sq: bool) -> Result<Vec<f64>> {
    b.one_label_per_prediction("one per prediction")?;
    let c = b.c;
    Ok(b.yt
        .chunks(c)
        .zip(b.yp.chunks(c))
        .map(|(t, p)| {
            t.iter()
                .zip(p)
                .map(|(&a, &b)| {
                    let d = (a - b) as f64;
                    if sq { d * d } else { d.abs() }
                })
                .sum::<f64>()
                / c as f64
        })
        .collect())
}

/// One-hot labels: the argmax matches, or (`k`) the label is in the top k.
fn categorical_hits(b: &Batch, k: Option<usize>) -> Result<Vec<f64>> {
    b.one_label_per_prediction("one-hot, one per prediction")?;
    Ok((0..b.rows)
        .map(|r| {
            let (t, p) = b.row(r);
            let hit = match k {
                None => argmax(t) == argmax(p),
                Some(k) => in_top_k(p, argmax(t), k),
            };
            f64::from(hit)
        })
        .collect())
}

/// Class-id labels: the argmax is the id, or (`k`) the id is in the top k.
fn sparse_hits(b: &Batch, k: Option<usize>) -> Result<Vec<f64>> {
    let (yt, rows, c) = (&b.yt, b.rows, b.c);
    if yt.len() != rows {
        return Err(b.mismatch(rows, "one class id per prediction row"));
    }
    Ok((0..rows)
        .map(|r| {
            let p = &b.yp[r * c..(r + 1) * c];
            let hit = match k {
                None => yt[r] == argmax(p) as f32,
                // `in_top_k` casts the label to int32.
                Some(k) => {
                    let id = yt[r];
                    id >= 0.0 && (id as usize) < c && in_top_k(p, id as usize, k)
                }
            };
            f64::from(hit)
        })
        .collect())
}

/// Average `values` per sample and add the samples to the running mean.
fn add_sample_means(b: &Batch, values: &[f64], total: &mut f64, count: &mut f64) -> Result<()> {
    if values.is_empty() {
        return Ok(());
    }
    if b.weights.is_some() {
        // Keras: the values averaged per row (the weights' shape), then
        // `total += sum(w * v)`, `count += sum(w)`.
        let per = values.len() / b.rows;
        if per * b.rows != values.len() {
            return Err(Error::Shape(format!(
                "{}: {} values do not split into {} rows",
                b.what,
                values.len(),
                b.rows
            )));
        }
        for (r, v) in values.chunks(per).enumerate() {
            let w = b.row_weight(r);
            *total += w * (v.iter().sum::<f64>() / per as f64);
            *count += w;
        }
        return Ok(());
    }
    let samples = b.samples;
    let per = values.len() / samples;
    if per * samples != values.len() {
        return Err(Error::Shape(format!(
            "{}: {} values do not split into {samples} samples",
            b.what,
            values.len()
        )));
    }
    *total += values
        .chunks(per)
        .map(|s| s.iter().sum::<f64>() / per as f64)
        .sum::<f64>();
    *count += samples as f64;
    Ok(())
}

/// Precision/Recall: count tp, fp, fn at `p > threshold` (labels positive when non-zero).
fn count_at_threshold(b: &Batch, threshold: f32, counts: [&mut f64; 3]) -> Result<()> {
    let [tp, fp, fn_] = counts;
    b.one_label_per_prediction("one per prediction")?;
    for (i, (&y, &p)) in b.yt.iter().zip(&b.yp).enumerate() {
        let (label, pos) = (y != 0.0, p > threshold);
        let w = b.elem_weight(i);
        match (label, pos) {
            (true, true) => *tp += w,
            (false, true) => *fp += w,
            (true, false) => *fn_ += w,
            (false, false) => {}
        }
    }
    Ok(())
}

/// AUC: Keras's bucket shortcut, then cumulative counts per threshold.
fn count_auc_buckets(b: &Batch, from_logits: bool, counts: [&mut Vec<f64>; 4]) -> Result<()> {
    let [tp, fp, tn, fn_] = counts;
    b.one_label_per_prediction("one per prediction")?;
    let t = tp.len();
    let scale = (t - 1) as f32;
    let mut tp_bucket = vec![0.0f64; t];
    let mut fp_bucket = vec![0.0f64; t];
    let (mut total_true, mut total_false) = (0.0f64, 0.0f64);
    for (i, (&y, &z)) in b.yt.iter().zip(&b.yp).enumerate() {
        let w = b.elem_weight(i);
        let p = if from_logits {
            1.0 / (1.0 + (-z).exp())
        } else {
            z
        };
        let p = p.clamp(0.0, 1.0);
        // Keras: relu(ceil(p * (T-1)) - 1), in float32; NaN counts as 0.
        let bucket = (p * scale).ceil() - 1.0;
        let bucket = if bucket > 0.0 {
            (bucket as usize).min(t - 1)
        } else {
            0
        };
        if y != 0.0 {
            tp_bucket[bucket] += w;
            total_true += w;
        } else {
            fp_bucket[bucket] += w;
            total_false += w;
        }
    }
    // tp[i] = positives in buckets >= i (predictions above threshold i).
    let (mut tps, mut fps) = (0.0, 0.0);
    for i in (0..t).rev() {
        tps += tp_bucket[i];
        fps += fp_bucket[i];
        tp[i] += tps;
        fp[i] += fps;
        tn[i] += total_false - fps;
        fn_[i] += total_true - tps;
    }
    Ok(())
}

/// F1: check the batch's shape against earlier batches; on the first batch size the
/// per-class counts (one entry for `micro`).
fn f1_check_and_size(
    b: &Batch,
    average: Option<F1Average>,
    classes: &mut Option<usize>,
    counts: [&mut Vec<f64>; 4],
) -> Result<()> {
    let (yt_shape, yp_shape, c) = (&b.yt_shape, &b.yp_shape, b.c);
    if yp_shape.len() != 2 || yt_shape.len() != 2 {
        return Err(Error::Shape(format!(
            "f1_score expects 2-D labels and predictions (batch, classes), got \
             labels of shape {yt_shape:?} and predictions of shape {yp_shape:?}"
        )));
    }
    if yt_shape != yp_shape {
        return Err(b.mismatch(b.yp.len(), "one-hot or 0/1, the predictions' shape"));
    }
    match classes {
        Some(k) if *k != c => {
            return Err(Error::Shape(format!(
                "f1_score: predictions have {c} classes, earlier batches had {k}"
            )));
        }
        Some(_) => {}
        None => {
            if average.is_none() && c > 1 {
                return Err(Error::invalid_argument(
                    "metric F1Score",
                    "average",
                    format!(
                        "with average = None Keras reports one F1 per class ({c} \
                         here), which a log of numbers cannot hold; set average \
                         to \"macro\", \"micro\" or \"weighted\""
                    ),
                ));
            }
            let n = if average == Some(F1Average::Micro) {
                1
            } else {
                c
            };
            for v in counts {
                *v = vec![0.0; n];
            }
            *classes = Some(c);
        }
    }
    Ok(())
}

/// F1: add each row's tp, fp, fn and support per class (or in total for `micro`).
fn count_f1(b: &Batch, threshold: Option<f32>, counts: [&mut Vec<f64>; 4]) {
    let [tp, fp, fn_, support] = counts;
    let c = b.c;
    let micro = tp.len() == 1;
    for r in 0..b.rows {
        let (t, p) = b.row(r);
        let max = p.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        for j in 0..c {
            let pred = match threshold {
                Some(th) => p[j] > th,
                // The row's maximum, but never an all-zero row.
                None => p[j] >= max && p[j].abs() > 1e-9,
            };
            let (pv, tv) = (f64::from(pred), t[j] as f64);
            let i = if micro { 0 } else { j };
            let w = b.row_weight(r);
            tp[i] += pv * tv * w;
            fp[i] += pv * (1.0 - tv) * w;
            fn_[i] += (1.0 - pv) * tv * w;
            support[i] += tv * w;
        }
    }
}

/// TF's `in_top_k`: the target is in the top k unless k or more classes score
/// strictly higher (ties at the boundary are in); a non-finite score never is.
fn in_top_k(p: &[f32], target: usize, k: usize) -> bool {
    let t = p[target];
    if !t.is_finite() || p.iter().any(|v| !v.is_finite()) {
        return false;
    }
    p.iter().filter(|&&v| v > t).count() < k
}

/// Keras `AUC.result()` on the confusion counts per threshold (ascending thresholds).
fn auc(
    curve: AucCurve,
    summation: AucSummation,
    tp: &[f64],
    fp: &[f64],
    tn: &[f64],
    fn_: &[f64],
) -> f64 {
    let div = |a: f64, b: f64| if b == 0.0 { 0.0 } else { a / b };
    let n = tp.len();
    if curve == AucCurve::Pr && summation == AucSummation::Interpolation {
        // `interpolate_pr_auc`: precision is interpolated in recall between thresholds.
        let mut sum = 0.0;
        for i in 0..n - 1 {
            let dtp = tp[i] - tp[i + 1];
            let p0 = tp[i] + fp[i];
            let p1 = tp[i + 1] + fp[i + 1];
            let dp = p0 - p1;
            let slope = div(dtp, dp.max(0.0));
            let intercept = tp[i + 1] - slope * p1;
            let ratio = if p0 > 0.0 && p1 > 0.0 {
                div(p0, p1.max(0.0))
            } else {
                1.0
            };
            sum += div(
                slope * (dtp + intercept * ratio.ln()),
                (tp[i + 1] + fn_[i + 1]).max(0.0),
            );
        }
        return sum;
    }
    let recall: Vec<f64> = (0..n).map(|i| div(tp[i], tp[i] + fn_[i])).collect();
    let (x, y): (Vec<f64>, Vec<f64>) = match curve {
        AucCurve::Roc => ((0..n).map(|i| div(fp[i], fp[i] + tn[i])).collect(), recall),
        AucCurve::Pr => (recall, (0..n).map(|i| div(tp[i], tp[i] + fp[i])).collect()),
    };
    (0..n - 1)
        .map(|i| {
            let h = match summation {
                AucSummation::Interpolation => (y[i] + y[i + 1]) / 2.0,
                AucSummation::Minoring => y[i].min(y[i + 1]),
                AucSummation::Majoring => y[i].max(y[i + 1]),
            };
            (x[i] - x[i + 1]) * h
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Metric;
    use ndarray::{arr1, arr2};

    fn run(m: &str, yt: ArrayViewD<f32>, yp: ArrayViewD<f32>) -> f64 {
        let metric: Metric = m.parse().unwrap();
        let mut s = metric.state(AccuracyKind::select(yt.shape(), yp.shape()));
        s.update(yt, yp).unwrap();
        s.result()
    }

    #[test]
    fn small_cases_by_hand() {
        let yp = arr2(&[[0.9f32], [0.6], [0.4], [0.1]]).into_dyn();
        let yt = arr2(&[[1.0f32], [0.0], [1.0], [0.0]]).into_dyn();
        assert_eq!(run("precision", yt.view(), yp.view()), 0.5);
        assert_eq!(run("recall", yt.view(), yp.view()), 0.5);
        assert_eq!(run("acc", yt.view(), yp.view()), 0.5);
        // Positives score 0.9, 0.4; negatives 0.6, 0.1: 3 of 4 pairs ordered.
        assert!((run("auc", yt.view(), yp.view()) - 0.75).abs() < 1e-9);
        assert!(
            (run("mse", yt.view(), yp.view()) - (0.01 + 0.36 + 0.36 + 0.01) / 4.0).abs() < 1e-7
        );
        let p = arr2(&[[0.1f32, 0.5, 0.4], [0.2, 0.3, 0.5]]).into_dyn();
        let ids = arr1(&[2.0f32, 0.0]).into_dyn();
        // Default k = 5 of 3 classes: always in.
        assert_eq!(
            run("sparse_top_k_categorical_accuracy", ids.view(), p.view()),
            1.0
        );
        let metric = Metric::from_value(
            &serde_json::json!({"type": "SparseTopKCategoricalAccuracy", "k": 1}),
        )
        .unwrap();
        let mut s = metric.state(AccuracyKind::SparseCategorical);
        s.update(ids.view(), p.view()).unwrap();
        assert_eq!(s.result(), 0.0);
        // Ties at the boundary are in the top k, as TF's in_top_k.
        assert!(in_top_k(&[0.5, 0.5, 0.1], 1, 1));
        assert!(!in_top_k(&[0.5, f32::NAN, 0.1], 0, 2));
    }

    #[test]
    fn mismatched_labels_are_errors() {
        let p = arr2(&[[0.1f32, 0.5, 0.4], [0.2, 0.3, 0.5]]).into_dyn();
        let ids = arr1(&[2.0f32, 0.0]).into_dyn();
        for m in [
            "precision",
            "auc",
            "categorical_accuracy",
            "f1_score",
            "mse",
        ] {
            let metric: Metric = m.parse().unwrap();
            let mut s = metric.state(AccuracyKind::SparseCategorical);
            let e = s.update(ids.view(), p.view()).unwrap_err().to_string();
            assert!(e.contains("[2]") || e.contains("f1_score"), "{m}: {e}");
        }
        let onehot = arr2(&[[0.0f32, 0.0, 1.0], [1.0, 0.0, 0.0]]).into_dyn();
        let metric: Metric = "f1_score".parse().unwrap();
        let e = metric
            .state(AccuracyKind::Categorical)
            .update(onehot.view(), p.view())
            .unwrap_err()
            .to_string();
        assert!(e.contains("average"), "{e}");
    }
}
