//! The word-id steps Keras's `imdb.load_data` and `reuters.load_data` share, in
//! Keras's order: shuffle, add `start_char` and `index_from`, drop long sequences,
//! map ids outside `[skip_top, num_words)` to `oov_char`. Ids are Python ints in
//! Keras, so everything runs in i64 and is narrowed to i32 at the end with a check.

use std::path::Path;

use super::mt19937::RandomState;
use super::npy::{NpyArray, NpyData};
use super::npz::Npz;
use crate::{Error, Result};

/// Takes `x_key`/`y_key` from the archive as ragged sequences and 1-D labels of the
/// same length.
pub(crate) fn take_pair(
    npz: &mut Npz,
    x_key: &str,
    y_key: &str,
) -> Result<(Vec<Vec<i64>>, Vec<i64>)> {
    let x = npz.take(x_key)?;
    let y = npz.take(y_key)?;
    let path = npz.path().to_owned();
    if x.shape.len() != 1 {
        return Err(Error::format(
            &path,
            format!(
                "`{x_key}` has shape {:?}; expected a 1-D object array",
                x.shape
            ),
        ));
    }
    let xs = match x.data {
        NpyData::Sequences(s) => s,
        NpyData::Int(_) | NpyData::Float(_) => {
            return Err(Error::format(
                &path,
                format!(
                    "`{x_key}` is a plain integer array of shape {:?}; expected an object array of sequences",
                    x.shape
                ),
            ));
        }
    };
    let labels = labels(y, y_key, &path)?;
    if xs.len() != labels.len() {
        return Err(Error::format(
            &path,
            format!(
                "`{x_key}` holds {} sequences but `{y_key}` holds {} labels",
                xs.len(),
                labels.len()
            ),
        ));
    }
    Ok((xs, labels))
}

fn labels(y: NpyArray, key: &str, path: &Path) -> Result<Vec<i64>> {
    match y.data {
        NpyData::Int(v) if y.shape.len() == 1 => Ok(v),
        NpyData::Int(_) | NpyData::Float(_) => Err(Error::format(
            path,
            format!(
                "`{key}` has shape {:?}; expected a 1-D label array",
                y.shape
            ),
        )),
        NpyData::Sequences(_) => Err(Error::format(
            path,
            format!("`{key}` is an object array; expected integer labels"),
        )),
    }
}

/// `indices = np.arange(n); rng.shuffle(indices); x = x[indices]; y = y[indices]`.
pub(crate) fn shuffle_pair(
    rng: &mut RandomState,
    xs: Vec<Vec<i64>>,
    ys: Vec<i64>,
) -> (Vec<Vec<i64>>, Vec<i64>) {
    let order = rng.shuffled_indices(xs.len());
    let mut xs: Vec<Option<Vec<i64>>> = xs.into_iter().map(Some).collect();
    let new_x = order
        .iter()
        .map(|&i| xs[i].take().expect("shuffled indices are a permutation"))
        .collect();
    let new_y = order.iter().map(|&i| ys[i]).collect();
    (new_x, new_y)
}

/// `[[start_char] + [w + index_from for w in x] for x in xs]`, or only the offset
/// when `start_char` is None.
pub(crate) fn add_start_and_offset(
    xs: &mut [Vec<i64>],
    start_char: Option<i32>,
    index_from: i32,
    path: &Path,
) -> Result<()> {
    let from = i64::from(index_from);
    for (i, x) in xs.iter_mut().enumerate() {
        let mut out = Vec::with_capacity(x.len() + usize::from(start_char.is_some()));
        if let Some(c) = start_char {
            out.push(i64::from(c));
        }
        for &w in x.iter() {
            let v = w.checked_add(from).ok_or_else(|| {
                Error::Data(format!(
                    "{}: sequence {i} (in shuffled order): id {w} + index_from {index_from} overflows",
                    path.display()
                ))
            })?;
            out.push(v);
        }
        *x = out;
    }
    Ok(())
}

/// Keras's `remove_long_seq`: keeps the sequences strictly shorter than `maxlen`.
pub(crate) fn remove_long_seq(
    maxlen: usize,
    xs: Vec<Vec<i64>>,
    ys: Vec<i64>,
) -> (Vec<Vec<i64>>, Vec<i64>) {
    xs.into_iter()
        .zip(ys)
        .filter(|(x, _)| x.len() < maxlen)
        .unzip()
}

