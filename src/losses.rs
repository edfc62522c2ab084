//! Losses with Keras 3's names, formulas and `sum_over_batch_size` reduction (the mean
//! over every per-sample loss value, i.e. over batch and time steps).
//!
//! Probability inputs are clipped to [1e-7, 1 - 1e-7] exactly as Keras's TensorFlow
//! backend does. But when the predictions come straight out of a sigmoid or softmax,
//! Keras computes crossentropies from the logits it attached to that output
//! (`_keras_logits`, keras/src/backend/tensorflow/nn.py `_get_logits`), whatever the
//! activation: sigmoid CE for binary, softmax CE for (sparse) categorical. The model
//! does the same through `value_and_grad_from_logits`; that path has no clipping, and
//! its gradient w.r.t. the logits is the stable `p - y`.

use ndarray::{ArrayD, ArrayViewD, IxDyn};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::layers::Activation;
use crate::layers::activation::sigmoid;

/// Keras's `backend.epsilon()`.
pub const EPSILON: f32 = 1e-7;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Loss {
    // Keras's class names are read too (`loss = "BinaryCrossentropy"`), as
    // `keras.losses.get` takes them; the snake_case name is what gets written.
    #[serde(alias = "bce", alias = "BCE", alias = "BinaryCrossentropy")]
    BinaryCrossentropy,
    #[serde(alias = "CategoricalCrossentropy")]
    CategoricalCrossentropy,
    #[serde(alias = "SparseCategoricalCrossentropy")]
    SparseCategoricalCrossentropy,
    #[serde(alias = "mse", alias = "MSE", alias = "MeanSquaredError")]
    MeanSquaredError,
    #[serde(alias = "mae", alias = "MAE", alias = "MeanAbsoluteError")]
    MeanAbsoluteError,
}

impl std::str::FromStr for Loss {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        serde_json::from_value(serde_json::Value::String(s.to_string())).map_err(|_| {
            Error::invalid_argument(
                "compile",
                "loss",
                format!(
                    "unknown loss `{s}`; expected one of binary_crossentropy, \
                     categorical_crossentropy, sparse_categorical_crossentropy, \
                     mean_squared_error (mse), mean_absolute_error (mae), or their \
                     Keras class names (BinaryCrossentropy, ...)"
                ),
            )
        })
    }
}

/// Mean loss over all per-sample values and its gradient (w.r.t. the predictions, or
/// the logits for `value_and_grad_from_logits`).
#[derive(Clone, Debug)]
pub struct LossValue {
    pub loss: f64,
    pub grad: ArrayD<f32>,
}

