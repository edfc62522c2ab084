//! `.npz` archives: a zip of `.npy` members, read like Keras's `npz_utils.load_npz`
//! (every member whose name ends in `.npy`, keyed by the name without it).

use std::collections::BTreeMap;
use std::io::{Cursor, Read};
use std::path::{Path, PathBuf};

use super::npy::{NpyArray, parse_npy};
use crate::{Error, Result};

/// Largest member we inflate. Keras's IMDB file is about 17 MB packed; this bound
/// stops a tiny crafted archive from claiming gigabytes of memory.
const MAX_MEMBER_BYTES: u64 = 4 << 30;

/// The arrays of one `.npz` file, with the file's path for error messages.
#[derive(Debug)]
pub struct Npz {
    path: PathBuf,
    arrays: BTreeMap<String, NpyArray>,
}

impl Npz {
    /// Reads and parses the whole archive at `path`.
    pub fn open(path: &Path) -> Result<Npz> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        Npz::from_bytes(&bytes, path)
    }

    /// Parses an archive held in memory; `path` only names it in errors.
    pub fn from_bytes(bytes: &[u8], path: &Path) -> Result<Npz> {
        let fail = |reason: String| Error::format(path, reason);
        let mut archive = zip::ZipArchive::new(Cursor::new(bytes))
            .map_err(|e| fail(format!("not a readable .npz (zip) archive: {e}")))?;
        let mut arrays = BTreeMap::new();
        for i in 0..archive.len() {
            let mut member = archive
                .by_index(i)
                .map_err(|e| fail(format!("zip member {i}: {e}")))?;
            let name = member
                .name()
                .map_err(|e| fail(format!("zip member {i}: bad name: {e}")))?
                .into_owned();
            let Some(key) = name.strip_suffix(".npy") else {
                continue;
            };
            let mut data = Vec::new();
            (&mut member)
                .take(MAX_MEMBER_BYTES + 1)
                .read_to_end(&mut data)
                .map_err(|e| fail(format!("member `{name}`: {e}")))?;
            if data.len() as u64 > MAX_MEMBER_BYTES {
                return Err(fail(format!("member `{name}` inflates beyond 4 GiB")));
            }
            let array = parse_npy(&data).map_err(|e| fail(format!("member `{name}`: {e}")))?;
            arrays.insert(key.to_owned(), array);
        }
        Ok(Npz {
            path: path.to_owned(),
            arrays,
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
            let present: Vec<&str> = self.arrays.keys().map(String::as_str).collect();
            Error::format(
                &self.path,
                format!(
                    "no array `{key}` in the archive (it holds: {})",
                    present.join(", ")
                ),
            )
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}
