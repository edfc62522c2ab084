//! `"accuracy"` is resolved the way Keras's `compile_utils.get_metric` does, from the
//! shapes of labels and predictions: binary (threshold 0.5) when the output has one
//! unit, sparse categorical when the labels have fewer axes than the output (or a last
//! axis of 1), categorical (argmax vs argmax) otherwise.

use ndarray::ArrayViewD;

use crate::error::{Error, Result};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccuracyKind {
    Binary,
    Categorical,
    SparseCategorical,
}

impl AccuracyKind {
    /// Keras's `is_binary_or_sparse_categorical` on the user's label shape and the
    /// prediction shape (batch axis included in both).
    pub fn select(y_true_shape: &[usize], y_pred_shape: &[usize]) -> Self {
        let yp_last = y_pred_shape.last().copied().unwrap_or(1);
        let yt_last = y_true_shape.last().copied().unwrap_or(1);
        if yp_last == 1 {
            AccuracyKind::Binary
        } else if y_true_shape.len() < y_pred_shape.len() || (yt_last == 1 && yp_last > 1) {
            AccuracyKind::SparseCategorical
        } else {
            AccuracyKind::Categorical
        }
    }

    /// (correct, counted) for one batch. Labels: same number of values as the
    /// predictions (binary, categorical) or one class id per prediction row (sparse).
    pub fn count(
        self,
        y_true: ArrayViewD<'_, f32>,
        y_pred: ArrayViewD<'_, f32>,
    ) -> Result<(u64, u64)> {
        let c = y_pred.shape().last().copied().unwrap_or(1).max(1);
        let rows = y_pred.len() / c;
        let yt: Vec<f32> = y_true.iter().copied().collect();
        let yp: Vec<f32> = y_pred.iter().copied().collect();
        let mismatch = |want: usize| {
            Error::Shape(format!(
                "accuracy: {} labels for predictions of shape {:?}, expected {want}",
                yt.len(),
                y_pred.shape()
            ))
        };
        match self {
            AccuracyKind::Binary => {
                if yt.len() != yp.len() {
                    return Err(mismatch(yp.len()));
                }
                let ok = yt
                    .iter()
                    .zip(&yp)
                    .filter(|&(&t, &p)| t == if p > 0.5 { 1.0 } else { 0.0 })
                    .count();
                Ok((ok as u64, yp.len() as u64))
            }
            AccuracyKind::Categorical => {
                if yt.len() != yp.len() {
                    return Err(mismatch(yp.len()));
                }
                let ok = (0..rows)
                    .filter(|&r| argmax(&yt[r * c..(r + 1) * c]) == argmax(&yp[r * c..(r + 1) * c]))
                    .count();
                Ok((ok as u64, rows as u64))
            }
            AccuracyKind::SparseCategorical => {
                if yt.len() != rows {
                    return Err(mismatch(rows));
                }
                let ok = (0..rows)
                    .filter(|&r| yt[r] == argmax(&yp[r * c..(r + 1) * c]) as f32)
                    .count();
                Ok((ok as u64, rows as u64))
            }
        }
    }
}

/// Index of the first maximum, as `tf.argmax`.
pub(crate) fn argmax(v: &[f32]) -> usize {
    let mut best = 0;
    for (i, &x) in v.iter().enumerate() {
        if x > v[best] {
            best = i;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{arr1, arr2};

    #[test]
    fn kind_follows_keras_shape_rules() {
        assert_eq!(AccuracyKind::select(&[8], &[8, 1]), AccuracyKind::Binary);
        assert_eq!(AccuracyKind::select(&[8, 1], &[8, 1]), AccuracyKind::Binary);
        assert_eq!(
            AccuracyKind::select(&[8], &[8, 5]),
            AccuracyKind::SparseCategorical
        );
        assert_eq!(
            AccuracyKind::select(&[8, 1], &[8, 5]),
            AccuracyKind::SparseCategorical
        );
        assert_eq!(
            AccuracyKind::select(&[8, 5], &[8, 5]),
            AccuracyKind::Categorical
        );
        assert_eq!(
            AccuracyKind::select(&[8, 7], &[8, 7, 5]),
            AccuracyKind::SparseCategorical
        );
    }

    #[test]
    fn counts() {
        let p = arr2(&[[0.7f32], [0.5], [0.2], [0.9]]).into_dyn();
        let y = arr1(&[1.0f32, 1.0, 0.0, 0.0]).into_dyn();
        assert_eq!(
            AccuracyKind::Binary.count(y.view(), p.view()).unwrap(),
            (2, 4)
        );
        let p = arr2(&[[0.1f32, 0.7, 0.2], [0.5, 0.2, 0.3]]).into_dyn();
        let y = arr1(&[1.0f32, 2.0]).into_dyn();
        assert_eq!(
            AccuracyKind::SparseCategorical
                .count(y.view(), p.view())
                .unwrap(),
            (1, 2)
        );
        let y = arr2(&[[0.0f32, 1.0, 0.0], [1.0, 0.0, 0.0]]).into_dyn();
        assert_eq!(
            AccuracyKind::Categorical.count(y.view(), p.view()).unwrap(),
            (2, 2)
        );
        assert!(AccuracyKind::Binary.count(y.view(), p.view()).is_ok());
        let short = arr1(&[1.0f32]).into_dyn();
        assert!(
            AccuracyKind::SparseCategorical
                .count(short.view(), p.view())
                .is_err()
        );
    }
}
