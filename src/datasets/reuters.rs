//! `keras.datasets.reuters`: 11,228 Reuters newswires as word-id sequences labelled
//! with 46 topics, loaded exactly as Keras's `reuters.load_data` (one shuffle of the
//! whole set, then a `test_split` cut).

use std::path::PathBuf;

use super::download::{FileOptions, locate};
use super::mt19937::RandomState;
use super::npz::Npz;
use super::remap;
use super::word_index::WordIndex;
use super::{SequenceDataset, Split};
use crate::{Error, Result};

/// SHA-256 of Keras's `reuters.npz` (from Keras's `reuters.py`).
pub const REUTERS_SHA256: &str = "d6586e694ee56d7a4e65172e12b3e987c03096cb01eab99753921ef915959916";
/// MD5 of Keras's `reuters_word_index.json` (Keras checks this one with MD5).
pub const REUTERS_WORD_INDEX_MD5: &str = "4d44cc38712099c9e383dc6e5f11a921";

/// Arguments of `keras.datasets.reuters.load_data`, with Keras's defaults, plus
/// where the file comes from (`path`, `cache_dir`, `base_url`; see [`FileOptions`]).
#[derive(Clone, Debug, PartialEq)]
pub struct ReutersOptions {
    /// Keep ids below this (the most frequent words); None or 0: all.
    pub num_words: Option<usize>,
    /// Ids below this become `oov_char` too.
    pub skip_top: usize,
    /// Drop (not truncate) sequences whose length, start char included, is not
    /// below this. None or 0: keep all.
    pub maxlen: Option<usize>,
    /// Fraction of the shuffled set used as test data, in [0, 1].
    pub test_split: f64,
    /// Seed of numpy's `RandomState` used for the shuffle.
    pub seed: u32,
    /// Prepended to every sequence; None: nothing.
    pub start_char: Option<i32>,
    /// Replaces ids outside `[skip_top, num_words)`; None: they are dropped.
    pub oov_char: Option<i32>,
    /// Added to every stored id.
    pub index_from: i32,
    /// Read exactly this file instead of the Keras cache (no download, no hash check).
    pub path: Option<PathBuf>,
    /// Cache root (files in `<cache_dir>/datasets/`); default `$KERAS_HOME` or `~/.keras`.
    pub cache_dir: Option<PathBuf>,
    /// Download folder URL; default Keras's public storage.
    pub base_url: Option<String>,
}

impl Default for ReutersOptions {
    fn default() -> Self {
        ReutersOptions {
            num_words: None,
            skip_top: 0,
            maxlen: None,
            test_split: 0.2,
            seed: 113,
            start_char: Some(1),
            oov_char: Some(2),
            index_from: 3,
            path: None,
            cache_dir: None,
            base_url: None,
        }
    }
}

impl ReutersOptions {
    fn file_options(&self) -> FileOptions {
        FileOptions {
            path: self.path.clone(),
            cache_dir: self.cache_dir.clone(),
            base_url: self.base_url.clone(),
        }
    }
}

/// `keras.datasets.reuters.load_data(...)`: `((x_train, y_train), (x_test, y_test))`
/// element for element as Keras returns them.
pub fn load_data(opts: &ReutersOptions) -> Result<SequenceDataset> {
    if !(0.0..=1.0).contains(&opts.test_split) {
        return Err(Error::invalid_argument(
            "reuters.load_data",
            "test_split",
            format!("{} is not a fraction in [0, 1]", opts.test_split),
        ));
    }
    let path = locate("reuters.npz", Some(REUTERS_SHA256), &opts.file_options())?;
    let mut npz = Npz::open(&path)?;
    let (xs, labels) = remap::take_pair(&mut npz, "x", "y")?;

    let mut rng = RandomState::new(opts.seed);
    let (mut xs, mut labels) = remap::shuffle_pair(&mut rng, xs, labels);

    remap::add_start_and_offset(&mut xs, opts.start_char, opts.index_from, &path)?;
    if let Some(maxlen) = opts.maxlen.filter(|&m| m > 0) {
        (xs, labels) = remap::remove_long_seq(maxlen, xs, labels);
    }
    let num_words = remap::resolve_num_words(opts.num_words, &xs, &path)?;
    let mut xs = remap::apply_vocabulary(xs, opts.skip_top, num_words, opts.oov_char, &path)?;

    // idx = int(len(xs) * (1 - test_split)): f64 product truncated, as Python does.
    let idx = ((xs.len() as f64 * (1.0 - opts.test_split)) as usize).min(xs.len());
    let x_test = xs.split_off(idx);
    let y_test = labels.split_off(idx);
    Ok(SequenceDataset {
        train: Split { x: xs, y: labels },
        test: Split {
            x: x_test,
            y: y_test,
        },
    })
}

/// `keras.datasets.reuters.get_word_index()`: word -> rank (1 = most frequent).
/// Loaded ids are these ranks plus `index_from`.
pub fn get_word_index(opts: &FileOptions) -> Result<WordIndex> {
    let path = locate(
        "reuters_word_index.json",
        Some(REUTERS_WORD_INDEX_MD5),
        opts,
    )?;
    WordIndex::read(&path)
}

/// `keras.datasets.reuters.get_label_names()`: topic names in label order.
pub fn get_label_names() -> [&'static str; 46] {
    [
        "cocoa",
        "grain",
        "veg-oil",
        "earn",
        "acq",
        "wheat",
        "copper",
        "housing",
        "money-supply",
        "coffee",
        "sugar",
        "trade",
        "reserves",
        "ship",
        "cotton",
        "carcass",
        "crude",
        "nat-gas",
        "cpi",
        "money-fx",
        "interest",
        "gnp",
        "meal-feed",
        "alum",
        "oilseed",
        "gold",
        "tin",
        "strategic-metal",
        "livestock",
        "retail",
        "ipi",
        "iron-steel",
        "rubber",
        "heat",
        "jobs",
        "lei",
        "bop",
        "zinc",
        "orange",
        "pet-chem",
        "dlr",
        "gas",
        "silver",
        "wpi",
        "hog",
        "lead",
    ]
}
