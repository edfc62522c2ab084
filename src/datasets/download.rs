//! Finding a dataset file the way Keras's `get_file` does: in the Keras cache
//! (`$KERAS_HOME/datasets`, else `~/.keras/datasets`), verified against its known
//! hash, else downloaded from Keras's public storage with a progress bar, verified,
//! and moved into place atomically. A failed or corrupted download leaves nothing
//! behind (no file, no temporary file).

use std::ffi::OsString;
use std::fs::File;
use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use md5::Md5;
use sha2::{Digest, Sha256};

use crate::{Error, Result};

/// Where Keras's own loaders download the dataset files from.
pub const KERAS_DATASETS_ORIGIN: &str =
    "https://storage.googleapis.com/tensorflow/tf-keras-datasets/";

/// Where a dataset file comes from. `Default` is Keras's behaviour: the Keras cache,
/// then Keras's public storage.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FileOptions {
    /// Read exactly this file: no cache lookup, no download, no hash check (for
    /// copies kept elsewhere and for synthetic files).
    pub path: Option<PathBuf>,
    /// Cache root as in Keras's `get_file(cache_dir=...)`: files live in
    /// `<cache_dir>/datasets/`. Default: `$KERAS_HOME`, else `~/.keras`.
    pub cache_dir: Option<PathBuf>,
    /// Folder URL the file name is appended to. Default: [`KERAS_DATASETS_ORIGIN`].
    pub base_url: Option<String>,
}

/// The Keras cache root: `$KERAS_HOME` if set, else `~/.keras` (Keras's
/// `config.keras_home()`).
pub fn keras_home() -> PathBuf {
    keras_home_from(std::env::var_os("KERAS_HOME"), std::env::var_os("HOME"))
}

/// [`keras_home`] from the values of `KERAS_HOME` and `HOME`.
fn keras_home_from(keras_home: Option<OsString>, home: Option<OsString>) -> PathBuf {
    if let Some(dir) = keras_home {
        return PathBuf::from(dir);
    }
    match home {
        Some(home) if !home.is_empty() => PathBuf::from(home).join(".keras"),
        _ => PathBuf::from("/tmp/.keras"),
    }
}

/// Resolves a dataset file per `opts` (see [`FileOptions`]): the explicit `path`,
/// else [`get_file`] with the Keras cache and origin.
pub fn locate(fname: &str, file_hash: Option<&str>, opts: &FileOptions) -> Result<PathBuf> {
    if let Some(path) = &opts.path {
        return if path.is_file() {
            Ok(path.clone())
        } else {
            Err(Error::io(
                path,
                std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    format!("{fname} was asked for at this explicit path, and no file is there"),
                ),
            ))
        };
    }
    let base = opts.base_url.as_deref().unwrap_or(KERAS_DATASETS_ORIGIN);
    let origin = if base.ends_with('/') {
        format!("{base}{fname}")
    } else {
        format!("{base}/{fname}")
    };
    get_file(fname, &origin, file_hash, opts.cache_dir.as_deref())
}

/// Keras's `keras.utils.get_file(fname, origin, file_hash, cache_dir)`: returns the
/// path of `<cache_dir>/datasets/<fname>`, downloading it from `origin` first if it
/// is missing or does not match `file_hash` (SHA-256 if 64 hex digits, else MD5, as
/// Keras's `hash_algorithm="auto"`). Like Keras, a cache root that cannot be written
/// falls back to `/tmp/.keras`.
pub fn get_file(
    fname: &str,
    origin: &str,
    file_hash: Option<&str>,
    cache_dir: Option<&Path>,
) -> Result<PathBuf> {
    if fname.is_empty() || fname.contains('/') || fname.contains(std::path::MAIN_SEPARATOR) {
        return Err(Error::invalid_argument(
            "get_file",
            "fname",
            format!("{fname:?} must be a plain file name; use cache_dir for the folder"),
        ));
    }
    let base = cache_dir.map(Path::to_path_buf).unwrap_or_else(keras_home);
    let primary = base.join("datasets");
    let primary_ok = std::fs::create_dir_all(&primary).is_ok() && writable(&primary);
    // Like Keras, an unwritable cache root falls back to /tmp/.keras; a good copy
    // already in the read-only root is still used.
    let mut datadirs = vec![primary];
    let fallback = PathBuf::from("/tmp/.keras/datasets");
    if !primary_ok && datadirs[0] != fallback {
        datadirs.push(fallback);
    }
    let candidates: Vec<PathBuf> = datadirs.iter().map(|d| d.join(fname)).collect();
    let mut stale = Vec::new();
    for path in &candidates {
        if path.is_file() {
            match file_hash {
                None => return Ok(path.clone()),
                Some(expected) => {
                    if hash_file(path, expected)? == expected.to_ascii_lowercase() {
                        return Ok(path.clone());
                    }
                    stale.push(path.clone());
                }
            }
        }
    }

    let target_dir = if primary_ok {
        Some(datadirs[0].clone())
    } else {
        datadirs[1..]
            .iter()
            .find(|d| std::fs::create_dir_all(d).is_ok() && writable(d))
            .cloned()
    };
    let result = match &target_dir {
        Some(dir) => download(origin, dir, &dir.join(fname), file_hash),
        None => Err("no cache folder could be created or written".to_string()),
    };
    match result {
        Ok(path) => Ok(path),
        Err(reason) => {
            let looked: Vec<String> = candidates.iter().map(|p| p.display().to_string()).collect();
            let mut msg = format!(
                "{fname} is not in the Keras cache (looked for {})",
                looked.join(", ")
            );
            if !stale.is_empty() {
                let stale: Vec<String> = stale.iter().map(|p| p.display().to_string()).collect();
                msg.push_str(&format!(
                    "; the copy at {} does not match the expected hash",
                    stale.join(", ")
                ));
            }
            msg.push_str(&format!(
                " and the download failed: {reason}. Put the file at {} (from {origin}), \
                 set KERAS_HOME to a folder whose datasets/ holds it, or pass its path explicitly",
                candidates[0].display()
            ));
            Err(Error::Download {
                url: origin.to_string(),
                reason: msg,
            })
        }
    }
}

