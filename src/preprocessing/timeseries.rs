//! `keras.utils.timeseries_dataset_from_array`: sliding windows over a series, with
//! Keras's argument names and its exact index arithmetic (keras 3.15,
//! `keras/src/utils/timeseries_dataset_utils.py`):
//!
//! - the usable rows are `data[start_index:end_index]`;
//! - `num_seqs = end_index - start_index - (sequence_length - 1) * sampling_rate`,
//!   capped at `len(targets)` when there are targets;
//! - windows start at `0, sequence_stride, 2 * sequence_stride, ... < num_seqs`
//!   (relative to `start_index`);
//! - window `i` starting at `p` holds rows `start_index + p + j * sampling_rate` for
//!   `j < sequence_length`, and its target is `targets[start_index + p]`: the target
//!   row at the window's *first* index, which is why a Keras user writes
//!   `targets = data[sequence_length:]` to predict the value after each window.
//!   Targets are indexed like `data` (from `start_index` on); Keras fails while
//!   iterating when that runs past the end of `targets`, here it is an error up front.
//!
//! Keras returns a batched `tf.data.Dataset`; here the windows come back as one array
//! (`fit` batches and shuffles), so `batch_size`, `shuffle` and `seed` are not
//! arguments. The same checks as Keras's raise the same complaints, and a few more
//! that Keras leaves to TensorFlow (a `sequence_length` of 0, windows that would not
//! fit in memory) are refused before anything is allocated.

use ndarray::{ArrayD, ArrayViewD, Axis, IxDyn};

use crate::{Error, Result};

/// The window arguments of `timeseries_dataset_from_array`, Keras's defaults.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimeseriesOptions {
    /// Rows per window.
    pub sequence_length: usize,
    /// Rows between the starts of consecutive windows (Keras default 1).
    pub sequence_stride: usize,
    /// Rows between consecutive steps inside a window (Keras default 1).
    pub sampling_rate: usize,
    /// First usable row (Keras default `None`, i.e. 0).
    pub start_index: Option<usize>,
    /// One past the last usable row (Keras default `None`, i.e. `len(data)`);
    /// Keras requires it to be below `len(data)` when given.
    pub end_index: Option<usize>,
}

impl TimeseriesOptions {
    /// Windows of `sequence_length` rows with Keras's defaults for the rest.
    pub fn new(sequence_length: usize) -> Self {
        TimeseriesOptions {
            sequence_length,
            sequence_stride: 1,
            sampling_rate: 1,
            start_index: None,
            end_index: None,
        }
    }
}

/// The windows, and the target of each window when targets were given.
#[derive(Clone, Debug, PartialEq)]
pub struct TimeseriesWindows {
    /// `(num_windows, sequence_length, data.shape[1..]...)`.
    pub inputs: ArrayD<f32>,
    /// `(num_windows, targets.shape[1..]...)`.
    pub targets: Option<ArrayD<f32>>,
}

fn bad(arg: &str, reason: String) -> Error {
    Error::invalid_argument("timeseries_dataset_from_array", arg, reason)
}

