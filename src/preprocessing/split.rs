//! `train_test_split`: split paired samples (features and labels) into a training and a
//! test part, like scikit-learn's `train_test_split` that the Keras tutorials use.
//!
//! Sizes follow scikit-learn exactly: a fractional `test_size` gives
//! `n_test = ceil(test_size * n)` and `n_train = n - n_test`. The shuffled order cannot
//! be scikit-learn's (it draws from numpy's Mersenne Twister); it comes from
//! [`crate::rng::SeededRng`], so the same seed always gives the same split, on any
//! machine and thread count. Like scikit-learn, the test part is taken first from the
//! permutation; without shuffling the training part is the first `n_train` rows.

use ndarray::{Array, Axis, RemoveAxis};

use crate::rng::SeededRng;
use crate::{Error, Result};

/// Something whose first axis indexes samples and can be gathered by row indices:
/// `Vec<T>`, and owned ndarray arrays of any dimension (`Array1`, `Array2`, ...).
pub trait Rows: Sized {
    /// Number of samples (length of the first axis).
    fn n_rows(&self) -> usize;
    /// A new value holding the samples at `indices`, in that order.
    fn select_rows(&self, indices: &[usize]) -> Self;
}

impl<T: Clone> Rows for Vec<T> {
    fn n_rows(&self) -> usize {
        self.len()
    }
    fn select_rows(&self, indices: &[usize]) -> Self {
        indices.iter().map(|&i| self[i].clone()).collect()
    }
}

impl<A: Clone, D: RemoveAxis> Rows for Array<A, D> {
    fn n_rows(&self) -> usize {
        self.len_of(Axis(0))
    }
    fn select_rows(&self, indices: &[usize]) -> Self {
        self.select(Axis(0), indices)
    }
}

/// Size of the test part: a fraction in (0, 1) or an absolute count, as scikit-learn's
/// float or int `test_size`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum TestSize {
    Fraction(f64),
    Count(usize),
}

impl From<f64> for TestSize {
    fn from(f: f64) -> Self {
        TestSize::Fraction(f)
    }
}

impl From<usize> for TestSize {
    fn from(n: usize) -> Self {
        TestSize::Count(n)
    }
}

/// The four parts returned by [`train_test_split`], named as scikit-learn's tuple.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainTestSplit<X, Y> {
    pub x_train: X,
    pub x_test: X,
    pub y_train: Y,
    pub y_test: Y,
}

/// Index sets of a split: `(train, test)`. Exposed for splitting more than two arrays.
pub fn train_test_indices(
    n_samples: usize,
    test_size: impl Into<TestSize>,
    shuffle: bool,
    seed: u64,
) -> Result<(Vec<usize>, Vec<usize>)> {
    let ctx = "train_test_split";
    let n_test = match test_size.into() {
        TestSize::Fraction(f) => {
            if !(f > 0.0 && f < 1.0) {
                return Err(Error::invalid_argument(
                    ctx,
                    "test_size",
                    format!("a fraction must be in (0, 1), got {f}"),
                ));
            }
            (f * n_samples as f64).ceil() as usize
        }
        TestSize::Count(c) => {
            if c == 0 || c >= n_samples {
                return Err(Error::invalid_argument(
                    ctx,
                    "test_size",
                    format!(
                        "a count must be in [1, {}) for {n_samples} samples, got {c}",
                        n_samples
                    ),
                ));
            }
            c
        }
    };
    let n_train = n_samples - n_test;
    if n_train == 0 || n_test == 0 {
        return Err(Error::invalid_argument(
            ctx,
            "test_size",
            format!(
                "with {n_samples} samples this gives {n_train} training and {n_test} test \
                 samples; both parts must be non-empty"
            ),
        ));
    }
    let mut order: Vec<usize> = (0..n_samples).collect();
    if shuffle {
        SeededRng::new(seed).shuffle(&mut order);
        let train = order.split_off(n_test);
        Ok((train, order))
    } else {
        let test = order.split_off(n_train);
        Ok((order, test))
    }
}

