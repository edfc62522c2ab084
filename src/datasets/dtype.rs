//! The numpy dtypes the dataset readers accept: booleans, integers of every width and
//! byte order, and `object` (ragged sequences, stored pickled). Anything else (floats,
//! strings, structured dtypes) is refused with the dtype named.
//!
//! Floats (`float16/32/64`, [`FloatDtype`]) are read only by the numeric readers
//! (`npy::parse_npy_numeric`, `Npz::open_numeric`): the token-id datasets keep refusing
//! them, since a float where ids belong is a wrong file, not data to round.

/// Byte order of a multi-byte element.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ByteOrder {
    Little,
    Big,
}

/// An element type of a numpy array that the readers can decode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dtype {
    Bool,
    /// Signed integer of this many bytes (1, 2, 4 or 8).
    Int(usize, ByteOrder),
    /// Unsigned integer of this many bytes (1, 2, 4 or 8).
    UInt(usize, ByteOrder),
    /// Python objects (pickled).
    Object,
}

impl Dtype {
    /// Parses a numpy type string: an optional byte-order character (`<`, `>`, `|`,
    /// `=`) then a kind and an item size, as in `<i8`, `|b1`, `|O`, or (inside a
    /// pickle, where the byte order comes separately) `i8`, `O8`. `default_order` is
    /// used when the string has no byte order of its own (or `|`/`=`).
    pub fn parse(descr: &str, default_order: ByteOrder) -> Result<Dtype, String> {
        let unsupported = || {
            format!("unsupported dtype '{descr}' (only bool, integer and object arrays are read)")
        };
        let mut chars = descr.chars();
        let (order, rest) = match chars.next() {
            Some('<') => (ByteOrder::Little, chars.as_str()),
            Some('>') => (ByteOrder::Big, chars.as_str()),
            Some('|') | Some('=') => (default_order, chars.as_str()),
            Some(_) => (default_order, descr),
            None => return Err(unsupported()),
        };
        let mut chars = rest.chars();
        let kind = chars.next().ok_or_else(unsupported)?;
        let size_text = chars.as_str();
        let size: Option<usize> = if size_text.is_empty() {
            None
        } else {
            Some(size_text.parse().map_err(|_| unsupported())?)
        };
        match (kind, size) {
            ('b', Some(1)) | ('?', None) | ('?', Some(1)) => Ok(Dtype::Bool),
            ('i', Some(n @ (1 | 2 | 4 | 8))) => Ok(Dtype::Int(n, order)),
            ('u', Some(n @ (1 | 2 | 4 | 8))) => Ok(Dtype::UInt(n, order)),
            // numpy spells the object dtype `O` in .npy headers and `O8`/`O4` in pickles.
            ('O', None | Some(4) | Some(8)) => Ok(Dtype::Object),
            _ => Err(unsupported()),
        }
    }

    /// Bytes per element for the numeric dtypes.
    pub fn item_size(self) -> Option<usize> {
        match self {
            Dtype::Bool => Some(1),
            Dtype::Int(n, _) | Dtype::UInt(n, _) => Some(n),
            Dtype::Object => None,
        }
    }

    /// Decodes `count` elements from `bytes` (which must hold at least
    /// `count * item_size` bytes) into i64.
    pub fn decode(self, bytes: &[u8], count: usize) -> Result<Vec<i64>, String> {
        let size = self
            .item_size()
            .ok_or_else(|| "object data has no raw byte layout".to_string())?;
        let needed = count
            .checked_mul(size)
            .ok_or_else(|| format!("{count} elements of {size} bytes overflow"))?;
        if bytes.len() < needed {
            return Err(format!(
                "array data is truncated: {count} elements need {needed} bytes, found {}",
                bytes.len()
            ));
        }
        let mut out = Vec::with_capacity(count);
        for chunk in bytes[..needed].chunks_exact(size) {
            out.push(self.decode_one(chunk)?);
        }
        Ok(out)
    }

    fn decode_one(self, b: &[u8]) -> Result<i64, String> {
        let mut buf = [0u8; 8];
        let (n, order, signed) = match self {
            Dtype::Bool => {
                return match b[0] {
                    0 => Ok(0),
                    1 => Ok(1),
                    v => Err(format!("invalid bool byte {v}")),
                };
            }
            Dtype::Int(n, o) => (n, o, true),
            Dtype::UInt(n, o) => (n, o, false),
            Dtype::Object => return Err("object data has no raw byte layout".into()),
        };
        // Assemble as a little-endian 8-byte value, sign-extended for signed types.
        match order {
            ByteOrder::Little => buf[..n].copy_from_slice(b),
            ByteOrder::Big => {
                for (dst, src) in buf[..n].iter_mut().zip(b.iter().rev()) {
                    *dst = *src;
                }
            }
        }
        if signed && n < 8 && buf[n - 1] & 0x80 != 0 {
            for byte in &mut buf[n..] {
                *byte = 0xff;
            }
        }
        let raw = u64::from_le_bytes(buf);
        if signed {
            Ok(raw as i64)
        } else {
            i64::try_from(raw).map_err(|_| format!("uint64 value {raw} does not fit in int64"))
        }
    }
}

/// A numpy float dtype: `<f2`, `<f4`, `<f8` and their big-endian forms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FloatDtype {
    pub size: usize,
    pub order: ByteOrder,
}