/// Whether a file can be created in `dir` (Keras checks `os.access(dir, W_OK)`).
fn writable(dir: &Path) -> bool {
    tempfile::Builder::new()
        .prefix(".write-test")
        .tempfile_in(dir)
        .is_ok()
}

/// A running SHA-256 or MD5, chosen from the expected digest's length like Keras.
enum Hasher {
    Sha256(Sha256),
    Md5(Md5),
}

impl Hasher {
    fn for_hash(expected: &str) -> Hasher {
        if expected.len() == 64 {
            Hasher::Sha256(Sha256::new())
        } else {
            Hasher::Md5(Md5::new())
        }
    }

    fn update(&mut self, data: &[u8]) {
        match self {
            Hasher::Sha256(h) => h.update(data),
            Hasher::Md5(h) => h.update(data),
        }
    }

    fn hex(self) -> String {
        let bytes: Vec<u8> = match self {
            Hasher::Sha256(h) => h.finalize().to_vec(),
            Hasher::Md5(h) => h.finalize().to_vec(),
        };
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// Hex digest of a file with the algorithm `expected` implies.
pub fn hash_file(path: &Path, expected: &str) -> Result<String> {
    let mut hasher = Hasher::for_hash(expected);
    let mut file = File::open(path).map_err(|e| Error::io(path, e))?;
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buf).map_err(|e| Error::io(path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher.hex())
}

/// Downloads `url` into a temporary file in `dir`, checks its length and hash, then
/// renames it to `target`. On any failure the temporary file is removed.
fn download(
    url: &str,
    dir: &Path,
    target: &Path,
    file_hash: Option<&str>,
) -> Result<PathBuf, String> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_connect(Some(Duration::from_secs(30)))
        .timeout_recv_response(Some(Duration::from_secs(60)))
        .http_status_as_error(false)
        .build()
        .into();
    let mut response = agent.get(url).call().map_err(|e| e.to_string())?;
    let status = response.status();
    if !status.is_success() {
        return Err(format!("the server answered HTTP {status}"));
    }
    let total = response.body().content_length();
    let fname = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{fname}."))
        .suffix(".part")
        .tempfile_in(dir)
        .map_err(|e| format!("cannot create a temporary file in {}: {e}", dir.display()))?;

    let progress = if std::io::stderr().is_terminal() {
        eprintln!("Downloading data from {url}");
        let bar = match total {
            Some(n) => indicatif::ProgressBar::new(n),
            None => indicatif::ProgressBar::no_length(),
        };
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{bar:30} {bytes}/{total_bytes} ({bytes_per_sec}, {eta})",
        ) {
            bar.set_style(style);
        }
        bar
    } else {
        indicatif::ProgressBar::hidden()
    };

    let mut hasher = file_hash.map(Hasher::for_hash);
    let mut reader = response.body_mut().as_reader();
    let mut buf = vec![0u8; 1 << 16];
    let mut received: u64 = 0;
    loop {
        let n = reader
            .read(&mut buf)
            .map_err(|e| format!("connection failed after {received} bytes: {e}"))?;
        if n == 0 {
            break;
        }
        tmp.write_all(&buf[..n])
            .map_err(|e| format!("cannot write {}: {e}", tmp.path().display()))?;
        if let Some(h) = &mut hasher {
            h.update(&buf[..n]);
        }
        received += n as u64;
        progress.set_position(received);
    }
    progress.finish_and_clear();
    if let Some(expected) = total.filter(|&n| n != received) {
        return Err(format!(
            "connection closed after {received} of {expected} bytes"
        ));
    }
    if let (Some(h), Some(expected)) = (hasher, file_hash) {
        let got = h.hex();
        if got != expected.to_ascii_lowercase() {
            return Err(format!(
                "incomplete or corrupted download: its hash is {got}, expected {expected}"
            ));
        }
    }
    tmp.as_file()
        .sync_all()
        .map_err(|e| format!("cannot flush {}: {e}", tmp.path().display()))?;
    // The rename replaces whatever has the name: never a directory, device or FIFO (a
    // link is replaced by the file, which leaves what it pointed to alone).
    if let Ok(m) = std::fs::symlink_metadata(target)
        && !m.is_file()
        && !m.file_type().is_symlink()
    {
        return Err(format!(
            "{} exists and is not a regular file; move it away and retry",
            target.display()
        ));
    }
    tmp.persist(target).map_err(|e| {
        format!(
            "cannot move the download to {}: {}",
            target.display(),
            e.error
        )
    })?;
    Ok(target.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keras_home_prefers_the_environment() {
        assert_eq!(
            keras_home_from(Some("/data/kh".into()), Some("/root".into())),
            PathBuf::from("/data/kh")
        );
        assert_eq!(
            keras_home_from(None, Some("/home/u".into())),
            PathBuf::from("/home/u/.keras")
        );
        assert_eq!(keras_home_from(None, None), PathBuf::from("/tmp/.keras"));
    }

    #[test]
    fn hash_algorithm_follows_the_digest_length() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, b"abc").unwrap();
        let sha = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        assert_eq!(hash_file(&p, sha).unwrap(), sha);
        assert_eq!(
            hash_file(&p, "900150983cd24fb0d6963f7d28e17f72").unwrap(),
            "900150983cd24fb0d6963f7d28e17f72"
        );
    }
}
