//! Labelled texts from a CSV file with a header row: one column holds the text, one the
//! label (both named by the user), as in the tutorials that read e.g. an
//! `IMDB Dataset.csv` with columns `review,sentiment`.
//!
//! Labels are either strings mapped to ids (sorted unique values by default, e.g.
//! `negative`=0, `positive`=1, or an explicit list giving the order) or non-negative
//! integers used as they are. Label cells are trimmed of surrounding whitespace; texts
//! are kept as they are. A text cell that is not valid UTF-8 is decoded lossily and
//! reported in `warnings` (as `file:line N`); a label cell that is not valid UTF-8 is
//! an error naming its line (decoded lossily it would become a class of its own).
//! Errors quote at most 200 characters of a cell.

use std::collections::BTreeSet;
use std::path::Path;

use super::dataset::{LoadWarning, TextDataset};
use crate::budget::{quote, quote_list};
use crate::{Error, Result};

/// How label cells become integer labels.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum LabelEncoding {
    /// Distinct label strings sorted (byte-wise), id = position.
    #[default]
    SortedUnique,
    /// These label strings, id = position; any other label is an error.
    Explicit(Vec<String>),
    /// Labels are integers in `0..=MAX_INTEGER_LABEL`, used as ids; class names are
    /// "0", "1", ... up to the largest label.
    Integer,
}

/// Largest label accepted by [`LabelEncoding::Integer`] (one class name is made per
/// id up to the largest, so an id column chosen by mistake must not allocate billions).
pub const MAX_INTEGER_LABEL: i32 = 65_535;

/// Options of [`load_text_csv`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CsvOptions {
    pub text_column: String,
    pub label_column: String,
    pub labels: LabelEncoding,
    /// Field delimiter, `b','` by default.
    pub delimiter: u8,
}

impl CsvOptions {
    /// Comma-separated, string labels in sorted order.
    pub fn new(text_column: impl Into<String>, label_column: impl Into<String>) -> Self {
        CsvOptions {
            text_column: text_column.into(),
            label_column: label_column.into(),
            labels: LabelEncoding::SortedUnique,
            delimiter: b',',
        }
    }
}

/// Longest cell or name an error quotes (a 10 MB line must not be echoed whole).
const QUOTE_CHARS: usize = crate::budget::QUOTE_CHARS;

/// A csv error as `line N: cause`, in the words of this loader.
pub(crate) fn describe_csv_error(e: &csv::Error) -> String {
    match e.kind() {
        csv::ErrorKind::UnequalLengths {
            pos: Some(pos),
            expected_len,
            len,
        } => format!(
            "line {}: {len} fields, but the header has {expected_len}",
            pos.line()
        ),
        csv::ErrorKind::Io(io) => format!("read error: {io}"),
        _ => match e.position() {
            Some(pos) => format!("line {}: invalid CSV: {e}", pos.line()),
            None => format!("invalid CSV: {e}"),
        },
    }
}

/// Reads `path` (see the module docs). Errors name the file and, for bad rows, the line.
pub fn load_text_csv(path: impl AsRef<Path>, options: &CsvOptions) -> Result<TextDataset> {
    let path = path.as_ref();
    crate::io::check_input_file(path)?;
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    read_text_csv(std::io::BufReader::new(file), path, options)
}

/// `load_text_csv` on CSV read from `input` (`path` names it in errors and sources).
pub fn read_text_csv(
    input: impl std::io::Read,
    path: &Path,
    options: &CsvOptions,
) -> Result<TextDataset> {
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(options.delimiter)
        .has_headers(true)
        .from_reader(input);
    let headers = read_headers(&mut reader, path)?;
    let text_col = column(&headers, &options.text_column, path)?;
    let label_col = column(&headers, &options.label_column, path)?;
    let (mut ds, raw_labels, lines) = read_rows(&mut reader, path, options, text_col, label_col)?;
    encode_labels(&mut ds, &raw_labels, &lines, path, options)?;
    Ok(ds)
}

/// The header row's names, trimmed (and without a byte-order mark).
pub(crate) fn read_headers<R: std::io::Read>(
    reader: &mut csv::Reader<R>,
    path: &Path,
) -> Result<Vec<String>> {
    let csv_err = |e: csv::Error| Error::format(path, describe_csv_error(&e));
    let headers: Vec<String> = reader
        .byte_headers()
        .map_err(csv_err)?
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let h = String::from_utf8_lossy(h);
            // A UTF-8 byte-order mark (spreadsheet exports) is not part of the name.
            let h = if i == 0 {
                h.trim_start_matches('\u{feff}')
            } else {
                &h
            };
            h.trim().to_string()
        })
        .collect();
    if headers.is_empty() || headers.iter().all(String::is_empty) {
        return Err(Error::format(path, "empty CSV: no header row"));
    }
    Ok(headers)
}

