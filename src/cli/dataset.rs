//! `[data]` -> model-ready arrays: load the source, split train/test, turn text into
//! ids with a `TextVectorization` (adapted on the training texts only), pad, and
//! optionally one-hot encode. `InputSpec` records these choices in the saved model so
//! `predict` treats new input the same way.
//!
//! Numeric data takes two other routes: float `.npz` arrays are used as they are (any
//! rank), and a time-series CSV is split in time order, standardised with the
//! training rows' statistics (Keras's weather tutorial) and cut into
//! `timeseries_dataset_from_array` windows per part. Its `SeriesSpec` (columns,
//! window arguments, statistics) is saved in the model, so `predict` and `evaluate`
//! cut and scale new files as training did instead of computing new statistics,
//! which would shift every prediction by the difference in means.

use std::path::{Path, PathBuf};

use ndarray::{Array1, Array2, Array3, ArrayD, IxDyn};
use serde::{Deserialize, Serialize};

use crate::config::{DataConfig, DataSource, GeneratedTask, NpzKeys};
use crate::datasets::{self, ImdbOptions, NpyArray, NpyData, Npz, ReutersOptions, generated};
use crate::error::{Error, Result};
use crate::model::Inputs;
use crate::preprocessing::{
    Padding, TimeseriesOptions, Truncating, pad_sequences, timeseries_dataset_from_array,
    train_test_indices,
};
use crate::rng::SeededRng;
use crate::text::{
    CsvOptions, DirectoryOptions, TextDataset, TextVectorization, TextVectorizationConfig,
    load_text_csv, text_dataset_from_directory,
};

/// What the model eats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InputKind {
    /// Raw text through the saved vectorizer.
    Text,
    /// Token ids.
    Ids,
    /// Float windows (time series).
    Floats,
}

/// How raw input becomes model input; saved as the model's `data_config`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InputSpec {
    pub source: DataSource,
    pub kind: InputKind,
    pub maxlen: Option<usize>,
    pub num_words: Option<usize>,
    pub one_hot: bool,
    pub padding: String,
    pub truncating: String,
    /// Label names by class index, when known.
    pub class_names: Option<Vec<String>>,
    /// A time-series CSV: its columns, windows and scaling (absent for other data,
    /// and in models saved before it existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub series: Option<SeriesSpec>,
    /// An npz source: the array names (`predict --file data.npz` reads `x_test`'s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub npz_keys: Option<NpzKeys>,
}

/// How a time-series CSV becomes windows; saved with the model so `predict` and
/// `evaluate` cut and scale new files the same way.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SeriesSpec {
    pub feature_columns: Vec<String>,
    pub target_column: String,
    pub sequence_length: usize,
    pub sequence_stride: usize,
    pub sampling_rate: usize,
    pub target_offset: usize,
    /// Mean and standard deviation per feature column, then the target column's, from
    /// the training rows (`normalize = true`).
    pub normalization: Option<Normalization>,
}

/// `(x - mean) / std` per column, as Keras's weather tutorial standardises features
/// (numpy's `std`, ddof = 0). A constant column's std is raised to 1e-7, the floor
/// Keras's `Normalization` layer uses, so it scales to 0 instead of NaN.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Normalization {
    pub mean: Vec<f32>,
    pub std: Vec<f32>,
    pub target_mean: f32,
    pub target_std: f32,
}

impl Normalization {
    /// Statistics of the columns of `rows` (f64 sums: a long series loses no digits).
    fn column_stats(rows: ndarray::ArrayView2<f32>) -> (Vec<f32>, Vec<f32>) {
        let n = rows.nrows().max(1) as f64;
        rows.columns()
            .into_iter()
            .map(|c| {
                let mean = c.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
                let var = c
                    .iter()
                    .map(|&v| (f64::from(v) - mean).powi(2))
                    .sum::<f64>()
                    / n;
                (mean as f32, (var.sqrt() as f32).max(1e-7))
            })
            .unzip()
    }
}

impl SeriesSpec {
    fn from_config(config: &DataConfig, feature_columns: Vec<String>) -> SeriesSpec {
        SeriesSpec {
            feature_columns,
            target_column: config.target_column.clone().expect("checked by the config"),
            sequence_length: config.sequence_length.expect("checked by the config"),
            sequence_stride: config.sequence_stride.unwrap_or(1),
            sampling_rate: config.sampling_rate.unwrap_or(1),
            target_offset: config.target_offset_or_default(),
            normalization: None,
        }
    }

    fn window_options(&self) -> TimeseriesOptions {
        TimeseriesOptions {
            sequence_length: self.sequence_length,
            sequence_stride: self.sequence_stride,
            sampling_rate: self.sampling_rate,
            start_index: None,
            end_index: None,
        }
    }

    /// The columns to read from a file: the features, then the target unless it is
    /// one of them.
    fn columns_to_read(&self, with_target: bool) -> Vec<String> {
        let mut c = self.feature_columns.clone();
        if with_target && !c.contains(&self.target_column) {
            c.push(self.target_column.clone());
        }
        c
    }

