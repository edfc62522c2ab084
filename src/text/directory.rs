//! `text_dataset_from_directory`: labelled texts from one subfolder per class, as
//! `keras.utils.text_dataset_from_directory` (e.g. the raw IMDB layout `train/pos`,
//! `train/neg`), returned in memory instead of as a `tf.data.Dataset`.
//!
//! As in Keras: class folders are the subdirectories not starting with `.`, sorted
//! (byte-wise = Python's code-point order), label = position; with explicit
//! `class_names` only those folders are read, in the given order (so `train/unsup` of
//! IMDB is skipped by passing `["neg", "pos"]`); files ending in `.txt` (any case) are
//! found recursively, ordered by folder path then file name; files in `dir` itself are
//! ignored; `validation_split` keeps the last `floor(split * n)` files of the shuffled
//! order for validation.
//!
//! Differences, on purpose: the shuffle comes from [`SeededRng`] (numpy's order cannot
//! be reproduced) and `seed: None` means seed 0, so runs are reproducible; a class
//! folder without `.txt` files and a folder without class subfolders are errors; a file
//! that is not valid UTF-8 is decoded lossily and listed in `warnings`.

use std::path::{Path, PathBuf};

use rayon::prelude::*;

use super::dataset::{LoadWarning, TextDataset};
use crate::budget::{QUOTE_CHARS, quote, quote_list};
use crate::rng::SeededRng;
use crate::{Error, Result};

/// Which part of a `validation_split` to return.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Subset {
    Training,
    Validation,
}

/// Options of [`text_dataset_from_directory`] (Keras names and defaults).
#[derive(Clone, Debug, PartialEq)]
pub struct DirectoryOptions {
    /// Class folders to read, in label order; `None` = all subfolders, sorted.
    pub class_names: Option<Vec<String>>,
    /// Shuffle the file order (Keras default `true`).
    pub shuffle: bool,
    /// Seed of the shuffle; `None` uses 0.
    pub seed: Option<u64>,
    /// Fraction in (0, 1) reserved for validation; requires `subset`.
    pub validation_split: Option<f64>,
    pub subset: Option<Subset>,
    /// Descend into symlinked folders (Keras `follow_links`, default `false`).
    pub follow_links: bool,
}

impl Default for DirectoryOptions {
    fn default() -> Self {
        DirectoryOptions {
            class_names: None,
            shuffle: true,
            seed: None,
            validation_split: None,
            subset: None,
            follow_links: false,
        }
    }
}

/// Loads the texts below `dir` (one subfolder per class). See the module docs.
pub fn text_dataset_from_directory(
    dir: impl AsRef<Path>,
    options: &DirectoryOptions,
) -> Result<TextDataset> {
    let dir = dir.as_ref();
    let validation_split = check_split(options)?;
    let index = index_directory(dir, options)?;
    let n = index.files.len();
    let n_val = validation_split.map_or(0, |v| (v * n as f64) as usize);
    let range = match options.subset {
        None => 0..n,
        Some(Subset::Training) => 0..n - n_val,
        Some(Subset::Validation) => n - n_val..n,
    };
    if range.is_empty() {
        return Err(Error::format(
            dir,
            format!(
                "the {} subset is empty: {n} files with validation_split={}",
                match options.subset {
                    Some(Subset::Validation) => "validation",
                    _ => "training",
                },
                validation_split.unwrap_or(0.0)
            ),
        ));
    }
    read_files(&index.files[range], index.class_names)
}

/// Training and validation parts at once (Keras's `subset="both"`), indexing the
/// directory a single time. Requires `validation_split`; `options.subset` is ignored.
pub fn text_datasets_from_directory_both(
    dir: impl AsRef<Path>,
    options: &DirectoryOptions,
) -> Result<(TextDataset, TextDataset)> {
    let dir = dir.as_ref();
    let opts = DirectoryOptions {
        subset: Some(Subset::Training),
        ..options.clone()
    };
    let Some(split) = check_split(&opts)? else {
        return Err(Error::invalid_argument(
            "text_datasets_from_directory_both",
            "validation_split",
            "must be set",
        ));
    };
    let index = index_directory(dir, &opts)?;
    let n = index.files.len();
    let n_val = (split * n as f64) as usize;
    if n_val == 0 || n_val == n {
        return Err(Error::format(
            dir,
            format!("validation_split={split} of {n} files leaves an empty subset"),
        ));
    }
    let train = read_files(&index.files[..n - n_val], index.class_names.clone())?;
    let val = read_files(&index.files[n - n_val..], index.class_names)?;
    Ok((train, val))
}

fn check_split(options: &DirectoryOptions) -> Result<Option<f64>> {
    let ctx = "text_dataset_from_directory";
    match (options.validation_split, options.subset) {
        (None, None) => Ok(None),
        (Some(v), Some(_)) => {
            if v > 0.0 && v < 1.0 {
                Ok(Some(v))
            } else {
                Err(Error::invalid_argument(
                    ctx,
                    "validation_split",
                    format!("must be in (0, 1), got {v}"),
                ))
            }
        }
        _ => Err(Error::invalid_argument(
            ctx,
            "subset",
            "`subset` and `validation_split` must be set together",
        )),
    }
}