impl Loss {
    /// Keras name.
    pub fn name(self) -> &'static str {
        match self {
            Loss::BinaryCrossentropy => "binary_crossentropy",
            Loss::CategoricalCrossentropy => "categorical_crossentropy",
            Loss::SparseCategoricalCrossentropy => "sparse_categorical_crossentropy",
            Loss::MeanSquaredError => "mean_squared_error",
            Loss::MeanAbsoluteError => "mean_absolute_error",
        }
    }

    pub fn is_sparse(self) -> bool {
        self == Loss::SparseCategoricalCrossentropy
    }

    pub(crate) fn is_crossentropy(self) -> bool {
        matches!(
            self,
            Loss::BinaryCrossentropy
                | Loss::CategoricalCrossentropy
                | Loss::SparseCategoricalCrossentropy
        )
    }

    /// Whether Keras computes this loss from the logits of an output produced by
    /// `activation` (any crossentropy after sigmoid or softmax).
    pub fn fuses_with(self, activation: Activation) -> bool {
        self.is_crossentropy() && matches!(activation, Activation::Sigmoid | Activation::Softmax)
    }

    /// The target shape this loss expects for predictions of `pred_shape` (batch
    /// included): the prediction's shape, without its last axis for sparse labels.
    pub fn target_shape(self, pred_shape: &[usize]) -> Vec<usize> {
        if self.is_sparse() {
            pred_shape[..pred_shape.len().saturating_sub(1)].to_vec()
        } else {
            pred_shape.to_vec()
        }
    }

    /// Reshape user targets to `target_shape(pred_shape)` the way Keras's
    /// `squeeze_or_expand_to_same_rank` does (a trailing axis of 1 may be added or
    /// dropped); anything else is a shape error naming both shapes.
    pub fn align_targets(self, y: ArrayD<f32>, pred_shape: &[usize]) -> Result<ArrayD<f32>> {
        let want = self.target_shape(pred_shape);
        let got = y.shape().to_vec();
        let ok = got == want
            || (got.len() + 1 == want.len()
                && want.last() == Some(&1)
                && got[..] == want[..got.len()])
            || (got.len() == want.len() + 1
                && got.last() == Some(&1)
                && got[..want.len()] == want[..]);
        if !ok {
            let what = if self.is_sparse() {
                "integer class ids with the output's shape minus its last axis"
            } else {
                "the output's shape"
            };
            return Err(Error::Shape(format!(
                "labels have shape {got:?} but the model output has shape {pred_shape:?}; \
                 {} expects {what}, i.e. {want:?}",
                self.name()
            )));
        }
        Ok(y.into_shape_with_order(IxDyn(&want))
            .expect("same number of elements"))
    }

    /// Check the target values: finite everywhere, in [0, 1] for binary crossentropy,
    /// and for sparse labels integers in [0, classes). `per_sample` is the number of target values per sample, used to
    /// name the sample index in errors.
    pub fn validate_targets(self, y: &ArrayD<f32>, classes: usize) -> Result<()> {
        let per_sample = (y.len() / y.shape().first().copied().unwrap_or(1).max(1)).max(1);
        for (i, &v) in y.iter().enumerate() {
            let sample = i / per_sample;
            if !v.is_finite() {
                return Err(Error::Data(format!(
                    "label of sample {sample} is {v} (labels must be finite)"
                )));
            }
            // Keras takes 0/1 labels or probabilities; anything else makes the loss
            // unbounded below (negative losses) and trains to nonsense silently.
            if self == Loss::BinaryCrossentropy && !(0.0..=1.0).contains(&v) {
                return Err(Error::Data(format!(
                    "label {v} of sample {sample} is outside [0, 1] (binary_crossentropy takes \
                     0/1 labels or probabilities; for more classes use \
                     sparse_categorical_crossentropy with a softmax output)"
                )));
            }
            if self.is_sparse() && (v.fract() != 0.0 || v < 0.0 || v >= classes as f32) {
                return Err(Error::Data(format!(
                    "label {v} of sample {sample} is not a class id in [0, {classes}) \
                     (sparse_categorical_crossentropy with {classes} output units)"
                )));
            }
        }
        Ok(())
    }

    /// Loss from predicted values (probabilities for crossentropies, clipped as Keras
    /// does). `y_true` must already have `target_shape(y_pred.shape())`.
    pub fn value_and_grad(
        self,
        y_true: ArrayViewD<'_, f32>,
        y_pred: ArrayViewD<'_, f32>,
    ) -> Result<LossValue> {
        self.value_and_grad_weighted(y_true, y_pred, None)
    }

    /// `value_and_grad` with one weight per loss value (`sample_weight`, one per
    /// sample or per sample and step, batch first): Keras's `sum_over_batch_size`
    /// reduction of the weighted values, `sum(w * loss) / count` (the count of loss
    /// values, not the sum of the weights).
    pub fn value_and_grad_weighted(
        self,
        y_true: ArrayViewD<'_, f32>,
        y_pred: ArrayViewD<'_, f32>,
        weights: Option<&[f32]>,
    ) -> Result<LossValue> {
        let (yt, yp, c) = prepare(self, &y_true, &y_pred)?;
        let n = yp.len() / c.max(1);
        let weights = check_weight_count(self, weights, n)?;
        let w = |r: usize| weights.map_or(1.0, |w| w[r]);
        // Per element (binary, errors): the weight of the element's row.
        let wi = |i: usize| weights.map_or(1.0, |w| w[i / c]);
        let mut grad = vec![0.0f32; yp.len()];
        let mut total = 0.0f64;
        let lo = EPSILON;
        let hi = 1.0f32 - EPSILON;
        match self {
            Loss::BinaryCrossentropy => {
                let scale = 1.0 / (n * c) as f32;
                for i in 0..yp.len() {
                    let (y, p) = (yt[i], yp[i]);
                    let pc = p.clamp(lo, hi);
                    let wv = wi(i);
                    total +=
                        -(y * pc.ln() + (1.0 - y) * (1.0 - pc).ln()) as f64 / c as f64 * wv as f64;
                    if (lo..=hi).contains(&p) {
                        grad[i] = -(y / pc - (1.0 - y) / (1.0 - pc)) * scale * wv;
                    }
                }
            }
            Loss::CategoricalCrossentropy => {
                let scale = 1.0 / n as f32;
                for r in 0..n {
                    let p = &yp[r * c..(r + 1) * c];
                    let y = &yt[r * c..(r + 1) * c];
                    let s: f32 = p.iter().sum();
                    let mut dq = vec![0.0f32; c];
                    let mut row = 0.0f32;
                    for j in 0..c {
                        let q = p[j] / s;
                        let qc = q.clamp(lo, hi);
                        row -= y[j] * qc.ln();
                        if (lo..=hi).contains(&q) {
                            dq[j] = -y[j] / qc;
                        }
                    }
                    let wr = w(r);
                    total += row as f64 * wr as f64;
                    // Through the normalisation q = p / s.
                    let dot: f32 = (0..c).map(|j| dq[j] * p[j] / s).sum();
                    for j in 0..c {
                        grad[r * c + j] = (dq[j] - dot) / s * scale * wr;
                    }
                }
            }
            Loss::SparseCategoricalCrossentropy => {
                // Keras: logits = log(clip(p)), then sparse softmax crossentropy.
                let scale = 1.0 / n as f32;
                for r in 0..n {
                    let p = &yp[r * c..(r + 1) * c];
                    let t = label(yt[r], c, r)?;
                    let z: Vec<f32> = p.iter().map(|&v| v.clamp(lo, hi).ln()).collect();
                    let (lse, soft) = log_softmax_parts(&z);
                    let wr = w(r);
                    total += (lse - z[t]) as f64 * wr as f64;
                    for j in 0..c {
                        let dz = soft[j] - if j == t { 1.0 } else { 0.0 };
                        if (lo..=hi).contains(&p[j]) {
                            grad[r * c + j] = dz / p[j] * scale * wr;
                        }
                    }
                }
            }
            Loss::MeanSquaredError | Loss::MeanAbsoluteError => {
                let scale = 1.0 / (n * c) as f32;
                for i in 0..yp.len() {
                    let d = yp[i] - yt[i];
                    let wv = wi(i);
                    if self == Loss::MeanSquaredError {
                        total += (d * d) as f64 / c as f64 * wv as f64;
                        grad[i] = 2.0 * d * scale * wv;
                    } else {
                        total += d.abs() as f64 / c as f64 * wv as f64;
                        grad[i] = if d > 0.0 {
                            scale * wv
                        } else if d < 0.0 {
                            -scale * wv
                        } else {
                            0.0
                        };
                    }
                }
            }
        }
        Ok(LossValue {
            loss: total / n.max(1) as f64,
            grad: ArrayD::from_shape_vec(y_pred.raw_dim(), grad).expect("same size"),
        })
    }

    /// Crossentropy from the logits of a sigmoid/softmax output, as Keras computes it
    /// (`sigmoid_cross_entropy_with_logits`, `softmax_cross_entropy_with_logits`,
    /// `sparse_softmax_cross_entropy_with_logits`). The gradient is w.r.t. the logits.
    pub fn value_and_grad_from_logits(
        self,
        y_true: ArrayViewD<'_, f32>,
        logits: ArrayViewD<'_, f32>,
    ) -> Result<LossValue> {
        self.value_and_grad_from_logits_weighted(y_true, logits, None)
    }

    /// `value_and_grad_from_logits` with one weight per loss value, reduced as
    /// `value_and_grad_weighted`.
    pub fn value_and_grad_from_logits_weighted(
        self,
        y_true: ArrayViewD<'_, f32>,
        logits: ArrayViewD<'_, f32>,
        weights: Option<&[f32]>,
    ) -> Result<LossValue> {
        let (yt, x, c) = prepare(self, &y_true, &logits)?;
        let n = x.len() / c.max(1);
        let weights = check_weight_count(self, weights, n)?;
        let w = |r: usize| weights.map_or(1.0, |w| w[r]);
        let mut grad = vec![0.0f32; x.len()];
        let mut total = 0.0f64;
        match self {
            Loss::BinaryCrossentropy => {
                let scale = 1.0 / (n * c) as f32;
                for i in 0..x.len() {
                    let (y, z) = (yt[i], x[i]);
                    let l = z.max(0.0) - z * y + (-z.abs()).exp().ln_1p();
                    let wv = weights.map_or(1.0, |w| w[i / c]);
                    total += l as f64 / c as f64 * wv as f64;
                    grad[i] = (sigmoid(z) - y) * scale * wv;
                }
            }
            Loss::CategoricalCrossentropy => {
                let scale = 1.0 / n as f32;
                for r in 0..n {
                    let z = &x[r * c..(r + 1) * c];
                    let y = &yt[r * c..(r + 1) * c];
                    let (lse, soft) = log_softmax_parts(z);
                    let ysum: f32 = y.iter().sum();
                    let wr = w(r);
                    total += (0..c).map(|j| y[j] * (lse - z[j])).sum::<f32>() as f64 * wr as f64;
                    for j in 0..c {
                        grad[r * c + j] = (soft[j] * ysum - y[j]) * scale * wr;
                    }
                }
            }
            Loss::SparseCategoricalCrossentropy => {
                let scale = 1.0 / n as f32;
                for r in 0..n {
                    let z = &x[r * c..(r + 1) * c];
                    let t = label(yt[r], c, r)?;
                    let (lse, soft) = log_softmax_parts(z);
                    let wr = w(r);
                    total += (lse - z[t]) as f64 * wr as f64;
                    for j in 0..c {
                        grad[r * c + j] = (soft[j] - if j == t { 1.0 } else { 0.0 }) * scale * wr;
                    }
                }
            }
            Loss::MeanSquaredError | Loss::MeanAbsoluteError => {
                return Err(Error::State(format!(
                    "{} is not computed from logits",
                    self.name()
                )));
            }
        }
        Ok(LossValue {
            loss: total / n.max(1) as f64,
            grad: ArrayD::from_shape_vec(logits.raw_dim(), grad).expect("same size"),
        })
    }

    /// The loss of `y_pred` as Keras's `model.fit` computes it: from the logits when
    /// the output came from `activation` and the loss fuses with it.
    pub fn value_and_grad_for_output(
        self,
        y_true: ArrayViewD<'_, f32>,
        y_pred: ArrayViewD<'_, f32>,
        logits: Option<(Activation, ArrayViewD<'_, f32>)>,
    ) -> Result<(LossValue, bool)> {
        match logits {
            Some((act, z)) if self.fuses_with(act) => {
                Ok((self.value_and_grad_from_logits(y_true, z)?, true))
            }
            _ => Ok((self.value_and_grad(y_true, y_pred)?, false)),
        }
    }
}

