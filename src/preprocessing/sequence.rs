//! `pad_sequences`: turn variable-length integer sequences into a dense matrix, with the
//! semantics of `keras.utils.pad_sequences` (defaults: pad before, truncate before, 0).

use std::fmt;
use std::str::FromStr;

use ndarray::Array2;
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Where padding values go: `"pre"` (before the sequence, Keras's default) or `"post"`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Padding {
    #[default]
    Pre,
    Post,
}

/// Which end of a too-long sequence is cut: `"pre"` (the beginning, Keras's default,
/// keeping the last `maxlen` values) or `"post"` (the end).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Truncating {
    #[default]
    Pre,
    Post,
}

fn parse_side(arg: &str, s: &str) -> Result<bool> {
    match s {
        "pre" => Ok(true),
        "post" => Ok(false),
        other => Err(Error::invalid_argument(
            "pad_sequences",
            arg,
            format!("expected \"pre\" or \"post\", got {other:?}"),
        )),
    }
}

impl FromStr for Padding {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Ok(if parse_side("padding", s)? {
            Padding::Pre
        } else {
            Padding::Post
        })
    }
}

impl FromStr for Truncating {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Ok(if parse_side("truncating", s)? {
            Truncating::Pre
        } else {
            Truncating::Post
        })
    }
}

impl fmt::Display for Padding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Padding::Pre => "pre",
            Padding::Post => "post",
        })
    }
}

impl fmt::Display for Truncating {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Truncating::Pre => "pre",
            Truncating::Post => "post",
        })
    }
}

/// All arguments of [`pad_sequences`] with Keras's defaults
/// (`maxlen=None`, `padding="pre"`, `truncating="pre"`, `value=0`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PadOptions {
    /// Output width; `None` pads to the longest sequence.
    pub maxlen: Option<usize>,
    pub padding: Padding,
    pub truncating: Truncating,
    /// The fill value.
    pub value: i32,
}

/// Pads/truncates `sequences` to a `(sequences.len(), maxlen)` matrix, exactly as
/// `keras.utils.pad_sequences(sequences, maxlen, padding=..., truncating=..., value=...)`
/// does with its default `int32` dtype. `maxlen: None` uses the longest sequence (0 when
/// there are no sequences or all are empty). `Some(0)` is rejected: Keras fails on it too
/// as soon as one sequence is non-empty.
pub fn pad_sequences<S: AsRef<[i32]>>(
    sequences: &[S],
    maxlen: Option<usize>,
    padding: Padding,
    truncating: Truncating,
    value: i32,
) -> Result<Array2<i32>> {
    pad_sequences_with(
        sequences,
        &PadOptions {
            maxlen,
            padding,
            truncating,
            value,
        },
    )
}

/// [`pad_sequences`] taking an options struct (use `PadOptions::default()` for Keras's
/// defaults).
pub fn pad_sequences_with<S: AsRef<[i32]>>(
    sequences: &[S],
    options: &PadOptions,
) -> Result<Array2<i32>> {
    let maxlen = match options.maxlen {
        Some(0) => {
            return Err(Error::invalid_argument(
                "pad_sequences",
                "maxlen",
                "must be at least 1 (or None to pad to the longest sequence)",
            ));
        }
        Some(m) => m,
        None => sequences
            .iter()
            .map(|s| s.as_ref().len())
            .max()
            .unwrap_or(0),
    };
    // Checked before allocating: a huge `maxlen` must be an error, not an abort.
    let bytes = sequences.len() as u128 * maxlen as u128 * 4;
    let what = format!("{} sequences padded to maxlen {maxlen}", sequences.len());
    crate::budget::check_bytes(&what, bytes)
        .map_err(|reason| Error::invalid_argument("pad_sequences", "maxlen", reason))?;
    let mut out = Array2::from_elem((sequences.len(), maxlen), options.value);
    for (mut row, seq) in out.rows_mut().into_iter().zip(sequences) {
        let seq = seq.as_ref();
        let kept = if seq.len() <= maxlen {
            seq
        } else {
            match options.truncating {
                Truncating::Pre => &seq[seq.len() - maxlen..],
                Truncating::Post => &seq[..maxlen],
            }
        };
        let start = match options.padding {
            Padding::Pre => maxlen - kept.len(),
            Padding::Post => 0,
        };
        for (dst, &v) in row.iter_mut().skip(start).zip(kept) {
            *dst = v;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_pad_and_truncate_before() {
        let seqs = vec![vec![1, 2, 3], vec![4]];
        let out = pad_sequences_with(&seqs, &PadOptions::default()).unwrap();
        assert_eq!(out, ndarray::array![[1, 2, 3], [0, 0, 4]]);
        let out = pad_sequences(&seqs, Some(2), Padding::Pre, Truncating::Pre, 0).unwrap();
        assert_eq!(out, ndarray::array![[2, 3], [0, 4]]);
    }

    #[test]
    fn maxlen_zero_is_an_error_naming_maxlen() {
        let err = pad_sequences(&[vec![1]], Some(0), Padding::Pre, Truncating::Pre, 0)
            .unwrap_err()
            .to_string();
        assert!(err.contains("maxlen"), "{err}");
    }

    #[test]
    fn absurd_maxlen_is_an_error_not_a_crash() {
        let err = pad_sequences(
            &[vec![1], vec![2]],
            Some(usize::MAX),
            Padding::Pre,
            Truncating::Pre,
            0,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("maxlen"), "{err}");
        // Representable but far over the memory ceiling: refused before allocating
        // (this aborted the process through the Python package).
        let seqs = vec![vec![1, 2, 3]; 10];
        let err = pad_sequences(
            &seqs,
            Some(1_000_000_000_000),
            Padding::Pre,
            Truncating::Pre,
            0,
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("10 sequences padded to maxlen 1000000000000 needs 40.0 TB"),
            "{err}"
        );
    }

    #[test]
    fn no_sequences_gives_empty_matrix() {
        let seqs: Vec<Vec<i32>> = vec![];
        let out = pad_sequences_with(&seqs, &PadOptions::default()).unwrap();
        assert_eq!(out.dim(), (0, 0));
        let out = pad_sequences(
            &[Vec::<i32>::new()],
            Some(3),
            Padding::Post,
            Truncating::Post,
            7,
        )
        .unwrap();
        assert_eq!(out, ndarray::array![[7, 7, 7]]);
    }

    #[test]
    fn parses_and_serializes_snake_case_names() {
        assert_eq!("post".parse::<Padding>().unwrap(), Padding::Post);
        assert_eq!("pre".parse::<Truncating>().unwrap(), Truncating::Pre);
        let err = "middle".parse::<Padding>().unwrap_err().to_string();
        assert!(err.contains("padding") && err.contains("middle"), "{err}");
        assert_eq!(serde_json::to_string(&Padding::Post).unwrap(), "\"post\"");
        let t: Truncating = serde_json::from_str("\"post\"").unwrap();
        assert_eq!(t, Truncating::Post);
    }
}