struct Index {
    /// (path, label) in final (shuffled) order.
    files: Vec<(PathBuf, i32)>,
    class_names: Vec<String>,
}

fn index_directory(dir: &Path, options: &DirectoryOptions) -> Result<Index> {
    let meta = std::fs::metadata(dir).map_err(|e| Error::io(dir, e))?;
    if !meta.is_dir() {
        return Err(Error::format(dir, "not a directory"));
    }
    let mut subdirs = Vec::new();
    let mut other_entries = 0usize;
    for entry in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let path = entry.path();
        if !path.is_dir() {
            other_entries += 1;
            continue;
        }
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            return Err(Error::format(&path, "class folder name is not valid UTF-8"));
        };
        if !name.starts_with('.') {
            subdirs.push(name);
        }
    }
    subdirs.sort();
    if subdirs.is_empty() {
        return Err(Error::format(
            dir,
            format!(
                "no class subfolders found ({other_entries} other entries); expected one \
                 folder per class, e.g. {}/pos and {}/neg",
                dir.display(),
                dir.display()
            ),
        ));
    }
    let class_names = match &options.class_names {
        None => subdirs,
        Some(names) => {
            if names.is_empty() {
                return Err(Error::invalid_argument(
                    "text_dataset_from_directory",
                    "class_names",
                    "is empty",
                ));
            }
            for (i, name) in names.iter().enumerate() {
                if names[..i].contains(name) {
                    return Err(Error::invalid_argument(
                        "text_dataset_from_directory",
                        "class_names",
                        format!("{} is listed twice", quote(name, QUOTE_CHARS)),
                    ));
                }
                if !subdirs.contains(name) {
                    return Err(Error::format(
                        dir,
                        format!(
                            "class_names entry {} is not a subfolder; subfolders \
                             found: {}",
                            quote(name, QUOTE_CHARS),
                            quote_list(&subdirs)
                        ),
                    ));
                }
            }
            names.clone()
        }
    };
    let mut files = Vec::new();
    for (label, class) in class_names.iter().enumerate() {
        let class_dir = dir.join(class);
        let before = files.len();
        for path in txt_files(&class_dir, options.follow_links)? {
            files.push((path, label as i32));
        }
        if files.len() == before {
            return Err(Error::format(
                &class_dir,
                format!("class folder {class:?} contains no .txt files"),
            ));
        }
    }
    if options.shuffle {
        SeededRng::new(options.seed.unwrap_or(0)).shuffle(&mut files);
    }
    Ok(Index { files, class_names })
}

/// All `.txt` files under `root`, ordered as Keras's sorted `os.walk`: by folder path,
/// then by file name.
fn txt_files(root: &Path, follow_links: bool) -> Result<Vec<PathBuf>> {
    let mut folders: Vec<(String, Vec<String>)> = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(folder) = stack.pop() {
        let mut names = Vec::new();
        for entry in std::fs::read_dir(&folder).map_err(|e| Error::io(&folder, e))? {
            let entry = entry.map_err(|e| Error::io(&folder, e))?;
            let path = entry.path();
            let ty = entry.file_type().map_err(|e| Error::io(&path, e))?;
            // Symlinks count as what they point to; dangling ones are skipped.
            let (is_dir, is_file) = if ty.is_symlink() {
                match std::fs::metadata(&path) {
                    Ok(m) => (m.is_dir() && follow_links, m.is_file()),
                    Err(_) => (false, false),
                }
            } else {
                (ty.is_dir(), ty.is_file())
            };
            if is_dir {
                stack.push(path);
            } else if is_file {
                let name = entry.file_name().to_string_lossy().into_owned();
                if name.to_lowercase().ends_with(".txt") {
                    names.push(name);
                }
            }
        }
        names.sort();
        folders.push((folder.to_string_lossy().into_owned(), names));
    }
    folders.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(folders
        .into_iter()
        .flat_map(|(folder, names)| {
            let folder = PathBuf::from(folder);
            names.into_iter().map(move |n| folder.join(n))
        })
        .collect())
}

/// Reads the files in parallel, in order; invalid UTF-8 is decoded lossily and reported.
fn read_files(files: &[(PathBuf, i32)], class_names: Vec<String>) -> Result<TextDataset> {
    let read: Vec<(String, bool)> = files
        .par_iter()
        .map(|(path, _)| {
            let bytes = crate::io::read_input(path)?;
            Ok(match String::from_utf8(bytes) {
                Ok(s) => (s, false),
                Err(e) => (String::from_utf8_lossy(e.as_bytes()).into_owned(), true),
            })
        })
        .collect::<Result<_>>()?;
    let mut ds = TextDataset {
        class_names,
        ..Default::default()
    };
    ds.texts.reserve(files.len());
    for ((path, label), (text, lossy)) in files.iter().zip(read) {
        let source = path.display().to_string();
        if lossy {
            ds.warnings.push(LoadWarning::LossyUtf8 {
                location: source.clone(),
            });
        }
        ds.texts.push(text);
        ds.labels.push(*label);
        ds.sources.push(source);
    }
    Ok(ds)
}