/// Contiguous copies of targets and predictions plus the class/feature count.
fn prepare(
    loss: Loss,
    y_true: &ArrayViewD<'_, f32>,
    y_pred: &ArrayViewD<'_, f32>,
) -> Result<(Vec<f32>, Vec<f32>, usize)> {
    let want = loss.target_shape(y_pred.shape());
    if y_true.shape() != want.as_slice() || y_pred.ndim() == 0 {
        return Err(Error::Shape(format!(
            "{}: labels have shape {:?}, predictions {:?}; expected labels {:?}",
            loss.name(),
            y_true.shape(),
            y_pred.shape(),
            want
        )));
    }
    let c = *y_pred.shape().last().expect("ndim >= 1");
    Ok((
        y_true.iter().copied().collect(),
        y_pred.iter().copied().collect(),
        c,
    ))
}

/// The weights, if any, checked to hold one weight per loss value.
fn check_weight_count(loss: Loss, weights: Option<&[f32]>, n: usize) -> Result<Option<&[f32]>> {
    match weights {
        Some(w) if w.len() != n => Err(Error::Shape(format!(
            "{}: {} sample weights for {n} loss values",
            loss.name(),
            w.len()
        ))),
        _ => Ok(weights),
    }
}

fn label(v: f32, classes: usize, row: usize) -> Result<usize> {
    if v.fract() == 0.0 && v >= 0.0 && (v as usize) < classes {
        Ok(v as usize)
    } else {
        Err(Error::Data(format!(
            "label {v} at row {row} is not a class id in [0, {classes})"
        )))
    }
}

