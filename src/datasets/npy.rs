//! One `.npy` array: numpy's format header (magic, version, a Python dict literal
//! with `descr`, `fortran_order` and `shape`) followed by raw little/big-endian
//! integers, or by a pickle stream for object arrays.

use super::dtype::{ByteOrder, Dtype, FloatDtype};
use super::pickle;

/// An array read from a `.npy` file or `.npz` member.
#[derive(Clone, Debug, PartialEq)]
pub struct NpyArray {
    pub shape: Vec<usize>,
    pub data: NpyData,
}

/// The element data of an [`NpyArray`], in C order.
#[derive(Clone, Debug, PartialEq)]
pub enum NpyData {
    /// A bool or integer array of any width and byte order, widened to i64.
    Int(Vec<i64>),
    /// A float16/32/64 array, widened to f64; only from [`parse_npy_numeric`].
    Float(Vec<f64>),
    /// An object array whose items are all integer sequences (Python lists or tuples
    /// of ints, or 1-D integer arrays): the ragged layout of Keras's datasets.
    Sequences(Vec<Vec<i64>>),
}

impl NpyArray {
    /// Number of items along the first axis (what Python's `len` gives).
    pub fn len(&self) -> usize {
        match &self.data {
            NpyData::Int(v) if self.shape.is_empty() => v.len(),
            NpyData::Float(v) if self.shape.is_empty() => v.len(),
            NpyData::Int(_) | NpyData::Float(_) | NpyData::Sequences(_) => {
                self.shape.first().copied().unwrap_or(0)
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

const MAGIC: &[u8] = b"\x93NUMPY";

/// The header length a `.npy` prefix announces (the bytes after the first 10 or 12),
/// or `None` when `head` is too short or not a `.npy` stream.
#[cfg_attr(not(feature = "npz"), allow(dead_code))]
pub(crate) fn header_len(head: &[u8]) -> Option<usize> {
    if head.len() < 12 || &head[..MAGIC.len()] != MAGIC {
        return None;
    }
    match head[6] {
        1 => Some(usize::from(u16::from_le_bytes([head[8], head[9]])).saturating_sub(2)),
        2 | 3 => Some(u32::from_le_bytes([head[8], head[9], head[10], head[11]]) as usize),
        _ => None,
    }
}

/// Bytes the readers will hold for the array a `.npy` prefix (magic through header)
/// announces: its element count times 8 (every integer is widened to i64). `None`
/// when the header is incomplete, invalid or of an object array (whose pickle is
/// bounded by its own length).
#[cfg_attr(not(feature = "npz"), allow(dead_code))]
pub(crate) fn declared_memory(head: &[u8]) -> Option<u128> {
    let (header, _) = parse_prefix(head).ok()?;
    // Floats are held as f64: 8 bytes each, as the integers.
    if FloatDtype::parse(&header.descr).is_none() {
        let dtype = Dtype::parse(&header.descr, ByteOrder::Little).ok()?;
        if dtype == Dtype::Object {
            return None;
        }
    }
    Some(
        header
            .shape
            .iter()
            .fold(8u128, |acc, &d| acc.saturating_mul(d as u128)),
    )
}

/// Parses magic, version and header; returns the header and where the data starts.
fn parse_prefix(bytes: &[u8]) -> Result<(Header, usize), String> {
    if bytes.len() < MAGIC.len() + 2 || &bytes[..MAGIC.len()] != MAGIC {
        return Err("not a .npy array (missing the \\x93NUMPY magic)".into());
    }
    let major = bytes[6];
    let (header_len, header_start): (usize, usize) = match major {
        1 => {
            let b = bytes.get(8..10).ok_or("truncated .npy header length")?;
            (usize::from(u16::from_le_bytes([b[0], b[1]])), 10)
        }
        2 | 3 => {
            let b = bytes.get(8..12).ok_or("truncated .npy header length")?;
            (u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize, 12)
        }
        v => return Err(format!("unsupported .npy format version {v}.{}", bytes[7])),
    };
    let header_end = header_start
        .checked_add(header_len)
        .filter(|&end| end <= bytes.len())
        .ok_or_else(|| format!("truncated .npy header ({header_len} bytes announced)"))?;
    let header_bytes = &bytes[header_start..header_end];
    // Versions 1 and 2 store the header in latin-1, version 3 in UTF-8.
    let header: String = if major == 3 {
        std::str::from_utf8(header_bytes)
            .map_err(|_| "the .npy header is not valid UTF-8")?
            .to_owned()
    } else {
        header_bytes.iter().map(|&b| char::from(b)).collect()
    };
    Ok((parse_header(&header)?, header_end))
}

/// Parses a whole `.npy` byte stream of ids or labels (bool, integer or object
/// arrays; floats are refused). Errors are plain messages; callers add the file.
pub fn parse_npy(bytes: &[u8]) -> Result<NpyArray, String> {
    parse_npy_with(bytes, false)
}

/// [`parse_npy`] that also reads float16/32/64 arrays (as [`NpyData::Float`]): the
/// numeric data of `[data] source = "npz"`.
pub fn parse_npy_numeric(bytes: &[u8]) -> Result<NpyArray, String> {
    parse_npy_with(bytes, true)
}

fn parse_npy_with(bytes: &[u8], floats: bool) -> Result<NpyArray, String> {
    let (header, header_end) = parse_prefix(bytes)?;
    let payload = &bytes[header_end..];
    let count = header
        .shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or("array shape overflows")?;
    let fortran_nd = header.fortran_order && header.shape.iter().filter(|&&d| d > 1).count() > 1;
    let fortran_err = "Fortran-ordered arrays of more than one dimension are not supported";
    if let Some(f) = FloatDtype::parse(&header.descr).filter(|_| floats) {
        if fortran_nd {
            return Err(fortran_err.into());
        }
        return Ok(NpyArray {
            shape: header.shape,
            data: NpyData::Float(f.decode(payload, count)?),
        });
    }
    let dtype = Dtype::parse(&header.descr, ByteOrder::Little)?;
    if dtype == Dtype::Object {
        return pickle::load_array(payload).map_err(|e| e.to_string());
    }
    if fortran_nd {
        return Err(fortran_err.into());
    }
    let ints = dtype.decode(payload, count)?;
    Ok(NpyArray {
        shape: header.shape,
        data: NpyData::Int(ints),
    })
}

struct Header {
    descr: String,
    fortran_order: bool,
    shape: Vec<usize>,
}

/// Tokens of the header's Python literal.
#[derive(Debug, PartialEq)]
enum Tok {
    Punct(char),
    Str(String),
    Int(usize),
    Bool(bool),
}

fn tokenize(s: &str) -> Result<Vec<Tok>, String> {
    let mut toks = Vec::new();
    let mut chars = s.char_indices().peekable();
    while let Some(&(_, c)) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '{' | '}' | '(' | ')' | ',' | ':' => {
                toks.push(Tok::Punct(c));
                chars.next();
            }
            '[' => return Err("unsupported dtype (structured dtypes are not read)".into()),
            '\'' | '"' => {
                chars.next();
                let mut text = String::new();
                loop {
                    match chars.next() {
                        Some((_, q)) if q == c => break,
                        Some((_, '\\')) => {
                            return Err("escapes in .npy header strings are not supported".into());
                        }
                        Some((_, ch)) => text.push(ch),
                        None => return Err("unterminated string in .npy header".into()),
                    }
                }
                toks.push(Tok::Str(text));
            }
            '0'..='9' => {
                let mut n: usize = 0;
                while let Some(&(_, d)) = chars.peek() {
                    let Some(v) = d.to_digit(10) else { break };
                    n = n
                        .checked_mul(10)
                        .and_then(|n| n.checked_add(v as usize))
                        .ok_or("array dimension too large in .npy header")?;
                    chars.next();
                }
                // Python 2 wrote long dimensions as `25000L`.
                if let Some(&(_, 'L')) = chars.peek() {
                    chars.next();
                }
                toks.push(Tok::Int(n));
            }
            _ => {
                let start = chars.peek().map(|&(i, _)| i).unwrap_or(0);
                let word: String = s[start..]
                    .chars()
                    .take_while(|c| c.is_alphanumeric())
                    .collect();
                match word.as_str() {
                    "True" => toks.push(Tok::Bool(true)),
                    "False" => toks.push(Tok::Bool(false)),
                    _ => return Err(format!("unexpected {c:?} in .npy header")),
                }
                for _ in 0..word.chars().count() {
                    chars.next();
                }
            }
        }
    }
    Ok(toks)
}

/// Parses `{'descr': '<i8', 'fortran_order': False, 'shape': (3,), }`.
fn parse_header(text: &str) -> Result<Header, String> {
    let toks = tokenize(text)?;
    let bad = || format!("malformed .npy header {:?}", text.trim_end());
    let mut it = toks.into_iter().peekable();
    if it.next() != Some(Tok::Punct('{')) {
        return Err(bad());
    }
    let (mut descr, mut fortran, mut shape) = (None, None, None);
    loop {
        match it.next() {
            Some(Tok::Punct('}')) => break,
            Some(Tok::Str(key)) => {
                if it.next() != Some(Tok::Punct(':')) {
                    return Err(bad());
                }
                match (key.as_str(), it.next()) {
                    ("descr", Some(Tok::Str(d))) => descr = Some(d),
                    ("fortran_order", Some(Tok::Bool(b))) => fortran = Some(b),
                    ("shape", Some(Tok::Punct('('))) => {
                        let mut dims = Vec::new();
                        loop {
                            match it.next() {
                                Some(Tok::Punct(')')) => break,
                                Some(Tok::Int(n)) => {
                                    dims.push(n);
                                    match it.next() {
                                        Some(Tok::Punct(',')) => {}
                                        Some(Tok::Punct(')')) => break,
                                        _ => return Err(bad()),
                                    }
                                }
                                _ => return Err(bad()),
                            }
                        }
                        shape = Some(dims);
                    }
                    _ => return Err(bad()),
                }
                match it.next() {
                    Some(Tok::Punct(',')) => {}
                    Some(Tok::Punct('}')) => break,
                    _ => return Err(bad()),
                }
            }
            _ => return Err(bad()),
        }
    }
    match (descr, fortran, shape) {
        (Some(descr), Some(fortran_order), Some(shape)) => Ok(Header {
            descr,
            fortran_order,
            shape,
        }),
        _ => Err(format!(
            ".npy header lacks descr, fortran_order or shape: {:?}",
            text.trim_end()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn npy(header: &str, payload: &[u8]) -> Vec<u8> {
        let mut v = b"\x93NUMPY\x01\x00".to_vec();
        v.extend_from_slice(&(header.len() as u16).to_le_bytes());
        v.extend_from_slice(header.as_bytes());
        v.extend_from_slice(payload);
        v
    }

    #[test]
    fn reads_int64_labels() {
        let mut payload = Vec::new();
        for x in [1i64, 0, -7] {
            payload.extend_from_slice(&x.to_le_bytes());
        }
        let a = parse_npy(&npy(
            "{'descr': '<i8', 'fortran_order': False, 'shape': (3,), }      \n",
            &payload,
        ))
        .unwrap();
        assert_eq!(a.shape, vec![3]);
        assert_eq!(a.len(), 3);
        assert_eq!(a.data, NpyData::Int(vec![1, 0, -7]));
    }

    #[test]
    fn reads_big_endian_int32_and_2d_and_scalar() {
        let a = parse_npy(&npy(
            "{'descr': '>i4', 'fortran_order': False, 'shape': (2, 1), }\n",
            &[0, 0, 0, 5, 0xff, 0xff, 0xff, 0xfe],
        ))
        .unwrap();
        assert_eq!(a.shape, vec![2, 1]);
        assert_eq!(a.data, NpyData::Int(vec![5, -2]));
        let s = parse_npy(&npy(
            "{'descr': '|u1', 'fortran_order': False, 'shape': (), }\n",
            &[9],
        ))
        .unwrap();
        assert_eq!(s.data, NpyData::Int(vec![9]));
    }

    #[test]
    fn header_errors_are_explained() {
        let e = parse_npy(b"PK\x03\x04").unwrap_err();
        assert!(e.contains("magic"), "{e}");
        let e = parse_npy(&npy(
            "{'descr': '<f8', 'fortran_order': False, 'shape': (1,), }",
            &[0; 8],
        ))
        .unwrap_err();
        assert!(e.contains("unsupported dtype '<f8'"), "{e}");
        let e = parse_npy(&npy(
            "{'descr': [('a', '<i4')], 'fortran_order': False, 'shape': (1,), }",
            &[0; 4],
        ))
        .unwrap_err();
        assert!(e.contains("structured"), "{e}");
        let e = parse_npy(&npy("{'descr': '<i8', 'shape': (1,), }", &[0; 8])).unwrap_err();
        assert!(e.contains("lacks"), "{e}");
        let e = parse_npy(&npy(
            "{'descr': '<i8', 'fortran_order': False, 'shape': (2,), }",
            &[0; 8],
        ))
        .unwrap_err();
        assert!(e.contains("truncated"), "{e}");
        let e = parse_npy(&npy(
            "{'descr': '<i8', 'fortran_order': False, 'shape': (99999999999999, 99999999999999), }",
            &[],
        ))
        .unwrap_err();
        assert!(e.contains("overflow"), "{e}");
        let e = parse_npy(b"\x93NUMPY\x09\x00\x00\x00").unwrap_err();
        assert!(e.contains("version 9"), "{e}");
    }

    #[test]
    fn numeric_reader_takes_floats_the_id_reader_refuses_them() {
        let mut payload = Vec::new();
        for x in [0.5f32, -1.0, 3.25, 8.0] {
            payload.extend_from_slice(&x.to_le_bytes());
        }
        let bytes = npy(
            "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }\n",
            &payload,
        );
        let a = parse_npy_numeric(&bytes).unwrap();
        assert_eq!(a.shape, vec![2, 2]);
        assert_eq!(a.len(), 2);
        assert_eq!(a.data, NpyData::Float(vec![0.5, -1.0, 3.25, 8.0]));
        assert!(
            parse_npy(&bytes)
                .unwrap_err()
                .contains("unsupported dtype '<f4'")
        );
        assert_eq!(declared_memory(&bytes), Some(32));
        let e = parse_npy_numeric(&bytes[..bytes.len() - 1]).unwrap_err();
        assert!(e.contains("truncated"), "{e}");
        // Integers still come back as integers.
        let ints = npy(
            "{'descr': '<i8', 'fortran_order': False, 'shape': (1,), }\n",
            &7i64.to_le_bytes(),
        );
        assert_eq!(
            parse_npy_numeric(&ints).unwrap().data,
            NpyData::Int(vec![7])
        );
    }

    #[test]
    fn python2_long_dimensions() {
        let a = parse_npy(&npy(
            "{'descr': '<i8', 'fortran_order': False, 'shape': (1L,), }\n",
            &[3, 0, 0, 0, 0, 0, 0, 0],
        ))
        .unwrap();
        assert_eq!(a.data, NpyData::Int(vec![3]));
    }
}