/// Splits `x` and `y` (same number of samples) into train and test parts.
///
/// `test_size`: `0.2` (fraction, rounded up as scikit-learn) or `5usize` (count).
/// `shuffle`: permute before splitting (scikit-learn's default is `true`); `seed` fixes
/// the permutation (ours, not numpy's: see the module docs).
pub fn train_test_split<X: Rows, Y: Rows>(
    x: &X,
    y: &Y,
    test_size: impl Into<TestSize>,
    shuffle: bool,
    seed: u64,
) -> Result<TrainTestSplit<X, Y>> {
    if x.n_rows() != y.n_rows() {
        return Err(Error::Shape(format!(
            "train_test_split: x has {} samples but y has {}",
            x.n_rows(),
            y.n_rows()
        )));
    }
    let (train, test) = train_test_indices(x.n_rows(), test_size, shuffle, seed)?;
    Ok(TrainTestSplit {
        x_train: x.select_rows(&train),
        x_test: x.select_rows(&test),
        y_train: y.select_rows(&train),
        y_test: y.select_rows(&test),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array1, Array2};

    #[test]
    fn sizes_follow_sklearn_ceil() {
        // sklearn: n=10, test_size=0.25 -> n_test = ceil(2.5) = 3, n_train = 7.
        let (train, test) = train_test_indices(10, 0.25, true, 1).unwrap();
        assert_eq!((train.len(), test.len()), (7, 3));
        let (train, test) = train_test_indices(10, 3usize, false, 1).unwrap();
        assert_eq!(train, (0..7).collect::<Vec<_>>());
        assert_eq!(test, vec![7, 8, 9]);
    }

    #[test]
    fn pairs_stay_together_and_split_is_a_partition() {
        let x = Array2::from_shape_fn((20, 3), |(i, j)| (i * 10 + j) as f32);
        let y = Array1::from_iter(0..20i64);
        let s = train_test_split(&x, &y, 0.3, true, 42).unwrap();
        assert_eq!(s.x_train.dim(), (14, 3));
        assert_eq!(s.x_test.dim(), (6, 3));
        for (row, &label) in s.x_train.rows().into_iter().zip(&s.y_train) {
            assert_eq!(row[0], (label * 10) as f32);
        }
        let mut all: Vec<i64> = s.y_train.iter().chain(&s.y_test).copied().collect();
        all.sort();
        assert_eq!(all, (0..20).collect::<Vec<_>>());
        // Deterministic from the seed, and a different seed gives a different order.
        let again = train_test_split(&x, &y, 0.3, true, 42).unwrap();
        assert_eq!(again, s);
        let other = train_test_split(&x, &y, 0.3, true, 43).unwrap();
        assert_ne!(other.y_test, s.y_test);
    }

    #[test]
    fn vec_inputs_and_errors() {
        let x: Vec<String> = (0..4).map(|i| format!("t{i}")).collect();
        let y = vec![0, 1, 0, 1];
        let s = train_test_split(&x, &y, 0.5, false, 0).unwrap();
        assert_eq!(s.x_test, vec!["t2".to_string(), "t3".to_string()]);
        let e = train_test_split(&x, &vec![0, 1], 0.5, true, 0).unwrap_err();
        assert!(e.to_string().contains("4 samples") && e.to_string().contains("2"));
        assert!(train_test_split(&x, &y, 1.0, true, 0).is_err());
        assert!(train_test_split(&x, &y, 0.0, true, 0).is_err());
        assert!(train_test_split(&x, &y, f64::NAN, true, 0).is_err());
        // 0.9 of 4 -> n_test = 4, empty training part.
        let e = train_test_split(&x, &y, 0.9, true, 0)
            .unwrap_err()
            .to_string();
        assert!(e.contains("0 training"), "{e}");
        assert!(train_test_split(&x, &y, 4usize, true, 0).is_err());
    }
}