    /// Scaled features `(rows, features)` and, when the table has it, the scaled
    /// target column.
    fn scale(&self, table: &datasets::NumericTable) -> (ndarray::Array2<f32>, Option<Array1<f32>>) {
        let nf = self.feature_columns.len();
        let mut x = table.values.slice(ndarray::s![.., ..nf]).to_owned();
        let mut y = table
            .column_index(&self.target_column)
            .map(|i| table.values.column(i).to_owned());
        if let Some(n) = &self.normalization {
            for (mut col, (m, s)) in x.columns_mut().into_iter().zip(n.mean.iter().zip(&n.std)) {
                col.mapv_inplace(|v| (v - m) / s);
            }
            if let Some(y) = &mut y {
                y.mapv_inplace(|v| (v - n.target_mean) / n.target_std);
            }
        }
        (x, y)
    }

    /// Model output back in the target's units.
    pub fn unscale(&self, v: f32) -> f32 {
        match &self.normalization {
            Some(n) => v * n.target_std + n.target_mean,
            None => v,
        }
    }

    /// Windows of a whole table for `predict` (no targets): the inputs and, per
    /// window, the 1-based data row of its last step (for the output).
    pub fn predict_windows(
        &self,
        table: &datasets::NumericTable,
    ) -> Result<(ModelInput, Vec<usize>)> {
        let (x, _) = self.scale(table);
        let o = self.window_options();
        let starts = crate::preprocessing::window_starts(x.nrows(), None, &o)?;
        if starts.is_empty() {
            return Err(too_few_rows("the file", x.nrows(), self));
        }
        let w = timeseries_dataset_from_array(x.view().into_dyn(), None, &o)?;
        let last = starts
            .iter()
            .map(|s| s + (self.sequence_length - 1) * self.sampling_rate + 1)
            .collect();
        Ok((ModelInput::Floats(w.inputs), last))
    }
}

/// The mean squared error of repeating the window's last target value, in the
/// units the model's loss uses: the bar a forecaster has to beat. `None` when the
/// target is not a feature (there is no last value to repeat).
fn naive_baseline(s: &SeriesSpec, x: &ArrayD<f32>, y: &ArrayD<f32>) -> Option<f64> {
    let f = s
        .feature_columns
        .iter()
        .position(|c| *c == s.target_column)?;
    let n = x.shape()[0];
    let last = x.shape()[1] - 1;
    let sum: f64 = (0..n)
        .map(|i| f64::from(x[[i, last, f]] - y[[i, 0]]).powi(2))
        .sum();
    (n > 0).then(|| sum / n as f64)
}

fn too_few_rows(what: &str, rows: usize, s: &SeriesSpec) -> Error {
    let need = (s.sequence_length as u128 - 1) * s.sampling_rate as u128 + 1;
    Error::Data(format!(
        "{what} has {rows} rows, too few for one window: sequence_length = {} with \
         sampling_rate = {} spans {need} rows",
        s.sequence_length, s.sampling_rate
    ))
}

/// Model input, owned.
#[derive(Clone, Debug)]
pub enum ModelInput {
    Ids(Array2<i32>),
    Floats(ArrayD<f32>),
}