/// The window start rows (absolute indices into `data`) for a series of `len` rows
/// and `targets_len` targets, or Keras's error for the arguments. Empty when the
/// series is shorter than one window, as in Keras (callers that need a window say so).
pub fn window_starts(
    len: usize,
    targets_len: Option<usize>,
    o: &TimeseriesOptions,
) -> Result<Vec<usize>> {
    // Keras tests `if start_index:` and `if end_index:`, so a 0 is not checked.
    let start_given = o.start_index.filter(|&s| s != 0);
    let end_given = o.end_index.filter(|&e| e != 0);
    if let Some(s) = start_given
        && s >= len
    {
        return Err(bad(
            "start_index",
            format!("must be lower than the length of the data; got {s} for data of length {len}"),
        ));
    }
    if let Some(e) = end_given {
        if let Some(s) = start_given
            && e <= s
        {
            return Err(bad(
                "end_index",
                format!("must be higher than start_index; got start_index={s}, end_index={e}"),
            ));
        }
        if e >= len {
            return Err(bad(
                "end_index",
                format!(
                    "must be lower than the length of the data; got {e} for data of length {len}"
                ),
            ));
        }
    }
    if o.sequence_length == 0 {
        return Err(bad(
            "sequence_length",
            "must be at least 1 (a window of 0 steps holds nothing)".into(),
        ));
    }
    for (arg, v) in [
        ("sampling_rate", o.sampling_rate),
        ("sequence_stride", o.sequence_stride),
    ] {
        if v == 0 {
            return Err(bad(arg, "must be higher than 0".into()));
        }
        if v >= len {
            return Err(bad(
                arg,
                format!(
                    "must be lower than the length of the data; got {v} for data of length {len}"
                ),
            ));
        }
    }
    // The checks above skip a 0, but the arithmetic uses it: `end_index = 0` gives
    // no window at all (as Keras does).
    let start = o.start_index.unwrap_or(0);
    let end = o.end_index.unwrap_or(len);
    // (sequence_length - 1) * sampling_rate in u128: a huge sequence_length gives no
    // window instead of an overflow.
    let span = (o.sequence_length as u128 - 1) * o.sampling_rate as u128;
    let mut num_seqs = end as i128 - start as i128 - span.min(i128::MAX as u128 / 2) as i128;
    if let Some(t) = targets_len {
        num_seqs = num_seqs.min(t as i128);
    }
    if num_seqs <= 0 {
        return Ok(Vec::new());
    }
    let starts: Vec<usize> = (0..num_seqs as usize)
        .step_by(o.sequence_stride)
        .map(|p| start + p)
        .collect();
    // Keras caps the count by len(targets) but reads targets[start_index + p]: with a
    // start_index, targets shorter than the data run out and TensorFlow fails while
    // iterating. The same case is an error here, before anything is built.
    if let (Some(t), Some(&last)) = (targets_len, starts.last())
        && last >= t
    {
        return Err(bad(
            "targets",
            format!(
                "has {t} rows, but the window starting at row {last} takes its target from \
                 targets[{last}] (targets are indexed like data, from start_index = {start})"
            ),
        ));
    }
    Ok(starts)
}

