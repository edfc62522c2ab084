//! Reading input files whole, after checking what they are. Model and data files must
//! be regular files within the byte ceiling, refused before any of it is read: `open` on
//! a FIFO blocks until a writer comes, and a device such as `/dev/zero` never ends (its
//! read grows until memory runs out); `recurrent predict /dev/zero` and a FIFO as the
//! model path both hung until killed. Text that may come from a pipe (a config or
//! `predict --file` given as `<(...)`) is read from a stream too, up to a cap.

use std::io::Read;
use std::path::Path;

use crate::error::{Error, Result};

/// The size of `path` when it is a regular file (links followed) within the byte
/// ceiling, else an error naming it. Readers that stream a file call it before `open`.
pub fn check_input_file(path: &Path) -> Result<u64> {
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    if !meta.is_file() {
        let what = if meta.is_dir() {
            "is a directory, not a file"
        } else {
            "is not a regular file (a device, FIFO or socket)"
        };
        let e = std::io::Error::new(std::io::ErrorKind::InvalidInput, what);
        return Err(Error::io(path, e));
    }
    crate::budget::check_bytes("this file", u128::from(meta.len())).map_err(|reason| {
        Error::io(
            path,
            std::io::Error::new(std::io::ErrorKind::InvalidInput, reason),
        )
    })?;
    Ok(meta.len())
}

/// The bytes of the regular file `path` (see `check_input_file`). What is read stops at
/// the size checked, should the file grow meanwhile.
pub fn read_input(path: &Path) -> Result<Vec<u8>> {
    let len = check_input_file(path)?;
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut out = Vec::with_capacity(len as usize);
    file.take(len)
        .read_to_end(&mut out)
        .map_err(|e| Error::io(path, e))?;
    Ok(out)
}

/// `read_input` as UTF-8 text.
pub fn read_input_to_string(path: &Path) -> Result<String> {
    utf8(path, read_input(path)?)
}

/// UTF-8 text from `path`: a regular file as `read_input_to_string`, or a pipe, FIFO or
/// device read to its end but refused past `stream_cap` bytes (so `/dev/zero` ends in
/// an error, not in exhausted memory).
pub fn read_text_input(path: &Path, stream_cap: u64) -> Result<String> {
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    if meta.is_file() || meta.is_dir() {
        return read_input_to_string(path);
    }
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut out = Vec::new();
    file.take(stream_cap + 1)
        .read_to_end(&mut out)
        .map_err(|e| Error::io(path, e))?;
    if out.len() as u64 > stream_cap {
        let reason = format!("is a stream longer than {stream_cap} bytes; give a file");
        let e = std::io::Error::new(std::io::ErrorKind::InvalidInput, reason);
        return Err(Error::io(path, e));
    }
    utf8(path, out)
}

fn utf8(path: &Path, bytes: Vec<u8>) -> Result<String> {
    String::from_utf8(bytes).map_err(|_| {
        let e = std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "stream did not contain valid UTF-8",
        );
        Error::io(path, e)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regular_files_are_read_and_others_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("a.txt");
        std::fs::write(&f, "héllo").unwrap();
        assert_eq!(read_input_to_string(&f).unwrap(), "héllo");
        let err = read_input(dir.path()).unwrap_err().to_string();
        assert!(err.contains("is a directory, not a file"), "{err}");
        let err = read_input(Path::new("/dev/zero")).unwrap_err().to_string();
        assert!(err.contains("/dev/zero: is not a regular file"), "{err}");
        #[cfg(unix)]
        {
            let fifo = dir.path().join("fifo");
            let made = std::process::Command::new("mkfifo").arg(&fifo).status();
            if made.is_ok_and(|s| s.success()) {
                let err = read_input(&fifo).unwrap_err().to_string();
                assert!(err.contains("is not a regular file"), "{err}");
            }
        }
        std::fs::write(&f, [0xff, 0xfe]).unwrap();
        let err = read_input_to_string(&f).unwrap_err().to_string();
        assert!(err.contains("valid UTF-8"), "{err}");
        let err = read_input(&dir.path().join("missing"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("missing"), "{err}");
    }

    #[cfg(unix)]
    #[test]
    fn text_may_come_from_a_stream_up_to_a_cap() {
        let err = read_text_input(Path::new("/dev/zero"), 1000)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("/dev/zero: is a stream longer than 1000 bytes"),
            "{err}"
        );
        // A pipe (as `<(...)` gives) is read to its end.
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        if made.is_ok_and(|s| s.success()) {
            let writer = {
                let fifo = fifo.clone();
                std::thread::spawn(move || std::fs::write(fifo, "a = 1\n").unwrap())
            };
            assert_eq!(read_text_input(&fifo, 1000).unwrap(), "a = 1\n");
            writer.join().unwrap();
        }
        let f = dir.path().join("plain.txt");
        std::fs::write(&f, "x".repeat(5000)).unwrap();
        // The cap is for streams; a regular file is held to the byte ceiling.
        assert_eq!(read_text_input(&f, 1000).unwrap().len(), 5000);
    }
}
