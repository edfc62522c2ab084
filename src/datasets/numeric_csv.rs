//! Numeric columns of a CSV file with a header row, as a time-series user has them
//! (`pandas.read_csv(...)[feature_keys].values` in Keras's weather tutorial): one row
//! per time step, the chosen columns parsed as numbers, other columns (dates, labels)
//! left unread.
//!
//! Every cell that is read must be a finite number: an empty cell, a word, `nan` or
//! `inf` is an error naming the line and the column, since a single NaN would turn
//! every loss after it into NaN hours into a run. Rows with another number of fields
//! than the header are errors naming the line. The file's size is checked against
//! the memory budget before it is read.

use std::path::Path;

use ndarray::Array2;

use crate::budget::{QUOTE_CHARS, quote};
use crate::text::csv::{column, describe_csv_error, read_headers};
use crate::{Error, Result};

/// The columns read and their values, one row per CSV row, in file order.
#[derive(Clone, Debug, PartialEq)]
pub struct NumericTable {
    pub columns: Vec<String>,
    /// `(rows, columns.len())`.
    pub values: Array2<f32>,
}

impl NumericTable {
    /// The index of column `name` in [`NumericTable::columns`].
    pub fn column_index(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c == name)
    }
}

/// Reads `columns` (every column when `None`) of the CSV file at `path`.
pub fn read_numeric_csv(
    path: impl AsRef<Path>,
    columns: Option<&[String]>,
) -> Result<NumericTable> {
    let path = path.as_ref();
    let len = crate::io::check_input_file(path)?;
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    // Each value takes at least 2 bytes of text (digit and separator) and 4 as f32:
    // the values never take more than twice the file's size.
    crate::budget::check_bytes("the numbers of this CSV file", u128::from(len) * 2)
        .map_err(|r| Error::format(path, r))?;
    parse_numeric_csv(std::io::BufReader::new(file), path, columns)
}

/// `read_numeric_csv` on CSV text from `input` (`path` names it in errors).
pub fn parse_numeric_csv(
    input: impl std::io::Read,
    path: &Path,
    columns: Option<&[String]>,
) -> Result<NumericTable> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(input);
    let headers = read_headers(&mut reader, path)?;
    let names: Vec<String> = match columns {
        Some([]) => {
            return Err(Error::format(path, "no columns chosen to read"));
        }
        Some(c) => c.to_vec(),
        None => headers.clone(),
    };
    let idx: Vec<usize> = names
        .iter()
        .map(|n| column(&headers, n, path))
        .collect::<Result<_>>()?;
    let csv_err = |e: csv::Error| Error::format(path, describe_csv_error(&e));
    let mut values: Vec<f32> = Vec::new();
    let mut record = csv::ByteRecord::new();
    let mut rows = 0usize;
    while reader.read_byte_record(&mut record).map_err(csv_err)? {
        let line = record.position().map_or(0, |p| p.line());
        for (&i, name) in idx.iter().zip(&names) {
            let cell = record.get(i).unwrap_or_default();
            values.push(parse_cell(cell).map_err(|why| {
                Error::format(
                    path,
                    format!("line {line}, column {}: {why}", quote(name, QUOTE_CHARS)),
                )
            })?);
        }
        rows += 1;
    }
    if rows == 0 {
        return Err(Error::format(path, "the CSV has a header but no data rows"));
    }
    let values = Array2::from_shape_vec((rows, names.len()), values)
        .map_err(|e| Error::Shape(e.to_string()))?;
    Ok(NumericTable {
        columns: names,
        values,
    })
}

/// One cell as a finite f32, or why not.
fn parse_cell(cell: &[u8]) -> std::result::Result<f32, String> {
    let text = String::from_utf8_lossy(cell);
    let t = text.trim();
    if t.is_empty() {
        return Err(
            "empty cell; every value of a feature or target column must be a number".into(),
        );
    }
    match t.parse::<f64>() {
        Ok(v) if v.is_finite() && v.abs() <= f64::from(f32::MAX) => Ok(v as f32),
        Ok(v) if v.is_finite() => Err(format!("{t} is beyond the float32 range")),
        Ok(_) => Err(format!(
            "{} is not a finite number (fill or drop missing values before training)",
            quote(t, QUOTE_CHARS)
        )),
        Err(_) => Err(format!("{} is not a number", quote(t, QUOTE_CHARS))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str, cols: Option<&[String]>) -> Result<NumericTable> {
        parse_numeric_csv(text.as_bytes(), Path::new("s.csv"), cols)
    }

    #[test]
    fn reads_chosen_columns_in_order() {
        let t = parse(
            "date,temp,rh\n2020-01-01,1.5,30\n2020-01-02, -2e1 ,31\n",
            Some(&["rh".into(), "temp".into()]),
        )
        .unwrap();
        assert_eq!(t.columns, vec!["rh", "temp"]);
        assert_eq!(t.values.as_slice().unwrap(), &[30.0, 1.5, 31.0, -20.0]);
        assert_eq!(t.column_index("temp"), Some(1));
    }

    #[test]
    fn bad_cells_name_line_and_column() {
        let cases = [
            (
                "a,b\n1,2\n3,x\n",
                "line 3, column \"b\": \"x\" is not a number",
            ),
            (
                "a,b\n1,2\nnan,4\n",
                "line 3, column \"a\": \"nan\" is not a finite number",
            ),
            ("a,b\n1,\n", "line 2, column \"b\": empty cell"),
            ("a,b\n1,2\n3\n", "line 3: 1 fields, but the header has 2"),
            ("a,b\n1,1e39\n", "beyond the float32 range"),
            ("a,b\n", "no data rows"),
        ];
        for (text, want) in cases {
            let e = parse(text, None).unwrap_err().to_string();
            assert!(e.contains("s.csv") && e.contains(want), "{text:?}: {e}");
        }
        let e = parse("a,b\n1,2\n", Some(&["c".into()]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("no column named \"c\""), "{e}");
    }
}