impl FloatDtype {
    /// `Some` for a float type string, `None` for anything else.
    pub fn parse(descr: &str) -> Option<FloatDtype> {
        let (order, rest) = match descr.as_bytes().first()? {
            b'<' | b'|' | b'=' => (ByteOrder::Little, &descr[1..]),
            b'>' => (ByteOrder::Big, &descr[1..]),
            _ => (ByteOrder::Little, descr),
        };
        let size = match rest {
            "f2" | "e" => 2,
            "f4" | "f" => 4,
            "f8" | "d" => 8,
            _ => return None,
        };
        Some(FloatDtype { size, order })
    }

    /// Decodes `count` elements from `bytes` into f64 (exact for every float width).
    pub fn decode(self, bytes: &[u8], count: usize) -> Result<Vec<f64>, String> {
        let size = self.size;
        let needed = count
            .checked_mul(size)
            .ok_or_else(|| format!("{count} elements of {size} bytes overflow"))?;
        if bytes.len() < needed {
            return Err(format!(
                "array data is truncated: {count} elements need {needed} bytes, found {}",
                bytes.len()
            ));
        }
        Ok(bytes[..needed]
            .chunks_exact(size)
            .map(|c| {
                let mut b = [0u8; 8];
                b[..size].copy_from_slice(c);
                if self.order == ByteOrder::Big {
                    b[..size].reverse();
                }
                match size {
                    2 => f16_to_f64(u16::from_le_bytes([b[0], b[1]])),
                    4 => f64::from(f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
                    _ => f64::from_le_bytes(b),
                }
            })
            .collect())
    }
}

/// IEEE half precision to f64 (numpy's `float16`), subnormals and specials included.
fn f16_to_f64(h: u16) -> f64 {
    let sign = if h & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exp = i32::from((h >> 10) & 0x1f);
    let frac = f64::from(h & 0x3ff);
    sign * match exp {
        0 => frac * 2f64.powi(-24),
        31 if frac == 0.0 => f64::INFINITY,
        31 => f64::NAN,
        e => (1.0 + frac / 1024.0) * 2f64.powi(e - 15),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_numpy_type_strings() {
        let le = ByteOrder::Little;
        assert_eq!(Dtype::parse("<i8", le), Ok(Dtype::Int(8, le)));
        assert_eq!(Dtype::parse(">i4", le), Ok(Dtype::Int(4, ByteOrder::Big)));
        assert_eq!(Dtype::parse("|u1", le), Ok(Dtype::UInt(1, le)));
        assert_eq!(Dtype::parse("|b1", le), Ok(Dtype::Bool));
        assert_eq!(Dtype::parse("|O", le), Ok(Dtype::Object));
        assert_eq!(Dtype::parse("O8", le), Ok(Dtype::Object));
        assert_eq!(
            Dtype::parse("i8", ByteOrder::Big),
            Ok(Dtype::Int(8, ByteOrder::Big))
        );
        for bad in [
            "<f8",
            "<U10",
            "|S3",
            "",
            "<",
            "<i3",
            "<i",
            "x1",
            "<i99999999999999999999",
        ] {
            let err = Dtype::parse(bad, le).unwrap_err();
            assert!(err.contains("unsupported dtype"), "{bad}: {err}");
        }
    }

    #[test]
    fn decodes_each_width_and_order() {
        let le = ByteOrder::Little;
        let be = ByteOrder::Big;
        assert_eq!(
            Dtype::Int(2, le).decode(&[0xfe, 0xff, 1, 0], 2),
            Ok(vec![-2, 1])
        );
        assert_eq!(Dtype::Int(2, be).decode(&[0xff, 0xfe], 1), Ok(vec![-2]));
        assert_eq!(Dtype::UInt(2, le).decode(&[0xfe, 0xff], 1), Ok(vec![65534]));
        assert_eq!(Dtype::Int(4, be).decode(&[0, 0, 1, 0], 1), Ok(vec![256]));
        assert_eq!(
            Dtype::Int(8, le).decode(&(-5i64).to_le_bytes(), 1),
            Ok(vec![-5])
        );
        assert!(
            Dtype::UInt(8, le)
                .decode(&u64::MAX.to_le_bytes(), 1)
                .is_err()
        );
        assert!(Dtype::Bool.decode(&[2], 1).is_err());
        assert!(
            Dtype::Int(8, le)
                .decode(&[0; 7], 1)
                .unwrap_err()
                .contains("truncated")
        );
        assert!(Dtype::Int(8, le).decode(&[], usize::MAX).is_err());
    }

    #[test]
    fn floats_are_their_own_dtype() {
        let f = FloatDtype::parse("<f4").unwrap();
        assert_eq!(f.decode(&1.5f32.to_le_bytes(), 1), Ok(vec![1.5]));
        let be = FloatDtype::parse(">f8").unwrap();
        assert_eq!(be.decode(&(-0.25f64).to_be_bytes(), 1), Ok(vec![-0.25]));
        // float16: 1.0 = 0x3c00, -2.0 = 0xc000, smallest subnormal 0x0001.
        let h = FloatDtype::parse("<f2").unwrap();
        let got = h.decode(&[0x00, 0x3c, 0x00, 0xc0, 0x01, 0x00], 3).unwrap();
        assert_eq!(got, vec![1.0, -2.0, 2f64.powi(-24)]);
        assert!(h.decode(&[0; 3], 2).unwrap_err().contains("truncated"));
        for not_float in ["<i8", "|O", "<c8", "<f16", ""] {
            assert_eq!(FloatDtype::parse(not_float), None, "{not_float}");
        }
    }
}