/// `num_words = max(max(x) for x in xs)` when Keras's `num_words` is falsy.
pub(crate) fn default_num_words(xs: &[Vec<i64>], path: &Path) -> Result<i64> {
    let mut best: Option<i64> = None;
    for (i, x) in xs.iter().enumerate() {
        let Some(&m) = x.iter().max() else {
            return Err(Error::Data(format!(
                "{}: sequence {i} (in shuffled order) is empty, so num_words cannot default to the largest id \
                 (Keras fails here too); pass num_words",
                path.display()
            )));
        };
        best = Some(best.map_or(m, |b| b.max(m)));
    }
    best.ok_or_else(|| {
        Error::Data(format!(
            "{}: no sequence is left, so num_words cannot default to the largest id \
             (Keras fails here too); pass num_words or a larger maxlen",
            path.display()
        ))
    })
}

/// `w if skip_top <= w < num_words else oov_char` (or drop `w` when `oov_char` is
/// None), then narrows to i32.
pub(crate) fn apply_vocabulary(
    xs: Vec<Vec<i64>>,
    skip_top: usize,
    num_words: i64,
    oov_char: Option<i32>,
    path: &Path,
) -> Result<Vec<Vec<i32>>> {
    let skip_top = i64::try_from(skip_top).unwrap_or(i64::MAX);
    xs.into_iter()
        .enumerate()
        .map(|(i, x)| {
            let mut out = Vec::with_capacity(x.len());
            for w in x {
                let kept = skip_top <= w && w < num_words;
                let v = match (kept, oov_char) {
                    (true, _) => w,
                    (false, Some(c)) => i64::from(c),
                    (false, None) => continue,
                };
                let v = i32::try_from(v).map_err(|_| {
                    Error::Data(format!(
                        "{}: sequence {i} (in shuffled order): id {v} does not fit in i32",
                        path.display()
                    ))
                })?;
                out.push(v);
            }
            Ok(out)
        })
        .collect()
}

/// Keras's `if not num_words`: None and 0 both mean "the largest id".
pub(crate) fn resolve_num_words(
    num_words: Option<usize>,
    xs: &[Vec<i64>],
    path: &Path,
) -> Result<i64> {
    match num_words {
        Some(n) if n > 0 => Ok(i64::try_from(n).unwrap_or(i64::MAX)),
        _ => default_num_words(xs, path),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vocabulary_limits_and_oov() {
        let p = Path::new("t");
        let xs = vec![vec![1, 2, 3, 9, 10]];
        assert_eq!(
            apply_vocabulary(xs.clone(), 3, 10, Some(2), p).unwrap(),
            vec![vec![2, 2, 3, 9, 2]]
        );
        assert_eq!(
            apply_vocabulary(xs, 3, 10, None, p).unwrap(),
            vec![vec![3, 9]]
        );
        assert!(apply_vocabulary(vec![vec![1 << 40]], 0, i64::MAX, None, p).is_err());
    }

    #[test]
    fn long_sequences_are_dropped_not_truncated() {
        let (x, y) = remove_long_seq(3, vec![vec![1, 2], vec![1, 2, 3], vec![]], vec![7, 8, 9]);
        assert_eq!(x, vec![vec![1, 2], vec![]]);
        assert_eq!(y, vec![7, 9]);
    }

    #[test]
    fn default_num_words_needs_nonempty_sequences() {
        let p = Path::new("t");
        assert_eq!(default_num_words(&[vec![4, 9], vec![7]], p).unwrap(), 9);
        assert!(default_num_words(&[vec![4], vec![]], p).is_err());
        assert!(default_num_words(&[], p).is_err());
        assert_eq!(resolve_num_words(Some(0), &[vec![5]], p).unwrap(), 5);
        assert_eq!(resolve_num_words(Some(3), &[], p).unwrap(), 3);
    }

    #[test]
    fn offsets_overflow_is_an_error() {
        let mut xs = vec![vec![i64::MAX]];
        assert!(add_start_and_offset(&mut xs, Some(1), 3, Path::new("t")).is_err());
        let mut xs = vec![vec![5, 6]];
        add_start_and_offset(&mut xs, Some(1), 3, Path::new("t")).unwrap();
        assert_eq!(xs, vec![vec![1, 8, 9]]);
    }
}
