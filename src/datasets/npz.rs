//! `.npz` archives: a zip of `.npy` members, read like Keras's `npz_utils.load_npz`
//! (every member whose name ends in `.npy`, keyed by the name without it).

use std::collections::BTreeMap;
use std::io::{Cursor, Read};
use std::path::{Path, PathBuf};

use super::npy::{NpyArray, parse_npy, parse_npy_numeric};
use crate::{Error, Result};

/// The arrays of one `.npz` file, with the file's path for error messages.
#[derive(Debug)]
pub struct Npz {
    path: PathBuf,
    arrays: BTreeMap<String, NpyArray>,
    /// Every member name of the archive (also those that are not `.npy`), for the
    /// error of a missing array.
    members: Vec<String>,
}

impl Npz {
    /// Reads and parses the whole archive at `path` (bool, integer and object
    /// arrays: the token-id datasets).
    pub fn open(path: &Path) -> Result<Npz> {
        let bytes = crate::io::read_input(path)?;
        Npz::from_bytes(&bytes, path)
    }

    /// [`Npz::open`] that also reads float arrays (numeric data: series, features).
    pub fn open_numeric(path: &Path) -> Result<Npz> {
        let bytes = crate::io::read_input(path)?;
        Npz::from_bytes_with(&bytes, path, parse_npy_numeric)
    }

    /// Parses an archive held in memory; `path` only names it in errors.
    pub fn from_bytes(bytes: &[u8], path: &Path) -> Result<Npz> {
        Npz::from_bytes_with(bytes, path, parse_npy)
    }

    fn from_bytes_with(
        bytes: &[u8],
        path: &Path,
        parse: fn(&[u8]) -> std::result::Result<NpyArray, String>,
    ) -> Result<Npz> {
        let fail = |reason: String| Error::format(path, reason);
        let mut archive = zip::ZipArchive::new(Cursor::new(bytes))
            .map_err(|e| fail(format!("not a readable .npz (zip) archive: {e}")))?;
        let mut arrays = BTreeMap::new();
        let mut members = Vec::new();
        for i in 0..archive.len() {
            let mut member = archive
                .by_index(i)
                .map_err(|e| fail(format!("zip member {i}: {e}")))?;
            let name = member
                .name()
                .map_err(|e| fail(format!("zip member {i}: bad name: {e}")))?
                .into_owned();
            let Some(key) = name.strip_suffix(".npy").map(str::to_owned) else {
                members.push(name);
                continue;
            };
            members.push(name.clone());
            // The zip directory's size is checked before reading, then the read is
            // limited to it, since a forged archive can declare less than it inflates.
            let declared = member.size();
            crate::budget::check_bytes(&format!("member `{name}`"), u128::from(declared))
                .map_err(|e| Error::format(path, e))?;
            let data = read_member(&mut member, declared)
                .map_err(|e| fail(format!("member `{name}`: {e}")))?;
            let array = parse(&data).map_err(|e| fail(format!("member `{name}`: {e}")))?;
            arrays.insert(key, array);
        }
        Ok(Npz {
            path: path.to_owned(),
            arrays,
            members,
        })
    }

    /// Names of the arrays, sorted.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.arrays.keys().map(String::as_str)
    }

    pub fn get(&self, key: &str) -> Option<&NpyArray> {
        self.arrays.get(key)
    }

    /// Removes and returns the array `key`; a missing key is an error naming the
    /// file, the key and the keys present.
    pub fn take(&mut self, key: &str) -> Result<NpyArray> {
        self.arrays.remove(key).ok_or_else(|| {
            let held = if self.members.is_empty() {
                "it holds no members".to_string()
            } else {
                format!("it holds: {}", self.members.join(", "))
            };
            Error::format(
                &self.path,
                format!("no array `{key}` in the archive ({held}; arrays are the `.npy` members)"),
            )
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Reads one member whose zip directory declares `declared` bytes. The `.npy` header
/// is read first and the array it announces is checked against the byte budget
/// (widened to 64-bit integers, as the readers hold them) before the rest is read;
/// the whole read stops at the declared size plus one byte, so a member that inflates
/// beyond what it declared is refused without being held.
fn read_member(member: &mut impl Read, declared: u64) -> std::result::Result<Vec<u8>, String> {
    let mut limited = member.take(declared.saturating_add(1));
    // The header: magic, version, length, dict literal (at most 64 KB in version 1;
    // versions 2/3 allow 4 GB, which the declared-size check already bounded).
    let mut head = vec![0u8; 12];
    let got = read_up_to(&mut limited, &mut head)?;
    head.truncate(got);
    if let Some(header_len) = super::npy::header_len(&head) {
        // A real header is a few hundred bytes; a longer one is read with the data.
        let mut rest = vec![0u8; header_len.min(1 << 20)];
        let got = read_up_to(&mut limited, &mut rest)?;
        rest.truncate(got);
        head.extend_from_slice(&rest);
        if let Some(bytes) = super::npy::declared_memory(&head) {
            let what = "the array its .npy header declares (as 64-bit integers)";
            crate::budget::check_bytes(what, bytes)?;
        }
    }
    let mut data = head;
    data.reserve(
        usize::try_from(declared)
            .unwrap_or(0)
            .min(1 << 30)
            .saturating_sub(data.len()),
    );
    limited.read_to_end(&mut data).map_err(|e| e.to_string())?;
    if data.len() as u64 > declared {
        return Err(format!(
            "inflates beyond the {declared} bytes its zip entry declares (a forged archive)"
        ));
    }
    Ok(data)
}

/// Fills `buf` as far as the reader allows; returns how much was read.
fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> std::result::Result<usize, String> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.to_string()),
        }
    }
    Ok(n)
}
