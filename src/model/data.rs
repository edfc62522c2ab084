//! What a model is fed: `Inputs` (token ids or floats, batch first) and `Targets`
//! (labels as f32), borrowed or owned, with the checks every entry point shares.

use std::borrow::Cow;

use ndarray::{Array1, Array2, Array3, ArrayD, ArrayView2, ArrayViewD, Axis, CowArray, Ix2, IxDyn};

use crate::error::{Error, Result};
use crate::layers::LayerInput;

/// Rows `idx` (axis 0) of `a`, as ndarray's `select`: one slice copy per row when `a`
/// is contiguous (`select` goes through `concatenate`, element by element: 1% of a
/// small model's training step, on the thread every other thread waits for).
pub(crate) fn select_rows<T: Copy, D: ndarray::RemoveAxis>(
    a: &ndarray::ArrayRef<T, D>,
    idx: &[usize],
) -> ndarray::Array<T, D> {
    let (Some(all), true) = (a.as_slice(), a.ndim() > 0) else {
        return a.select(Axis(0), idx);
    };
    let width = a.shape()[1..].iter().product::<usize>();
    let mut rows = Vec::with_capacity(idx.len() * width);
    for &i in idx {
        rows.extend_from_slice(&all[i * width..(i + 1) * width]);
    }
    let mut shape = a.raw_dim();
    shape[0] = idx.len();
    ndarray::Array::from_shape_vec(shape, rows).expect("rows of the same shape")
}

/// Model input, batch on axis 0.
#[derive(Clone, Debug)]
pub enum Inputs<'a> {
    /// Integer token ids (samples, time_steps), for a model starting with `Embedding`.
    Ids(CowArray<'a, i32, Ix2>),
    /// Float features: (samples, features) or (samples, time_steps, features).
    Floats(CowArray<'a, f32, IxDyn>),
}

impl<'a> Inputs<'a> {
    pub fn len(&self) -> usize {
        self.shape()[0]
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn shape(&self) -> &[usize] {
        match self {
            Inputs::Ids(a) => a.shape(),
            Inputs::Floats(a) => a.shape(),
        }
    }

    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Inputs::Ids(_) => "integer token ids",
            Inputs::Floats(_) => "floats",
        }
    }

    /// Rows `idx` as an owned batch.
    pub(crate) fn select(&self, idx: &[usize]) -> Batch {
        match self {
            Inputs::Ids(a) => Batch::Ids(select_rows(a, idx)),
            Inputs::Floats(a) => Batch::Floats(select_rows(a, idx)),
        }
    }

    /// Contiguous rows [start, end) without copying.
    pub(crate) fn slice(&self, start: usize, end: usize) -> LayerInput<'_> {
        match self {
            Inputs::Ids(a) => LayerInput::Ids(a.slice_axis(Axis(0), (start..end).into())),
            Inputs::Floats(a) => LayerInput::Floats(a.slice_axis(Axis(0), (start..end).into())),
        }
    }

    /// NaN or infinite float input is an error naming the sample.
    pub(crate) fn check_finite(&self, what: &str) -> Result<()> {
        if let Inputs::Floats(a) = self {
            let per_sample = (a.len() / a.shape()[0].max(1)).max(1);
            if let Some((i, v)) = a.iter().enumerate().find(|(_, v)| !v.is_finite()) {
                return Err(Error::Data(format!(
                    "{what} sample {} contains {v} (inputs must be finite)",
                    i / per_sample
                )));
            }
        }
        Ok(())
    }
}

/// An owned batch of inputs.
pub(crate) enum Batch {
    Ids(Array2<i32>),
    Floats(ArrayD<f32>),
}

impl Batch {
    pub(crate) fn view(&self) -> LayerInput<'_> {
        match self {
            Batch::Ids(a) => LayerInput::Ids(a.view()),
            Batch::Floats(a) => LayerInput::Floats(a.view()),
        }
    }
}