impl ModelInput {
    pub fn as_inputs(&self) -> Inputs<'_> {
        match self {
            ModelInput::Ids(a) => Inputs::from(a),
            ModelInput::Floats(a) => Inputs::from(a),
        }
    }

    pub fn len(&self) -> usize {
        match self {
            ModelInput::Ids(a) => a.nrows(),
            ModelInput::Floats(a) => a.shape()[0],
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Shape without the batch axis.
    pub fn sample_shape(&self) -> Vec<usize> {
        match self {
            ModelInput::Ids(a) => a.shape()[1..].to_vec(),
            ModelInput::Floats(a) => a.shape()[1..].to_vec(),
        }
    }
}

/// A loaded, split and encoded dataset.
pub struct Prepared {
    pub x_train: ModelInput,
    pub y_train: Array1<f32>,
    pub x_test: ModelInput,
    pub y_test: Array1<f32>,
    /// Float targets (series, npz float arrays) of any rank, instead of labels.
    pub y_train_2d: Option<ArrayD<f32>>,
    pub y_test_2d: Option<ArrayD<f32>>,
    pub vectorizer: Option<TextVectorization>,
    pub spec: InputSpec,
    /// One line for the user: what was loaded.
    pub description: String,
}

impl InputSpec {
    fn pad_options(&self) -> (Padding, Truncating) {
        (
            if self.padding == "post" {
                Padding::Post
            } else {
                Padding::Pre
            },
            if self.truncating == "post" {
                Truncating::Post
            } else {
                Truncating::Pre
            },
        )
    }

    /// Token-id sequences -> model input (pad, then one-hot if asked).
    pub fn encode_ids<S: AsRef<[i32]>>(&self, seqs: &[S]) -> Result<ModelInput> {
        let (p, t) = self.pad_options();
        let ids = pad_sequences(seqs, self.maxlen, p, t, 0)?;
        if self.one_hot {
            let width = self
                .num_words
                .ok_or_else(|| Error::invalid_argument("data", "one_hot", "needs num_words"))?;
            let (n, steps) = ids.dim();
            let mut out = Array3::<f32>::zeros((n, steps, width));
            for ((i, s), &id) in ids.indexed_iter() {
                if id < 0 || id as usize >= width {
                    return Err(Error::Data(format!(
                        "sample {i}, time step {s}: token id {id} is outside the one-hot \
                         width num_words = {width}"
                    )));
                }
                out[[i, s, id as usize]] = 1.0;
            }
            Ok(ModelInput::Floats(out.into_dyn()))
        } else {
            Ok(ModelInput::Ids(ids))
        }
    }

    /// Raw texts -> model input through `vectorizer`.
    pub fn encode_texts(
        &self,
        vectorizer: &TextVectorization,
        texts: &[String],
    ) -> Result<ModelInput> {
        let ragged = vectorizer.vectorize_ragged(texts);
        self.encode_ids(&ragged)
    }
}

/// Labels as f32, checked to be usable class indices.
/// The loaders' promise: text decoded lossily is reported, on stderr as a warning.
fn warn_lossy(ds: &crate::text::TextDataset) {
    if let Some(s) = ds.warning_summary() {
        eprintln!("warning: {s}");
    }
}

fn labels_f32<T: Copy + Into<i64>>(ys: &[T]) -> Array1<f32> {
    Array1::from_iter(ys.iter().map(|&y| y.into() as f32))
}

/// Split indices for sources without their own test split.
fn split(n: usize, test_split: Option<f64>, seed: u64) -> Result<(Vec<usize>, Vec<usize>)> {
    let ts = test_split.unwrap_or(0.2);
    train_test_indices(n, ts, true, seed)
}

/// Load and prepare `config`'s data; relative paths are resolved against `base` (the
/// config file).
pub fn prepare(config: &DataConfig, base: &Path) -> Result<Prepared> {
    prepare_with(config, base, None)
}

/// `prepare`, encoding text with `vectorizer` (a saved model's) instead of adapting
/// a new one on the training texts. One loader per data source; id sources and text
/// sources then share their encoding step.
pub fn prepare_with(
    config: &DataConfig,
    base: &Path,
    vectorizer: Option<&TextVectorization>,
) -> Result<Prepared> {
    prepare_for(config, base, vectorizer, None)
}

/// `prepare_with` for a trained model: a time series is scaled with the model's own
/// saved statistics (`saved`), not ones computed anew from `config`'s file.
pub fn prepare_for(
    config: &DataConfig,
    base: &Path,
    vectorizer: Option<&TextVectorization>,
    saved: Option<&InputSpec>,
) -> Result<Prepared> {
    let path = config
        .path
        .as_ref()
        .map(|p| crate::config::RunConfig::resolve_path(base, p));
    let spec = InputSpec {
        source: config.source,
        kind: InputKind::Ids,
        maxlen: config.maxlen,
        num_words: config.num_words,
        one_hot: config.one_hot,
        // Keras's pad_sequences defaults; the config checked the values.
        padding: config.padding.clone().unwrap_or_else(|| "pre".into()),
        truncating: config.truncating.clone().unwrap_or_else(|| "pre".into()),
        class_names: None,
        series: None,
        npz_keys: None,
    };
    let needed = || path.clone().expect("checked by the config");
    match config.source {
        DataSource::Imdb => encode_id_splits(spec, load_imdb(config, path)?),
        DataSource::Reuters => encode_id_splits(spec, load_reuters(config, path)?),
        DataSource::Npz => load_npz(config, spec, &needed()),
        DataSource::Generated => match config.task {
            GeneratedTask::Memory => generated_memory(config, spec),
            GeneratedTask::Series => generated_series(config, spec),
            GeneratedTask::Sentiment => {
                let texts = generated_sentiment(config)?;
                encode_text_splits(config, spec, texts, vectorizer)
            }
        },
        DataSource::TextDir => {
            let texts = load_text_dir(config, &needed())?;
            encode_text_splits(config, spec, texts, vectorizer)
        }
        DataSource::Csv if config.is_series_csv() => {
            let saved = saved.and_then(|s| s.series.as_ref());
            load_series_csv(config, spec, &needed(), saved)
        }
        DataSource::Csv => {
            let texts = load_csv(config, &needed())?;
            encode_text_splits(config, spec, texts, vectorizer)
        }
    }
}

/// Id sequences with labels, already split into train and test.
struct IdSplits {
    train: (Vec<Vec<i32>>, Vec<i64>),
    test: (Vec<Vec<i32>>, Vec<i64>),
    what: &'static str,
    class_names: Option<Vec<String>>,
}

/// Texts with labels, split into train and test, and where they came from.
struct TextSplits {
    train: TextDataset,
    test: TextDataset,
    what: String,
}

fn load_imdb(config: &DataConfig, path: Option<PathBuf>) -> Result<IdSplits> {
    let d = datasets::imdb::load_data(&ImdbOptions {
        num_words: config.num_words,
        path,
        ..Default::default()
    })?;
    Ok(IdSplits {
        train: (d.train.x, d.train.y),
        test: (d.test.x, d.test.y),
        what: "imdb",
        class_names: Some(vec!["negative".into(), "positive".into()]),
    })
}

fn load_reuters(config: &DataConfig, path: Option<PathBuf>) -> Result<IdSplits> {
    let d = datasets::reuters::load_data(&ReutersOptions {
        num_words: config.num_words,
        path,
        ..Default::default()
    })?;
    let names = datasets::reuters::get_label_names();
    Ok(IdSplits {
        train: (d.train.x, d.train.y),
        test: (d.test.x, d.test.y),
        what: "reuters",
        class_names: Some(names.iter().map(|s| s.to_string()).collect()),
    })
}

/// An `.npz` with Keras's four arrays (names from `npz_keys`): integer id
/// sequences go through padding like imdb's; float inputs of any rank are used as
/// they are, `(N, features)` for Dense or `(N, steps, features)` for recurrent and
/// Conv1D layers, with integer labels or float targets of any rank.
fn load_npz(config: &DataConfig, mut spec: InputSpec, path: &Path) -> Result<Prepared> {
    let keys = config.npz_keys.clone().unwrap_or_default();
    let mut npz = Npz::open_numeric(path)?;
    let x_train = npz.take(&keys.x_train)?;
    let x_float = matches!(x_train.data, NpyData::Float(_));
    spec.npz_keys = config.npz_keys.clone();
    if !x_float {
        return load_npz_ids(npz, &keys, x_train, spec);
    }
    refuse_id_settings(config, &keys, path)?;
    let x_test = npz.take(&keys.x_test)?;
    let x_train = npz_float_inputs(&npz, &keys.x_train, x_train)?;
    let x_test = npz_float_inputs(&npz, &keys.x_test, x_test)?;
    if x_train.shape()[1..] != x_test.shape()[1..] {
        return Err(Error::format(
            path,
            format!(
                "`{}` has samples of shape {:?} but `{}` {:?}",
                keys.x_train,
                &x_train.shape()[1..],
                keys.x_test,
                &x_test.shape()[1..]
            ),
        ));
    }
    let (y_train, y_train_f) = npz_targets(&mut npz, &keys.y_train)?;
    let (y_test, y_test_f) = npz_targets(&mut npz, &keys.y_test)?;
    let len =
        |l: &Array1<f32>, f: &Option<ArrayD<f32>>| f.as_ref().map_or(l.len(), |f| f.shape()[0]);
    check_pairs(
        &npz,
        &keys,
        x_train.shape()[0],
        len(&y_train, &y_train_f),
        x_test.shape()[0],
        len(&y_test, &y_test_f),
    )?;
    spec.kind = InputKind::Floats;
    spec.one_hot = false;
    let description = format!(
        "npz: {} training and {} test samples of shape {:?} (floats), targets {}",
        x_train.shape()[0],
        x_test.shape()[0],
        &x_train.shape()[1..],
        match &y_train_f {
            Some(f) => format!("floats of shape {:?}", &f.shape()[1..]),
            None => "integer labels".into(),
        }
    );
    Ok(Prepared {
        x_train: ModelInput::Floats(x_train),
        y_train,
        x_test: ModelInput::Floats(x_test),
        y_test,
        y_train_2d: y_train_f,
        y_test_2d: y_test_f,
        vectorizer: None,
        spec,
        description,
    })
}

/// The integer branch of `load_npz`: Keras's id sequences, padded like imdb's.
fn load_npz_ids(
    mut npz: Npz,
    keys: &NpzKeys,
    x_train: NpyArray,
    spec: InputSpec,
) -> Result<Prepared> {
    let train = (
        npz_sequences(&npz, &keys.x_train, x_train)?,
        npz_labels(&mut npz, &keys.y_train)?,
    );
    let x_test = npz.take(&keys.x_test)?;
    let test = (
        npz_sequences(&npz, &keys.x_test, x_test)?,
        npz_labels(&mut npz, &keys.y_test)?,
    );
    check_pairs(
        &npz,
        keys,
        train.0.len(),
        train.1.len(),
        test.0.len(),
        test.1.len(),
    )?;
    encode_id_splits(
        spec,
        IdSplits {
            train,
            test,
            what: "npz",
            class_names: None,
        },
    )
}

/// The id settings would be ignored silently on float arrays: refuse them instead.
fn refuse_id_settings(config: &DataConfig, keys: &NpzKeys, path: &Path) -> Result<()> {
    for (key, set) in [
        ("maxlen", config.maxlen.is_some()),
        ("num_words", config.num_words.is_some()),
        ("one_hot", config.one_hot),
        ("padding", config.padding.is_some()),
        ("truncating", config.truncating.is_some()),
    ] {
        if set {
            return Err(Error::format(
                path,
                format!(
                    "`{}` has a float dtype, but [data] {key} applies to integer token-id \
                     arrays only; remove it to train on the floats as they are",
                    keys.x_train
                ),
            ));
        }
    }
    Ok(())
}

/// The training samples' weights of an npz source whose `npz_keys.sample_weight`
/// names a member (Keras's `fit(sample_weight=...)`); None for other sources. Their
/// count and values are checked by `fit`, which names what is wrong.
pub fn training_sample_weight(config: &DataConfig, base: &Path) -> Result<Option<ArrayD<f32>>> {
    let key = match (&config.source, &config.npz_keys) {
        (
            DataSource::Npz,
            Some(NpzKeys {
                sample_weight: Some(k),
                ..
            }),
        ) => k.clone(),
        _ => return Ok(None),
    };
    let Some(path) = config.path.as_ref() else {
        return Ok(None);
    };
    let mut npz = Npz::open_numeric(&crate::config::RunConfig::resolve_path(base, path))?;
    let (labels, floats) = npz_targets(&mut npz, &key)?;
    Ok(Some(floats.unwrap_or_else(|| labels.into_dyn())))
}

/// Inputs and targets agree in length, for both splits.
fn check_pairs(
    npz: &Npz,
    keys: &NpzKeys,
    xtr: usize,
    ytr: usize,
    xte: usize,
    yte: usize,
) -> Result<()> {
    for (xk, x, yk, y) in [
        (&keys.x_train, xtr, &keys.y_train, ytr),
        (&keys.x_test, xte, &keys.y_test, yte),
    ] {
        if x != y {
            return Err(Error::format(
                npz.path(),
                format!("`{xk}` holds {x} samples but `{yk}` holds {y} targets"),
            ));
        }
    }
    Ok(())
}

/// A float (or integer, when the inputs are float) array of at least 2 axes: the
/// samples.
pub fn npz_float_inputs(npz: &Npz, key: &str, a: NpyArray) -> Result<ArrayD<f32>> {
    let fail = |reason: String| Error::format(npz.path(), format!("`{key}`: {reason}"));
    if a.shape.len() < 2 {
        return Err(fail(format!(
            "has shape {:?}; float inputs need a sample axis and at least one more: \
             (N, features) for Dense, (N, steps, features) for recurrent or Conv1D layers",
            a.shape
        )));
    }
    let values: Vec<f32> = match a.data {
        NpyData::Float(v) => finite_f32(v, &fail)?,
        NpyData::Int(v) => v.into_iter().map(|x| x as f32).collect(),
        NpyData::Sequences(_) => {
            return Err(fail(
                "is an object array of sequences while the other inputs are floats".into(),
            ));
        }
    };
    ArrayD::from_shape_vec(IxDyn(&a.shape), values).map_err(|e| fail(e.to_string()))
}

/// f64 values as f32, refusing NaN, infinities and values beyond f32 (with the
/// first such value's flat index).
fn finite_f32(v: Vec<f64>, fail: &dyn Fn(String) -> Error) -> Result<Vec<f32>> {
    v.into_iter()
        .enumerate()
        .map(|(i, x)| {
            if x.is_finite() && x.abs() <= f64::from(f32::MAX) {
                Ok(x as f32)
            } else {
                Err(fail(format!(
                    "element {i} (flat index) is {x}; the data must be finite float32 values"
                )))
            }
        })
        .collect()
}

/// Targets next to float inputs: integer labels (N,) or (N, 1) for the
/// classification losses, or float arrays of any rank (N, ...) as they are.
fn npz_targets(npz: &mut Npz, key: &str) -> Result<(Array1<f32>, Option<ArrayD<f32>>)> {
    let path = npz.path().to_path_buf();
    let a = npz.take(key)?;
    let fail = |reason: String| Error::format(&path, format!("`{key}`: {reason}"));
    if a.shape.is_empty() {
        return Err(fail(
            "is a scalar; targets need one entry per sample".into(),
        ));
    }
    match a.data {
        NpyData::Int(v) if a.shape.len() == 1 || (a.shape.len() == 2 && a.shape[1] == 1) => {
            Ok((v.into_iter().map(|x| x as f32).collect(), None))
        }
        NpyData::Int(v) => {
            let f: Vec<f32> = v.into_iter().map(|x| x as f32).collect();
            let f = ArrayD::from_shape_vec(IxDyn(&a.shape), f).map_err(|e| fail(e.to_string()))?;
            Ok((Array1::zeros(0), Some(f)))
        }
        NpyData::Float(v) => {
            let f = finite_f32(v, &fail)?;
            let f = ArrayD::from_shape_vec(IxDyn(&a.shape), f).map_err(|e| fail(e.to_string()))?;
            Ok((Array1::zeros(0), Some(f)))
        }
        NpyData::Sequences(_) => Err(fail(
            "is an object array; expected labels or float targets".into(),
        )),
    }
}

/// A time-series CSV: read the feature and target columns, split the rows in time
/// order (the test part is the last `test_split` of the rows, as the weather
/// tutorial splits), standardise with the training rows' statistics (or `saved`'s,
/// for a trained model), then cut each part into `timeseries_dataset_from_array`
/// windows with `targets = target[target_offset:]`.
fn load_series_csv(
    config: &DataConfig,
    mut spec: InputSpec,
    path: &Path,
    saved: Option<&SeriesSpec>,
) -> Result<Prepared> {
    let features = match (saved, &config.feature_columns) {
        (Some(s), _) => s.feature_columns.clone(),
        (None, Some(c)) => c.clone(),
        // Every column of the header, read once to learn the names.
        (None, None) => datasets::read_numeric_csv(path, None)?.columns,
    };
    let mut series = match saved {
        Some(s) => s.clone(),
        None => SeriesSpec::from_config(config, features),
    };
    let table = datasets::read_numeric_csv(path, Some(&series.columns_to_read(true)))?;
    let rows = table.values.nrows();
    let n_test = ((rows as f64) * config.test_split.unwrap_or(0.2)).round() as usize;
    let n_train = rows.saturating_sub(n_test.max(1));
    if n_train == 0 {
        return Err(too_few_rows(&path.display().to_string(), rows, &series));
    }
    if saved.is_none() && config.normalize {
        series.normalization = Some(training_stats(&series, &table, n_train));
    }
    let (x, y) = series.scale(&table);
    let y = y.expect("the target column was read");
    let o = series.window_options();
    let part = |r: std::ops::Range<usize>, what: &str| -> Result<(ArrayD<f32>, ArrayD<f32>)> {
        let (lo, hi) = (r.start, r.end);
        let data = x.slice(ndarray::s![lo..hi, ..]);
        let off = series.target_offset.min(hi - lo);
        let targets = y
            .slice(ndarray::s![lo + off..hi])
            .insert_axis(ndarray::Axis(1));
        let w = timeseries_dataset_from_array(data.into_dyn(), Some(targets.into_dyn()), &o)?;
        let t = w.targets.expect("targets given");
        if t.shape()[0] == 0 {
            return Err(Error::Data(format!(
                "{}: the {what} part (rows {}..={}, {} rows) is too short for one window \
                 and its target: sequence_length = {}, sampling_rate = {}, \
                 target_offset = {} (add rows or lower test_split)",
                path.display(),
                lo + 1,
                hi,
                hi - lo,
                series.sequence_length,
                series.sampling_rate,
                series.target_offset
            )));
        }
        Ok((w.inputs, t))
    };
    let (x_train, y_train) = part(0..n_train, "training")?;
    let (x_test, y_test) = part(n_train..rows, "test")?;
    spec.kind = InputKind::Floats;
    spec.maxlen = Some(series.sequence_length);
    let description = format!(
        "{}: {rows} rows; {} training and {} test windows of {} steps x {} features{}",
        path.display(),
        x_train.shape()[0],
        x_test.shape()[0],
        series.sequence_length,
        series.feature_columns.len(),
        if series.normalization.is_some() {
            " (standardised with the training rows' mean and std)"
        } else {
            ""
        }
    );
    let description = with_baseline(description, &series, &x_test, &y_test);
    spec.series = Some(series);
    Ok(Prepared {
        x_train: ModelInput::Floats(x_train),
        y_train: Array1::zeros(0),
        x_test: ModelInput::Floats(x_test),
        y_test: Array1::zeros(0),
        y_train_2d: Some(y_train),
        y_test_2d: Some(y_test),
        vectorizer: None,
        spec,
        description,
    })
}

/// The training rows' mean and std of the features and the target (the weather
/// tutorial's standardisation: statistics of the training part only).
fn training_stats(
    series: &SeriesSpec,
    table: &datasets::NumericTable,
    n_train: usize,
) -> Normalization {
    let nf = series.feature_columns.len();
    let train = table.values.slice(ndarray::s![..n_train, ..]);
    let (mean, std) = Normalization::column_stats(train.slice(ndarray::s![.., ..nf]));
    let t = table
        .column_index(&series.target_column)
        .expect("read above");
    let (tm, ts) = Normalization::column_stats(train.slice(ndarray::s![.., t..t + 1]));
    Normalization {
        mean,
        std,
        target_mean: tm[0],
        target_std: ts[0],
    }
}

/// The description, with the naive last-value baseline's test mse when there is one.
fn with_baseline(
    description: String,
    series: &SeriesSpec,
    x_test: &ArrayD<f32>,
    y_test: &ArrayD<f32>,
) -> String {
    match naive_baseline(series, x_test, y_test) {
        Some(mse) => format!(
            "{description}\nnaive last-value baseline (next {} = last {} of the window) on \
             the test windows: mse {mse:.4}",
            series.target_column, series.target_column
        ),
        None => description,
    }
}

/// Pad (and one-hot) the id splits of imdb, reuters and npz.
fn encode_id_splits(mut spec: InputSpec, d: IdSplits) -> Result<Prepared> {
    spec.class_names = d.class_names;
    let x_train = spec.encode_ids(&d.train.0)?;
    let x_test = spec.encode_ids(&d.test.0)?;
    let description = format!(
        "{}: {} training and {} test sequences, input shape {:?}",
        d.what,
        x_train.len(),
        x_test.len(),
        x_train.sample_shape()
    );
    Ok(Prepared {
        x_train,
        y_train: labels_f32(&d.train.1),
        x_test,
        y_test: labels_f32(&d.test.1),
        y_train_2d: None,
        y_test_2d: None,
        vectorizer: None,
        spec,
        description,
    })
}

fn generated_memory(config: &DataConfig, mut spec: InputSpec) -> Result<Prepared> {
    let n = config.samples.unwrap_or(2000);
    let len = config.maxlen.unwrap_or(20);
    let num_words = config.num_words.unwrap_or(50);
    if num_words < 4 {
        return Err(Error::invalid_argument(
            "[data]",
            "num_words",
            "the memory task needs at least 4",
        ));
    }
    let mut rng = SeededRng::new(config.seed);
    let (xs, ys) = generated::memory(n, len, num_words, &mut rng);
    let (tr, te) = split(n, config.test_split, config.seed)?;
    let pick = |idx: &[usize]| -> (Vec<Vec<i32>>, Vec<i32>) {
        (
            idx.iter().map(|&i| xs[i].clone()).collect(),
            idx.iter().map(|&i| ys[i]).collect(),
        )
    };
    let ((a, b), (c, d)) = (pick(&tr), pick(&te));
    spec.num_words = Some(num_words);
    let x_train = spec.encode_ids(&a)?;
    let x_test = spec.encode_ids(&c)?;
    Ok(Prepared {
        description: format!(
            "generated memory task: {} training and {} test sequences of {len} ids",
            a.len(),
            c.len()
        ),
        x_train,
        y_train: labels_f32(&b),
        x_test,
        y_test: labels_f32(&d),
        y_train_2d: None,
        y_test_2d: None,
        vectorizer: None,
        spec,
    })
}

fn generated_series(config: &DataConfig, mut spec: InputSpec) -> Result<Prepared> {
    let n = config.samples.unwrap_or(2000);
    let window = config.maxlen.expect("checked by the config");
    let (x, y) = generated::series(n, window, &mut SeededRng::new(config.seed));
    // A time series is split in time order: the test part is the later part.
    let n_test = ((n as f64) * config.test_split.unwrap_or(0.2)).round() as usize;
    let n_train = n - n_test.clamp(1, n - 1);
    spec.kind = InputKind::Floats;
    spec.one_hot = false;
    let xs = |r: std::ops::Range<usize>| x.slice(ndarray::s![r, .., ..]).to_owned().into_dyn();
    let ys = |r: std::ops::Range<usize>| y.slice(ndarray::s![r, ..]).to_owned().into_dyn();
    Ok(Prepared {
        description: format!(
            "generated series: {n_train} training and {} test windows of {window} steps",
            n - n_train
        ),
        x_train: ModelInput::Floats(xs(0..n_train)),
        y_train: Array1::zeros(0),
        x_test: ModelInput::Floats(xs(n_train..n)),
        y_test: Array1::zeros(0),
        y_train_2d: Some(ys(0..n_train)),
        y_test_2d: Some(ys(n_train..n)),
        vectorizer: None,
        spec,
    })
}

fn generated_sentiment(config: &DataConfig) -> Result<TextSplits> {
    let n = config.samples.unwrap_or(2000);
    let (texts, labels) = generated::sentiment(n, &mut SeededRng::new(config.seed));
    let all = TextDataset {
        sources: (0..n).map(|i| format!("generated #{i}")).collect(),
        texts,
        labels,
        class_names: vec!["negative".into(), "positive".into()],
        warnings: Vec::new(),
    };
    let (tr, te) = split(n, config.test_split, config.seed)?;
    Ok(TextSplits {
        train: all.select(&tr)?,
        test: all.select(&te)?,
        what: "generated sentiment".to_string(),
    })
}

/// A folder with one sub-folder per class, or with `train/` and `test/` folders
/// that each have them.
fn load_text_dir(config: &DataConfig, dir: &Path) -> Result<TextSplits> {
    let opts = DirectoryOptions {
        seed: Some(config.seed),
        ..Default::default()
    };
    let (tr_dir, te_dir) = (dir.join("train"), dir.join("test"));
    if tr_dir.is_dir() && te_dir.is_dir() {
        let train = text_dataset_from_directory(&tr_dir, &opts)?;
        warn_lossy(&train);
        let test = text_dataset_from_directory(
            &te_dir,
            &DirectoryOptions {
                class_names: Some(train.class_names.clone()),
                ..opts
            },
        )?;
        warn_lossy(&test);
        return Ok(TextSplits {
            train,
            test,
            what: format!("{} (train/ and test/)", dir.display()),
        });
    }
    let all = text_dataset_from_directory(dir, &opts)?;
    warn_lossy(&all);
    let (tr, te) = split(all.len(), config.test_split, config.seed)?;
    Ok(TextSplits {
        train: all.select(&tr)?,
        test: all.select(&te)?,
        what: dir.display().to_string(),
    })
}

fn load_csv(config: &DataConfig, file: &Path) -> Result<TextSplits> {
    let opts = CsvOptions::new(
        config.text_column.clone().unwrap_or_else(|| "text".into()),
        config
            .label_column
            .clone()
            .unwrap_or_else(|| "label".into()),
    );
    let all = load_text_csv(file, &opts)?;
    warn_lossy(&all);
    let (tr, te) = split(all.len(), config.test_split, config.seed)?;
    Ok(TextSplits {
        train: all.select(&tr)?,
        test: all.select(&te)?,
        what: file.display().to_string(),
    })
}

/// Texts through `vectorizer` (else one adapted on the training texts), then pad.
fn encode_text_splits(
    config: &DataConfig,
    mut spec: InputSpec,
    d: TextSplits,
    vectorizer: Option<&TextVectorization>,
) -> Result<Prepared> {
    let vectorizer = match vectorizer {
        Some(v) => v.clone(),
        None => {
            let mut v = TextVectorization::new(TextVectorizationConfig {
                max_tokens: config.num_words,
                output_sequence_length: None,
                ..Default::default()
            })?;
            v.adapt(&d.train.texts);
            v
        }
    };
    spec.kind = InputKind::Text;
    spec.class_names = Some(d.train.class_names.clone());
    if spec.one_hot && spec.num_words.is_none() {
        spec.num_words = Some(vectorizer.vocabulary_size());
    }
    let x_train = spec.encode_texts(&vectorizer, &d.train.texts)?;
    let x_test = spec.encode_texts(&vectorizer, &d.test.texts)?;
    Ok(Prepared {
        description: format!(
            "{}: {} training and {} test texts, {} classes, vocabulary {}",
            d.what,
            d.train.len(),
            d.test.len(),
            d.train.class_names.len(),
            vectorizer.vocabulary_size()
        ),
        x_train,
        y_train: labels_f32(&d.train.labels),
        x_test,
        y_test: labels_f32(&d.test.labels),
        y_train_2d: None,
        y_test_2d: None,
        vectorizer: Some(vectorizer),
        spec,
    })
}

fn npz_sequences(npz: &Npz, key: &str, a: NpyArray) -> Result<Vec<Vec<i32>>> {
    let path = npz.path().to_path_buf();
    let to_i32 = |v: i64| {
        i32::try_from(v)
            .map_err(|_| Error::format(&path, format!("`{key}` holds id {v}, too large")))
    };
    match a.data {
        NpyData::Sequences(s) => s
            .into_iter()
            .map(|seq| seq.into_iter().map(to_i32).collect())
            .collect(),
        NpyData::Int(_) if a.shape.len() == 2 && a.shape[1] == 0 => Err(Error::format(
            &path,
            format!(
                "`{key}` has shape ({}, 0): {} samples of 0 time steps each",
                a.shape[0], a.shape[0]
            ),
        )),
        NpyData::Int(v) if a.shape.len() == 2 => {
            let cols = a.shape[1];
            v.chunks(cols.max(1))
                .map(|row| row.iter().map(|&x| to_i32(x)).collect())
                .collect()
        }
        NpyData::Int(_) | NpyData::Float(_) => Err(Error::format(
            &path,
            format!(
                "`{key}` has shape {:?}; expected sequences or a 2-D id array",
                a.shape
            ),
        )),
    }
}

fn npz_labels(npz: &mut Npz, key: &str) -> Result<Vec<i64>> {
    let path = npz.path().to_path_buf();
    let a = npz.take(key)?;
    match a.data {
        NpyData::Int(v) if a.shape.len() <= 1 || a.shape.get(1) == Some(&1) => Ok(v),
        _ => Err(Error::format(
            &path,
            format!("`{key}` has shape {:?}; expected integer labels", a.shape),
        )),
    }
}

/// Labels as the loss expects them: one-hot for categorical cross-entropy.
pub fn targets_for_loss(
    y: &Array1<f32>,
    y2: Option<&ArrayD<f32>>,
    loss: crate::losses::Loss,
    classes: usize,
) -> Result<ArrayD<f32>> {
    if let Some(y2) = y2 {
        return Ok(y2.clone().into_dyn());
    }
    if loss == crate::losses::Loss::CategoricalCrossentropy {
        let labels: Vec<i64> = y.iter().map(|&v| v as i64).collect();
        return Ok(crate::preprocessing::to_categorical(&labels, Some(classes))?.into_dyn());
    }
    Ok(y.clone().into_dyn())
}