/// The index of the column called `name`.
pub(crate) fn column(headers: &[String], name: &str, path: &Path) -> Result<usize> {
    headers.iter().position(|h| h == name).ok_or_else(|| {
        Error::format(
            path,
            format!(
                "no column named {}; columns found: {}",
                quote(name, QUOTE_CHARS),
                quote_list(headers)
            ),
        )
    })
}

/// Every data row's text, raw label and line (the texts and sources go into the
/// dataset, with a warning per row decoded lossily).
fn read_rows<R: std::io::Read>(
    reader: &mut csv::Reader<R>,
    path: &Path,
    options: &CsvOptions,
    text_col: usize,
    label_col: usize,
) -> Result<(TextDataset, Vec<String>, Vec<u64>)> {
    let csv_err = |e: csv::Error| Error::format(path, describe_csv_error(&e));
    let mut ds = TextDataset::default();
    let mut raw_labels: Vec<String> = Vec::new();
    let mut lines: Vec<u64> = Vec::new();
    let mut record = csv::ByteRecord::new();
    while reader.read_byte_record(&mut record).map_err(csv_err)? {
        let line = record.position().map_or(0, |p| p.line());
        let location = format!("{}:line {line}", path.display());
        let mut lossy = false;
        let mut field = |col: usize, is_label: bool| -> Result<String> {
            let bytes = record
                .get(col)
                .ok_or_else(|| Error::format(path, format!("line {line}: missing column {col}")))?;
            Ok(match std::str::from_utf8(bytes) {
                Ok(s) => s.to_string(),
                // A label decoded lossily would silently become a class of its own.
                Err(_) if is_label => {
                    return Err(Error::format(
                        path,
                        format!(
                            "line {line}: label {} in column {} is not valid UTF-8",
                            quote(&String::from_utf8_lossy(bytes), QUOTE_CHARS),
                            quote(&options.label_column, QUOTE_CHARS)
                        ),
                    ));
                }
                Err(_) => {
                    lossy = true;
                    String::from_utf8_lossy(bytes).into_owned()
                }
            })
        };
        let text = field(text_col, false)?;
        let label = field(label_col, true)?.trim().to_string();
        if lossy {
            ds.warnings.push(LoadWarning::LossyUtf8 {
                location: location.clone(),
            });
        }
        ds.texts.push(text);
        raw_labels.push(label);
        ds.sources.push(location);
        lines.push(line);
    }
    if ds.texts.is_empty() {
        return Err(Error::format(
            path,
            "empty CSV: a header row but no data rows",
        ));
    }

    Ok((ds, raw_labels, lines))
}

/// Turn the raw labels into class ids and class names as `options.labels` says.
fn encode_labels(
    ds: &mut TextDataset,
    raw_labels: &[String],
    lines: &[u64],
    path: &Path,
    options: &CsvOptions,
) -> Result<()> {
    let unknown = |line: u64, value: &str, known: &[String]| {
        Error::format(
            path,
            format!(
                "line {line}: label {} in column {} is not one of {}",
                quote(value, QUOTE_CHARS),
                quote(&options.label_column, QUOTE_CHARS),
                quote_list(known)
            ),
        )
    };
    match &options.labels {
        LabelEncoding::SortedUnique | LabelEncoding::Explicit(_) => {
            let classes: Vec<String> = match &options.labels {
                LabelEncoding::Explicit(list) => {
                    for (i, name) in list.iter().enumerate() {
                        if list[..i].contains(name) {
                            return Err(Error::invalid_argument(
                                "load_text_csv",
                                "labels",
                                format!("{} is listed twice", quote(name, QUOTE_CHARS)),
                            ));
                        }
                    }
                    list.clone()
                }
                _ => raw_labels
                    .iter()
                    .cloned()
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .collect(),
            };
            let ids: rustc_hash::FxHashMap<&str, i32> = classes
                .iter()
                .enumerate()
                .map(|(i, c)| (c.as_str(), i as i32))
                .collect();
            for (label, &line) in raw_labels.iter().zip(lines) {
                let id = ids
                    .get(label.as_str())
                    .ok_or_else(|| unknown(line, label, &classes))?;
                ds.labels.push(*id);
            }
            ds.class_names = classes;
        }
        LabelEncoding::Integer => {
            for (label, &line) in raw_labels.iter().zip(lines) {
                let id: i32 = label
                    .parse()
                    .ok()
                    .filter(|v| (0..=MAX_INTEGER_LABEL).contains(v))
                    .ok_or_else(|| {
                        Error::format(
                            path,
                            format!(
                                "line {line}: label {} in column {} is not an integer \
                                 in 0..={MAX_INTEGER_LABEL} (use LabelEncoding::SortedUnique \
                                 for arbitrary ids)",
                                quote(label, QUOTE_CHARS),
                                quote(&options.label_column, QUOTE_CHARS)
                            ),
                        )
                    })?;
                ds.labels.push(id);
            }
            let max = ds.labels.iter().copied().max().unwrap_or(0);
            ds.class_names = (0..=max).map(|i| i.to_string()).collect();
        }
    }
    Ok(())
}
