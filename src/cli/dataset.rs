//! `[data]` -> model-ready arrays: load the source, split train/test, turn text into
//! ids with a `TextVectorization` (adapted on the training texts only), pad, and
//! optionally one-hot encode. `InputSpec` records these choices in the saved model so
//! `predict` treats new input the same way.

use std::path::{Path, PathBuf};

use ndarray::{Array1, Array2, Array3, ArrayD};
use serde::{Deserialize, Serialize};

use crate::config::{DataConfig, DataSource, GeneratedTask};
use crate::datasets::{self, ImdbOptions, NpyData, Npz, ReutersOptions, generated};
use crate::error::{Error, Result};
use crate::model::Inputs;
use crate::preprocessing::{Padding, Truncating, pad_sequences, train_test_indices};
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
    /// Regression targets (series) are (n, 1) floats instead of labels.
    pub y_train_2d: Option<Array2<f32>>,
    pub y_test_2d: Option<Array2<f32>>,
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
    };
    let needed = || path.clone().expect("checked by the config");
    match config.source {
        DataSource::Imdb => encode_id_splits(spec, load_imdb(config, path)?),
        DataSource::Reuters => encode_id_splits(spec, load_reuters(config, path)?),
        DataSource::Npz => encode_id_splits(spec, load_npz(&needed())?),
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

fn load_npz(path: &Path) -> Result<IdSplits> {
    let mut npz = Npz::open(path)?;
    let train = (
        npz_sequences(&mut npz, "x_train")?,
        npz_labels(&mut npz, "y_train")?,
    );
    let test = (
        npz_sequences(&mut npz, "x_test")?,
        npz_labels(&mut npz, "y_test")?,
    );
    Ok(IdSplits {
        train,
        test,
        what: "npz",
        class_names: None,
    })
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
    let ys = |r: std::ops::Range<usize>| y.slice(ndarray::s![r, ..]).to_owned();
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
        let test = text_dataset_from_directory(
            &te_dir,
            &DirectoryOptions {
                class_names: Some(train.class_names.clone()),
                ..opts
            },
        )?;
        return Ok(TextSplits {
            train,
            test,
            what: format!("{} (train/ and test/)", dir.display()),
        });
    }
    let all = text_dataset_from_directory(dir, &opts)?;
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

fn npz_sequences(npz: &mut Npz, key: &str) -> Result<Vec<Vec<i32>>> {
    let path = npz.path().to_path_buf();
    let a = npz.take(key)?;
    let to_i32 = |v: i64| {
        i32::try_from(v)
            .map_err(|_| Error::format(&path, format!("`{key}` holds id {v}, too large")))
    };
    match a.data {
        NpyData::Sequences(s) => s
            .into_iter()
            .map(|seq| seq.into_iter().map(to_i32).collect())
            .collect(),
        NpyData::Int(v) if a.shape.len() == 2 => {
            let cols = a.shape[1];
            v.chunks(cols.max(1))
                .map(|row| row.iter().map(|&x| to_i32(x)).collect())
                .collect()
        }
        NpyData::Int(_) => Err(Error::format(
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
    y2: Option<&Array2<f32>>,
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
