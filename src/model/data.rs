//! What a model is fed: `Inputs` (token ids or floats, batch first) and `Targets`
//! (labels as f32), borrowed or owned, with the checks every entry point shares.

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