/// (log-sum-exp, softmax) of one row, shifted by the max for stability.
fn log_softmax_parts(z: &[f32]) -> (f32, Vec<f32>) {
    let m = z.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
    let e: Vec<f32> = z.iter().map(|&v| (v - m).exp()).collect();
    let s: f32 = e.iter().sum();
    (m + s.ln(), e.iter().map(|v| v / s).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SeededRng;
    use ndarray::Array;

    fn rand(shape: &[usize], lo: f32, hi: f32, rng: &mut SeededRng) -> ArrayD<f32> {
        Array::from_shape_simple_fn(IxDyn(shape), || rng.uniform(lo, hi))
    }

    fn softmax_rows(z: &ArrayD<f32>) -> ArrayD<f32> {
        let mut p = z.clone();
        Activation::Softmax.apply(&mut p);
        p
    }

    /// Central finite differences of `f` at `x` against `grad`.
    fn fd_check(name: &str, x: &ArrayD<f32>, grad: &ArrayD<f32>, f: impl Fn(&ArrayD<f32>) -> f64) {
        let eps = 1e-3f32;
        for i in 0..x.len() {
            let mut xp = x.clone();
            xp.as_slice_mut().unwrap()[i] += eps;
            let mut xm = x.clone();
            xm.as_slice_mut().unwrap()[i] -= eps;
            let num = (f(&xp) - f(&xm)) / (2.0 * eps as f64);
            let ana = grad.as_slice().unwrap()[i] as f64;
            assert!(
                (num - ana).abs() <= 2e-3 + 2e-2 * num.abs(),
                "{name} grad[{i}]: analytic {ana} vs numeric {num}"
            );
        }
    }

    fn targets(loss: Loss, shape: &[usize], rng: &mut SeededRng) -> ArrayD<f32> {
        let c = *shape.last().unwrap();
        match loss {
            Loss::BinaryCrossentropy => rand(shape, 0.0, 1.0, rng).mapv(|v| (v > 0.5) as u8 as f32),
            Loss::CategoricalCrossentropy => {
                let mut y = ArrayD::zeros(IxDyn(shape));
                for mut row in y.lanes_mut(ndarray::Axis(shape.len() - 1)) {
                    row[rng.below(c)] = 1.0;
                }
                y
            }
            Loss::SparseCategoricalCrossentropy => {
                Array::from_shape_simple_fn(IxDyn(&shape[..shape.len() - 1]), || {
                    rng.below(c) as f32
                })
            }
            _ => rand(shape, -1.0, 1.0, rng),
        }
    }

    #[test]
    fn gradients_w_r_t_predictions_match_finite_differences() {
        let mut rng = SeededRng::new(4);
        for loss in [
            Loss::BinaryCrossentropy,
            Loss::CategoricalCrossentropy,
            Loss::SparseCategoricalCrossentropy,
            Loss::MeanSquaredError,
            Loss::MeanAbsoluteError,
        ] {
            for shape in [vec![4usize, 3], vec![2, 3, 4]] {
                let y = targets(loss, &shape, &mut rng);
                // Probabilities away from the clip bounds (and MAE kinks away from 0).
                let p = match loss {
                    Loss::CategoricalCrossentropy | Loss::SparseCategoricalCrossentropy => {
                        softmax_rows(&rand(&shape, -2.0, 2.0, &mut rng))
                    }
                    Loss::BinaryCrossentropy => rand(&shape, 0.05, 0.95, &mut rng),
                    _ => {
                        &y + &rand(&shape, 0.1, 0.5, &mut rng)
                            .mapv(|v| if v > 0.3 { v } else { -v })
                    }
                };
                let g = loss.value_and_grad(y.view(), p.view()).unwrap().grad;
                fd_check(loss.name(), &p, &g, |p| {
                    loss.value_and_grad(y.view(), p.view()).unwrap().loss
                });
            }
        }
    }

    #[test]
    fn fused_gradients_w_r_t_logits_match_finite_differences() {
        let mut rng = SeededRng::new(5);
        for (loss, act) in [
            (Loss::BinaryCrossentropy, Activation::Sigmoid),
            (Loss::CategoricalCrossentropy, Activation::Softmax),
            (Loss::SparseCategoricalCrossentropy, Activation::Softmax),
            // Keras quirks: the logits are used whatever activation made them.
            (Loss::BinaryCrossentropy, Activation::Softmax),
            (Loss::CategoricalCrossentropy, Activation::Sigmoid),
        ] {
            for shape in [vec![4usize, 3], vec![2, 3, 4]] {
                let y = targets(loss, &shape, &mut rng);
                let z = rand(&shape, -4.0, 4.0, &mut rng);
                let mut p = z.clone();
                act.apply(&mut p);
                let (v, fused) = loss
                    .value_and_grad_for_output(y.view(), p.view(), Some((act, z.view())))
                    .unwrap();
                assert!(fused);
                fd_check(
                    &format!("{} after {act:?}", loss.name()),
                    &z,
                    &v.grad,
                    |z| {
                        loss.value_and_grad_from_logits(y.view(), z.view())
                            .unwrap()
                            .loss
                    },
                );
            }
        }
    }

    /// The weighted loss's gradient is the gradient of the weighted loss, on both
    /// paths, for per-sample and per-step weights (including a zero weight); with
    /// all weights 1 it is bit-identical to the unweighted loss.
    #[test]
    fn weighted_gradients_match_finite_differences() {
        let mut rng = SeededRng::new(6);
        for loss in [
            Loss::BinaryCrossentropy,
            Loss::CategoricalCrossentropy,
            Loss::SparseCategoricalCrossentropy,
            Loss::MeanSquaredError,
            Loss::MeanAbsoluteError,
        ] {
            for shape in [vec![4usize, 3], vec![2, 3, 4]] {
                let rows: usize = shape[..shape.len() - 1].iter().product();
                let mut w: Vec<f32> = (0..rows).map(|_| rng.uniform(0.2, 3.0)).collect();
                w[1] = 0.0;
                let y = targets(loss, &shape, &mut rng);
                let p = match loss {
                    Loss::CategoricalCrossentropy | Loss::SparseCategoricalCrossentropy => {
                        softmax_rows(&rand(&shape, -2.0, 2.0, &mut rng))
                    }
                    Loss::BinaryCrossentropy => rand(&shape, 0.05, 0.95, &mut rng),
                    _ => {
                        &y + &rand(&shape, 0.1, 0.5, &mut rng)
                            .mapv(|v| if v > 0.3 { v } else { -v })
                    }
                };
                let v = loss
                    .value_and_grad_weighted(y.view(), p.view(), Some(&w))
                    .unwrap();
                fd_check(&format!("weighted {}", loss.name()), &p, &v.grad, |p| {
                    loss.value_and_grad_weighted(y.view(), p.view(), Some(&w))
                        .unwrap()
                        .loss
                });
                // sum(w * l) / count, from the unweighted per-row losses.
                let per_row: f64 = (0..rows)
                    .map(|r| {
                        let mut wr = vec![0.0f32; rows];
                        wr[r] = 1.0;
                        let l = loss
                            .value_and_grad_weighted(y.view(), p.view(), Some(&wr))
                            .unwrap()
                            .loss;
                        l * w[r] as f64
                    })
                    .sum();
                assert!((per_row - v.loss).abs() < 1e-6, "{per_row} vs {}", v.loss);
                let ones = vec![1.0f32; rows];
                let a = loss.value_and_grad(y.view(), p.view()).unwrap();
                let b = loss
                    .value_and_grad_weighted(y.view(), p.view(), Some(&ones))
                    .unwrap();
                assert_eq!(a.loss.to_bits(), b.loss.to_bits());
                assert_eq!(a.grad, b.grad);
                if !loss.is_crossentropy() {
                    continue;
                }
                let z = rand(&shape, -4.0, 4.0, &mut rng);
                let v = loss
                    .value_and_grad_from_logits_weighted(y.view(), z.view(), Some(&w))
                    .unwrap();
                fd_check(
                    &format!("weighted {} from logits", loss.name()),
                    &z,
                    &v.grad,
                    |z| {
                        loss.value_and_grad_from_logits_weighted(y.view(), z.view(), Some(&w))
                            .unwrap()
                            .loss
                    },
                );
            }
        }
        let y = ArrayD::zeros(IxDyn(&[4, 1]));
        let e = Loss::MeanSquaredError
            .value_and_grad_weighted(y.view(), y.view(), Some(&[1.0; 3]))
            .unwrap_err();
        assert!(e.to_string().contains("3 sample weights for 4"), "{e}");
    }

    /// Values computed by Keras 3.15.1 (TensorFlow 2.21) with `model.evaluate` on a
    /// Dense(1, sigmoid) / Dense(2, softmax) model whose logits are
    /// [-40, 40, 3, -0.5] and [[-40, 40], [40, -40], [3, -3], [-0.5, 0.5]]: Keras uses
    /// the logits, so extreme logits are not clipped to -log(1e-7) = 16.1.
    #[test]
    fn matches_keras_on_extreme_logits() {
        let y = ndarray::arr1(&[1.0f32, 0.0, 1.0, 0.0]).into_dyn();
        let z = ndarray::arr1(&[-40.0f32, 40.0, 3.0, -0.5])
            .into_shape_with_order(IxDyn(&[4, 1]))
            .unwrap();
        let y2 = y.clone().into_shape_with_order(IxDyn(&[4, 1])).unwrap();
        let v = Loss::BinaryCrossentropy
            .value_and_grad_from_logits(y2.view(), z.view())
            .unwrap();
        assert!((v.loss - 20.130664825439453).abs() < 1e-5, "{}", v.loss);

        let z =
            ndarray::arr2(&[[-40.0f32, 40.0], [40.0, -40.0], [3.0, -3.0], [-0.5, 0.5]]).into_dyn();
        let onehot = ndarray::arr2(&[[1.0f32, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0]]).into_dyn();
        let v = Loss::CategoricalCrossentropy
            .value_and_grad_from_logits(onehot.view(), z.view())
            .unwrap();
        assert!((v.loss - 40.07893371582031).abs() < 1e-4, "{}", v.loss);
        let sparse = ndarray::arr1(&[0.0f32, 1.0, 0.0, 1.0]).into_dyn();
        let v = Loss::SparseCategoricalCrossentropy
            .value_and_grad_from_logits(sparse.view(), z.view())
            .unwrap();
        assert!((v.loss - 40.07893371582031).abs() < 1e-4, "{}", v.loss);

        // The same predictions as probabilities go through Keras's clipping
        // (keras.losses.binary_crossentropy(y, model.predict(x)) = 8.145785331726074).
        let mut p = ndarray::arr1(&[-40.0f32, 40.0, 3.0, -0.5])
            .into_shape_with_order(IxDyn(&[4, 1]))
            .unwrap();
        Activation::Sigmoid.apply(&mut p);
        let v = Loss::BinaryCrossentropy
            .value_and_grad(y2.view(), p.view())
            .unwrap();
        assert!((v.loss - 8.145785331726074).abs() < 1e-4, "{}", v.loss);
        let mut p = z.clone();
        Activation::Softmax.apply(&mut p);
        let v = Loss::CategoricalCrossentropy
            .value_and_grad(onehot.view(), p.view())
            .unwrap();
        assert!((v.loss - 8.137982368469238).abs() < 1e-4, "{}", v.loss);
        let v = Loss::SparseCategoricalCrossentropy
            .value_and_grad(sparse.view(), p.view())
            .unwrap();
        assert!((v.loss - 8.137982368469238).abs() < 1e-4, "{}", v.loss);
    }

    #[test]
    fn hand_computed_values() {
        let y = ndarray::arr2(&[[1.0f32, 0.0], [0.0, 1.0]]).into_dyn();
        let p = ndarray::arr2(&[[0.5f32, 0.5], [0.0, 1.0]]).into_dyn();
        let mse = Loss::MeanSquaredError
            .value_and_grad(y.view(), p.view())
            .unwrap()
            .loss;
        assert!((mse - 0.125).abs() < 1e-7);
        let mae = Loss::MeanAbsoluteError
            .value_and_grad(y.view(), p.view())
            .unwrap()
            .loss;
        assert!((mae - 0.25).abs() < 1e-7);
        // Row 2 is clipped to 1 - 1e-7: -log(0.99999988).
        let cce = Loss::CategoricalCrossentropy
            .value_and_grad(y.view(), p.view())
            .unwrap()
            .loss;
        let want = (2f64.ln() - (1.0f32 - EPSILON).ln() as f64) / 2.0;
        assert!((cce - want).abs() < 1e-6, "{cce} vs {want}");
    }

    #[test]
    fn names_and_aliases() {
        for (s, l) in [
            ("mse", Loss::MeanSquaredError),
            ("mean_squared_error", Loss::MeanSquaredError),
            ("mae", Loss::MeanAbsoluteError),
            ("binary_crossentropy", Loss::BinaryCrossentropy),
            (
                "sparse_categorical_crossentropy",
                Loss::SparseCategoricalCrossentropy,
            ),
        ] {
            assert_eq!(s.parse::<Loss>().unwrap(), l);
        }
        assert!("hinge".parse::<Loss>().is_err());
        assert_eq!(
            serde_json::to_string(&Loss::MeanSquaredError).unwrap(),
            "\"mean_squared_error\""
        );
    }

    #[test]
    fn target_alignment_and_validation() {
        let l = Loss::BinaryCrossentropy;
        let y = ArrayD::zeros(IxDyn(&[5]));
        assert_eq!(l.align_targets(y, &[5, 1]).unwrap().shape(), &[5, 1]);
        let e = l
            .align_targets(ArrayD::zeros(IxDyn(&[5, 3])), &[5, 1])
            .unwrap_err();
        assert!(e.to_string().contains("[5, 3]"), "{e}");
        let s = Loss::SparseCategoricalCrossentropy;
        assert_eq!(
            s.align_targets(ArrayD::zeros(IxDyn(&[5, 1])), &[5, 4])
                .unwrap()
                .shape(),
            &[5]
        );
        let y = ndarray::arr1(&[0.0f32, 3.0, 4.0]).into_dyn();
        let e = s.validate_targets(&y, 4).unwrap_err();
        assert!(e.to_string().contains("sample 2"), "{e}");
        let y = ndarray::arr1(&[0.0f32, 1.5]).into_dyn();
        assert!(
            s.validate_targets(&y, 4)
                .unwrap_err()
                .to_string()
                .contains("sample 1")
        );
        let y = ndarray::arr1(&[0.0f32, f32::NAN]).into_dyn();
        assert!(
            l.validate_targets(&y, 1)
                .unwrap_err()
                .to_string()
                .contains("NaN")
        );
    }
}