impl<'a> From<ArrayView2<'a, i32>> for Inputs<'a> {
    fn from(a: ArrayView2<'a, i32>) -> Self {
        Inputs::Ids(a.into())
    }
}
impl<'a> From<&'a Array2<i32>> for Inputs<'a> {
    fn from(a: &'a Array2<i32>) -> Self {
        Inputs::Ids(a.view().into())
    }
}
impl From<Array2<i32>> for Inputs<'static> {
    fn from(a: Array2<i32>) -> Self {
        Inputs::Ids(a.into())
    }
}
impl<'a> From<ArrayViewD<'a, f32>> for Inputs<'a> {
    fn from(a: ArrayViewD<'a, f32>) -> Self {
        Inputs::Floats(a.into())
    }
}
impl<'a> From<&'a ArrayD<f32>> for Inputs<'a> {
    fn from(a: &'a ArrayD<f32>) -> Self {
        Inputs::Floats(a.view().into())
    }
}
impl From<ArrayD<f32>> for Inputs<'static> {
    fn from(a: ArrayD<f32>) -> Self {
        Inputs::Floats(a.into())
    }
}
impl<'a> From<&'a Array2<f32>> for Inputs<'a> {
    fn from(a: &'a Array2<f32>) -> Self {
        Inputs::Floats(a.view().into_dyn().into())
    }
}
impl From<Array2<f32>> for Inputs<'static> {
    fn from(a: Array2<f32>) -> Self {
        Inputs::Floats(a.into_dyn().into())
    }
}
impl<'a> From<&'a Array3<f32>> for Inputs<'a> {
    fn from(a: &'a Array3<f32>) -> Self {
        Inputs::Floats(a.view().into_dyn().into())
    }
}
impl From<Array3<f32>> for Inputs<'static> {
    fn from(a: Array3<f32>) -> Self {
        Inputs::Floats(a.into_dyn().into())
    }
}

/// Labels as f32, batch on axis 0: 0/1 values, class ids, one-hot rows or regression
/// targets. Integer label arrays convert exactly (class ids are far below 2^24).
#[derive(Clone, Debug)]
pub struct Targets<'a>(pub CowArray<'a, f32, IxDyn>);

impl Targets<'_> {
    pub fn len(&self) -> usize {
        self.0.shape().first().copied().unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn shape(&self) -> &[usize] {
        self.0.shape()
    }
}

impl<'a> From<&'a Array1<f32>> for Targets<'a> {
    fn from(a: &'a Array1<f32>) -> Self {
        Targets(a.view().into_dyn().into())
    }
}
impl From<Array1<f32>> for Targets<'static> {
    fn from(a: Array1<f32>) -> Self {
        Targets(a.into_dyn().into())
    }
}
impl<'a> From<&'a Array2<f32>> for Targets<'a> {
    fn from(a: &'a Array2<f32>) -> Self {
        Targets(a.view().into_dyn().into())
    }
}
impl From<Array2<f32>> for Targets<'static> {
    fn from(a: Array2<f32>) -> Self {
        Targets(a.into_dyn().into())
    }
}
impl<'a> From<&'a ArrayD<f32>> for Targets<'a> {
    fn from(a: &'a ArrayD<f32>) -> Self {
        Targets(a.view().into())
    }
}
impl From<ArrayD<f32>> for Targets<'static> {
    fn from(a: ArrayD<f32>) -> Self {
        Targets(a.into())
    }
}
impl<'a> From<ArrayViewD<'a, f32>> for Targets<'a> {
    fn from(a: ArrayViewD<'a, f32>) -> Self {
        Targets(a.into())
    }
}

macro_rules! int_targets {
    ($($t:ty),*) => {$(
        // Any lifetime: the converted labels are owned, and a free lifetime lets them
        // sit beside borrowed inputs in `FitOptions::validation_data`.
        impl<'a> From<&Array1<$t>> for Targets<'a> {
            fn from(a: &Array1<$t>) -> Self {
                Targets(a.mapv(|v| v as f32).into_dyn().into())
            }
        }
        impl<'a> From<Array1<$t>> for Targets<'a> {
            fn from(a: Array1<$t>) -> Self {
                Targets::from(&a)
            }
        }
    )*};
}
int_targets!(i32, i64, u8);

