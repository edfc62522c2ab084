//! `to_categorical`: one-hot encode integer class labels, as `keras.utils.to_categorical`.

use std::fmt::Display;

use ndarray::Array2;

use crate::{Error, Result};

/// One-hot encodes `labels` into a `(labels.len(), num_classes)` matrix of 0.0/1.0.
///
/// `num_classes: None` uses `max(labels) + 1` as Keras does (0 columns for no labels).
/// Unlike numpy indexing in Keras, a negative label or one `>= num_classes` is an error
/// naming its index and value instead of silently wrapping around or failing obscurely.
/// Works for any integer label type (`i32`, `i64`, `u8`, `usize`, ...).
pub fn to_categorical<T>(labels: &[T], num_classes: Option<usize>) -> Result<Array2<f32>>
where
    T: Copy + Display + TryInto<usize>,
{
    let mut classes = Vec::with_capacity(labels.len());
    for (i, &label) in labels.iter().enumerate() {
        let class: usize = label.try_into().map_err(|_| {
            Error::Data(format!(
                "to_categorical: label at index {i} is {label}, expected a class index >= 0"
            ))
        })?;
        classes.push(class);
    }
    let num_classes = match num_classes {
        Some(0) => {
            return Err(Error::invalid_argument(
                "to_categorical",
                "num_classes",
                "must be at least 1 (or None to infer it from the labels)",
            ));
        }
        Some(n) => n,
        None => classes.iter().max().map_or(0, |&m| m + 1),
    };
    // Checked before allocating: a huge `num_classes` must be an error, not an abort.
    let bytes = classes.len() as u128 * num_classes as u128 * 4;
    let what = format!(
        "{} labels one-hot over {num_classes} classes",
        classes.len()
    );
    crate::budget::check_bytes(&what, bytes)
        .map_err(|reason| Error::invalid_argument("to_categorical", "num_classes", reason))?;
    let mut out = Array2::<f32>::zeros((classes.len(), num_classes));
    for (i, &class) in classes.iter().enumerate() {
        if class >= num_classes {
            return Err(Error::Data(format!(
                "to_categorical: label at index {i} is {class}, out of range for \
                 num_classes={num_classes} (valid labels are 0..={})",
                num_classes - 1
            )));
        }
        out[[i, class]] = 1.0;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negative_label_names_index_and_value() {
        let err = to_categorical(&[0i32, 1, -3], None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("index 2") && err.contains("-3"), "{err}");
    }

    #[test]
    fn out_of_range_label_names_index_and_value() {
        let err = to_categorical(&[0usize, 5, 1], Some(3))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("index 1") && err.contains("5") && err.contains("num_classes=3"),
            "{err}"
        );
    }

    #[test]
    fn zero_classes_rejected_and_empty_labels_allowed() {
        assert!(to_categorical(&[0u8], Some(0)).is_err());
        assert!(to_categorical(&[0u8, 1], Some(usize::MAX)).is_err());
        let err = to_categorical(&[0u8, 1], Some(1 << 40))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("2 labels one-hot over 1099511627776 classes needs 8.8 TB"),
            "{err}"
        );
        let out = to_categorical::<i64>(&[], None).unwrap();
        assert_eq!(out.dim(), (0, 0));
        let out = to_categorical::<i64>(&[], Some(2)).unwrap();
        assert_eq!(out.dim(), (0, 2));
    }
}
