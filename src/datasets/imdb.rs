//! `keras.datasets.imdb`: 25,000 training and 25,000 test movie reviews as word-id
//! sequences with binary sentiment labels, loaded exactly as Keras's
//! `imdb.load_data` (same shuffle, offsets, filtering and out-of-vocabulary ids).

use std::path::PathBuf;

use super::download::{FileOptions, locate};
use super::mt19937::RandomState;
use super::npz::Npz;
use super::remap;
use super::word_index::WordIndex;
use super::{SequenceDataset, Split};
use crate::{Error, Result};

/// SHA-256 of Keras's `imdb.npz` (from Keras's `imdb.py`).
pub const IMDB_SHA256: &str = "69664113be75683a8fe16e3ed0ab59fda8886cb3cd7ada244f7d9544e4676b9f";
/// MD5 of Keras's `imdb_word_index.json` (Keras checks this one with MD5).
pub const IMDB_WORD_INDEX_MD5: &str = "bfafd718b763782e994055a2d397834f";

/// Arguments of `keras.datasets.imdb.load_data`, with Keras's defaults, plus where
/// the file comes from (`path`, `cache_dir`, `base_url`; see [`FileOptions`]).
#[derive(Clone, Debug, PartialEq)]
pub struct ImdbOptions {
    /// Keep ids below this (the most frequent words); None or 0: all.
    pub num_words: Option<usize>,
    /// Ids below this become `oov_char` too.
    pub skip_top: usize,
    /// Drop (not truncate) sequences whose length, start char included, is not
    /// below this. None or 0: keep all.
    pub maxlen: Option<usize>,
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

impl Default for ImdbOptions {
    fn default() -> Self {
        ImdbOptions {
            num_words: None,
            skip_top: 0,
            maxlen: None,
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

impl ImdbOptions {
    fn file_options(&self) -> FileOptions {
        FileOptions {
            path: self.path.clone(),
            cache_dir: self.cache_dir.clone(),
            base_url: self.base_url.clone(),
        }
    }
}

/// `keras.datasets.imdb.load_data(...)`: `((x_train, y_train), (x_test, y_test))`
/// element for element as Keras returns them.
pub fn load_data(opts: &ImdbOptions) -> Result<SequenceDataset> {
    let path = locate("imdb.npz", Some(IMDB_SHA256), &opts.file_options())?;
    let mut npz = Npz::open(&path)?;
    let (x_train, y_train) = remap::take_pair(&mut npz, "x_train", "y_train")?;
    let (x_test, y_test) = remap::take_pair(&mut npz, "x_test", "y_test")?;

    // One generator: the train indices are shuffled first, then the test indices.
    let mut rng = RandomState::new(opts.seed);
    let (mut x_train, mut y_train) = remap::shuffle_pair(&mut rng, x_train, y_train);
    let (mut x_test, mut y_test) = remap::shuffle_pair(&mut rng, x_test, y_test);

    remap::add_start_and_offset(&mut x_train, opts.start_char, opts.index_from, &path)?;
    remap::add_start_and_offset(&mut x_test, opts.start_char, opts.index_from, &path)?;

    if let Some(maxlen) = opts.maxlen.filter(|&m| m > 0) {
        (x_train, y_train) = remap::remove_long_seq(maxlen, x_train, y_train);
        (x_test, y_test) = remap::remove_long_seq(maxlen, x_test, y_test);
        if x_train.is_empty() || x_test.is_empty() {
            return Err(Error::invalid_argument(
                "imdb.load_data",
                "maxlen",
                format!(
                    "after filtering for sequences shorter than maxlen={maxlen}, no sequence was kept; increase maxlen"
                ),
            ));
        }
    }

    let n_train = x_train.len();
    let mut xs = x_train;
    xs.extend(x_test);
    let num_words = remap::resolve_num_words(opts.num_words, &xs, &path)?;
    let mut xs = remap::apply_vocabulary(xs, opts.skip_top, num_words, opts.oov_char, &path)?;
    let x_test = xs.split_off(n_train);
    Ok(SequenceDataset {
        train: Split { x: xs, y: y_train },
        test: Split {
            x: x_test,
            y: y_test,
        },
    })
}

/// `keras.datasets.imdb.get_word_index()`: word -> rank (1 = most frequent). Loaded
/// ids are these ranks plus `index_from`.
pub fn get_word_index(opts: &FileOptions) -> Result<WordIndex> {
    let path = locate("imdb_word_index.json", Some(IMDB_WORD_INDEX_MD5), opts)?;
    WordIndex::read(&path)
}