/// Per-sample weights for `fit`'s `sample_weight`, `evaluate_weighted` and
/// `FitOptions::validation_sample_weight` (Keras's `sample_weight` argument): shape
/// `(samples,)` (or `(samples, 1)`) for a model with one output per sample,
/// `(samples, steps)` for per-step outputs (Keras's temporal weights). Contiguous
/// arrays are borrowed, not copied. A slice, not an ndarray view, so that
/// `FitOptions` stays covariant in its lifetime (`..Default::default()` works).
#[derive(Clone, Debug)]
pub struct SampleWeight<'a> {
    values: Cow<'a, [f32]>,
    shape: Vec<usize>,
}

impl<'a> SampleWeight<'a> {
    /// `values` in row-major order for an array of `shape`; a shape that does not
    /// hold them is an error.
    pub fn new(values: impl Into<Cow<'a, [f32]>>, shape: &[usize]) -> Result<Self> {
        let values = values.into();
        if shape.iter().product::<usize>() != values.len() || shape.is_empty() {
            return Err(Error::Shape(format!(
                "sample weights: {} values do not fill shape {shape:?}",
                values.len()
            )));
        }
        Ok(SampleWeight {
            values,
            shape: shape.to_vec(),
        })
    }

    pub fn shape(&self) -> &[usize] {
        &self.shape
    }
}

impl<'a, D: ndarray::Dimension> From<ndarray::ArrayView<'a, f32, D>> for SampleWeight<'a> {
    fn from(a: ndarray::ArrayView<'a, f32, D>) -> Self {
        let shape = a.shape().to_vec();
        let values = match a.to_slice() {
            Some(s) => Cow::Borrowed(s),
            None => Cow::Owned(a.iter().copied().collect()),
        };
        SampleWeight { values, shape }
    }
}
impl<'a, D: ndarray::Dimension> From<&'a ndarray::Array<f32, D>> for SampleWeight<'a> {
    fn from(a: &'a ndarray::Array<f32, D>) -> Self {
        a.view().into()
    }
}
impl<D: ndarray::Dimension> From<ndarray::Array<f32, D>> for SampleWeight<'static> {
    fn from(a: ndarray::Array<f32, D>) -> Self {
        let shape = a.shape().to_vec();
        let values = if a.is_standard_layout() {
            a.into_raw_vec_and_offset().0
        } else {
            a.iter().copied().collect()
        };
        SampleWeight {
            values: Cow::Owned(values),
            shape,
        }
    }
}
impl<'a> From<&'a [f32]> for SampleWeight<'a> {
    fn from(a: &'a [f32]) -> Self {
        SampleWeight {
            shape: vec![a.len()],
            values: Cow::Borrowed(a),
        }
    }
}
impl From<Vec<f32>> for SampleWeight<'static> {
    fn from(a: Vec<f32>) -> Self {
        SampleWeight {
            shape: vec![a.len()],
            values: Cow::Owned(a),
        }
    }
}

/// Keras's `class_weight`: class index -> weight of the samples of that class. Classes
/// not named weigh 1.0, as in Keras.
pub type ClassWeight = std::collections::BTreeMap<usize, f32>;

/// One weight per loss value: `weights` reshaped to `values_shape` (the per-sample or
/// per-step shape the loss averages over, batch first) the way Keras's
/// `squeeze_or_expand_to_same_rank` matches them (a trailing axis of 1 may be dropped
/// or added), checked finite and non-negative. `what` names the argument in errors.
pub(crate) fn align_sample_weight(
    weights: SampleWeight<'_>,
    values_shape: &[usize],
    what: &str,
) -> Result<ArrayD<f32>> {
    let got = weights.shape.clone();
    let want = values_shape;
    let ok = got == want
        || (got.len() == want.len() + 1 && got.last() == Some(&1) && got[..want.len()] == *want)
        || (got.len() + 1 == want.len() && want.last() == Some(&1) && got[..] == want[..got.len()]);
    if !ok {
        let hint = if want.len() == 2 && got.len() == 1 && got[0] == want[0] {
            format!(
                "; the model outputs one value per step ({} steps), so Keras takes one \
                 weight per sample and step, shape {want:?} (repeat a sample's weight over \
                 its steps for per-sample weighting)",
                want[1]
            )
        } else if got.first() != want.first() {
            format!(
                " ({} weights for {} samples)",
                got.first().copied().unwrap_or(0),
                want[0]
            )
        } else {
            String::new()
        };
        return Err(Error::Shape(format!(
            "{what} has shape {got:?}, expected {want:?}{hint}"
        )));
    }
    check_weights(weights.values.iter().copied(), want, what)?;
    Ok(
        ArrayD::from_shape_vec(IxDyn(want), weights.values.into_owned())
            .expect("same number of elements"),
    )
}