/// `keras.utils.timeseries_dataset_from_array(data, targets, sequence_length,
/// sequence_stride, sampling_rate, start_index=..., end_index=...)`, unbatched and
/// unshuffled. `data` is `(time, ...)` (usually `(time, features)`), `targets` any
/// array whose first axis is time. See the module docs for the index arithmetic.
pub fn timeseries_dataset_from_array(
    data: ArrayViewD<'_, f32>,
    targets: Option<ArrayViewD<'_, f32>>,
    options: &TimeseriesOptions,
) -> Result<TimeseriesWindows> {
    if data.ndim() == 0 {
        return Err(bad("data", "must have a time axis (got a scalar)".into()));
    }
    if let Some(t) = &targets
        && t.ndim() == 0
    {
        return Err(bad(
            "targets",
            "must have a time axis (got a scalar)".into(),
        ));
    }
    let len = data.shape()[0];
    let starts = window_starts(len, targets.as_ref().map(|t| t.shape()[0]), options)?;
    let row: usize = data.shape()[1..].iter().product();
    let bytes = (starts.len() as u128)
        .saturating_mul(options.sequence_length as u128)
        .saturating_mul(row as u128)
        .saturating_mul(4);
    crate::budget::check_bytes(
        &format!(
            "{} windows of {} steps x {row} values",
            starts.len(),
            options.sequence_length
        ),
        bytes,
    )
    .map_err(|r| bad("sequence_length", r))?;
    let mut shape = vec![starts.len(), options.sequence_length];
    shape.extend_from_slice(&data.shape()[1..]);
    let mut out = Vec::with_capacity(bytes as usize / 4);
    for &s in &starts {
        for j in 0..options.sequence_length {
            out.extend(
                data.index_axis(Axis(0), s + j * options.sampling_rate)
                    .iter(),
            );
        }
    }
    let inputs =
        ArrayD::from_shape_vec(IxDyn(&shape), out).map_err(|e| Error::Shape(e.to_string()))?;
    let targets = match targets {
        None => None,
        Some(t) => {
            let views: Vec<_> = starts.iter().map(|&s| t.index_axis(Axis(0), s)).collect();
            Some(if views.is_empty() {
                let mut shape = vec![0];
                shape.extend_from_slice(&t.shape()[1..]);
                ArrayD::zeros(IxDyn(&shape))
            } else {
                ndarray::stack(Axis(0), &views).map_err(|e| Error::Shape(e.to_string()))?
            })
        }
    };
    Ok(TimeseriesWindows { inputs, targets })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array1, Array2};

    #[test]
    fn windows_and_targets_follow_keras_docstring_example() {
        // Keras's docstring: data = arange(100), targets = data[10:], length 10:
        // the first window is 0..9 with target 10.
        let data = Array1::from_iter((0..100).map(|v| v as f32)).into_dyn();
        let targets = Array1::from_iter((10..100).map(|v| v as f32)).into_dyn();
        let w = timeseries_dataset_from_array(
            data.view(),
            Some(targets.view()),
            &TimeseriesOptions::new(10),
        )
        .unwrap();
        assert_eq!(w.inputs.shape(), &[90, 10]);
        let t = w.targets.unwrap();
        assert_eq!(t.shape(), &[90]);
        for i in 0..90 {
            assert_eq!(w.inputs[[i, 0]], i as f32);
            assert_eq!(w.inputs[[i, 9]], (i + 9) as f32);
            assert_eq!(t[[i]], (i + 10) as f32);
        }
    }

    #[test]
    fn features_stay_together_and_sampling_rate_skips_rows() {
        let data = Array2::from_shape_fn((20, 2), |(t, f)| (t * 10 + f) as f32).into_dyn();
        let mut o = TimeseriesOptions::new(3);
        o.sampling_rate = 2;
        o.sequence_stride = 4;
        let w = timeseries_dataset_from_array(data.view(), None, &o).unwrap();
        // num_seqs = 20 - 2*2 = 16, starts 0, 4, 8, 12.
        assert_eq!(w.inputs.shape(), &[4, 3, 2]);
        assert_eq!(w.inputs[[1, 2, 1]], ((4 + 4) * 10 + 1) as f32);
        assert!(w.targets.is_none());
    }

    #[test]
    fn too_short_gives_no_window_and_bad_arguments_are_named() {
        let data = Array1::from_iter((0..5).map(|v| v as f32)).into_dyn();
        let w =
            timeseries_dataset_from_array(data.view(), None, &TimeseriesOptions::new(6)).unwrap();
        assert_eq!(w.inputs.shape(), &[0, 6]);
        let e = window_starts(5, None, &TimeseriesOptions::new(0)).unwrap_err();
        assert!(e.to_string().contains("sequence_length"), "{e}");
        let mut o = TimeseriesOptions::new(2);
        o.sequence_stride = 5;
        let e = window_starts(5, None, &o).unwrap_err().to_string();
        assert!(
            e.contains("sequence_stride") && e.contains("lower than"),
            "{e}"
        );
        o.sequence_stride = 1;
        o.end_index = Some(5);
        let e = window_starts(5, None, &o).unwrap_err().to_string();
        assert!(e.contains("end_index"), "{e}");
        o.end_index = Some(3);
        o.start_index = Some(3);
        let e = window_starts(5, None, &o).unwrap_err().to_string();
        assert!(e.contains("higher than start_index"), "{e}");
        let huge = TimeseriesOptions::new(usize::MAX);
        assert_eq!(window_starts(5, None, &huge).unwrap(), Vec::<usize>::new());
    }
}