/// Weights must be finite and >= 0 (Keras accepts negative or NaN weights and trains
/// on a loss that is then unbounded below or NaN; refused here, naming the sample).
fn check_weights(values: impl Iterator<Item = f32>, shape: &[usize], what: &str) -> Result<()> {
    let per_sample = shape[1..].iter().product::<usize>().max(1);
    for (i, v) in values.enumerate() {
        if !v.is_finite() || v < 0.0 {
            let at = if per_sample > 1 {
                format!("[{}, {}]", i / per_sample, i % per_sample)
            } else {
                format!("[{i}]")
            };
            return Err(Error::Data(format!(
                "{what}{at} is {v}; weights must be finite and >= 0"
            )));
        }
    }
    Ok(())
}

/// Keras's `class_weight_to_sample_weights`: each sample weighs `class_weight` of its
/// class (1.0 for classes not named). `y` holds the targets as aligned to the model
/// output (`Loss::align_targets`), `classes` is the output's last axis. The class is
/// the label for sparse labels, the rounded label for one output unit (binary), else
/// the argmax of the one-hot row. A per-step output has no single class per sample,
/// and a class the output cannot produce is a mistake (Keras ignores both silently or
/// fails deep inside): both are errors.
pub(crate) fn class_weight_to_sample_weights(
    y: &ArrayD<f32>,
    class_weight: &ClassWeight,
    sparse: bool,
    crossentropy: bool,
    classes: usize,
) -> Result<ArrayD<f32>> {
    let per_sample = if sparse { y.ndim() == 1 } else { y.ndim() == 2 };
    if !per_sample {
        return Err(Error::invalid_argument(
            "fit",
            "class_weight",
            format!(
                "needs one class per sample, but the targets have shape {:?} (one class per \
                 step); give per-step weights with sample_weight of shape (samples, steps) \
                 instead",
                y.shape()
            ),
        ));
    }
    let n_classes = if sparse || classes > 1 { classes } else { 2 };
    if crossentropy && let Some((&k, _)) = class_weight.range(n_classes..).next() {
        return Err(Error::invalid_argument(
            "fit",
            "class_weight",
            format!(
                "names class {k}, but the model's labels are classes 0..{} ({} output \
                 unit{})",
                n_classes - 1,
                classes,
                if classes == 1 { "" } else { "s" }
            ),
        ));
    }
    for (&k, &w) in class_weight {
        if !w.is_finite() || w < 0.0 {
            return Err(Error::invalid_argument(
                "fit",
                "class_weight",
                format!("the weight of class {k} is {w}; weights must be finite and >= 0"),
            ));
        }
    }
    let n = y.shape()[0];
    let flat = y.as_slice().expect("aligned targets are contiguous");
    let width = flat.len() / n.max(1);
    let weights = (0..n).map(|i| {
        let row = &flat[i * width..(i + 1) * width];
        let class = if width == 1 {
            // numpy's round (half to even), then int32, as Keras.
            row[0].round_ties_even() as i64
        } else {
            // First maximum, as np.argmax.
            let mut best = 0;
            for (j, &v) in row.iter().enumerate() {
                if v > row[best] {
                    best = j;
                }
            }
            best as i64
        };
        usize::try_from(class)
            .ok()
            .and_then(|c| class_weight.get(&c))
            .copied()
            .unwrap_or(1.0)
    });
    Ok(Array1::from_iter(weights).into_dyn())
}
