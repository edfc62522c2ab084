//! Atomic file writes: the content goes to a temporary file in the destination's
//! directory, is flushed to disk, then renamed over the destination. A crash or kill
//! at any point leaves either the old file or the new one, never a half-written file.
//!
//! A process killed mid-write (kill -9, power loss) leaves its temporary file behind;
//! ten killed saves of a 400 KB model left 3.9 MB. Temporary names carry the writer's
//! process id (`.recurrent-tmp-<pid>-<random>`), and every save removes the stale
//! ones in its folder: those whose process is gone, or older than an hour (no write
//! takes that long). Names without a process id (written before the id was added) are
//! removed once older than ten minutes. A concurrent save by a live process is never
//! touched.
//!
//! The rename replaces whatever has the destination's name, so the destination is
//! checked first (`destination`): a symbolic link is followed (the file the user sees is
//! replaced, not the link), and anything else that is not a regular file is refused. A
//! save to `/dev/full` by root once renamed a model over the device node.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Write `bytes` to `path` atomically, creating the parent directory if needed.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic_with(path, |w| w.write_all(bytes))
}

/// Write to `path` atomically through a writer filled by `fill`.
pub fn write_atomic_with<F>(path: &Path, fill: F) -> Result<()>
where
    F: FnOnce(&mut dyn Write) -> std::io::Result<()>,
{
    let (path, dir) = prepare_destination(path)?;
    let path = path.as_path();
    // Same directory as the destination, so the rename never crosses filesystems.
    let mut tmp = temp_builder()
        .tempfile_in(&dir)
        .map_err(|e| Error::io(path, e))?;
    {
        let mut buffered = std::io::BufWriter::new(tmp.as_file_mut());
        fill(&mut buffered).map_err(|e| Error::io(path, e))?;
        buffered.flush().map_err(|e| Error::io(path, e))?;
    }
    // Data must be on disk before the rename makes it visible under the final name.
    tmp.as_file().sync_all().map_err(|e| Error::io(path, e))?;
    tmp.persist(path).map_err(|e| Error::io(path, e.error))?;
    // Best effort: make the rename itself durable. Not all platforms allow opening a
    // directory for sync, so a failure here is not an error.
    if let Ok(d) = std::fs::File::open(&dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// The file a write to `path` replaces, and its folder (created if missing, stale
/// temporary files removed); see `destination`.
pub(crate) fn prepare_destination(path: &Path) -> Result<(PathBuf, PathBuf)> {
    let target = destination(path)?;
    let dir = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    clean_stale_temps(&dir);
    Ok((target, dir))
}

/// The file an atomic write to `path` replaces: `path` itself, or the file a symbolic
/// link there points to. A directory, device, FIFO or socket under that name, or a link
/// to nothing, is refused: renaming over it would destroy it (or the link). Callers
/// that check their outputs before long work (the command line's `train`) use it too.
pub fn destination(path: &Path) -> Result<PathBuf> {
    let refuse = |what: &str| {
        let reason = format!("{what}; refusing to replace it with a regular file");
        Error::io(
            path,
            std::io::Error::new(std::io::ErrorKind::InvalidInput, reason),
        )
    };
    let target = match std::fs::symlink_metadata(path) {
        Err(_) => path.to_path_buf(),
        Ok(m) if m.file_type().is_symlink() => match std::fs::canonicalize(path) {
            Ok(real) => real,
            Err(_) => return Err(refuse("is a symbolic link to a missing file")),
        },
        Ok(_) => path.to_path_buf(),
    };
    if let Ok(m) = std::fs::metadata(&target)
        && !m.is_file()
    {
        return Err(refuse(if m.is_dir() {
            "is a directory"
        } else {
            "is not a regular file (a device, FIFO or socket)"
        }));
    }
    Ok(target)
}

const TEMP_PREFIX: &str = ".recurrent-tmp-";

/// Temporary files for atomic writes: hidden name with the writer's process id (see
/// the module docs), and the mode a plain `File::create` would give (0666 minus the
/// umask) rather than tempfile's private 0600, so the final file is as readable as any
/// other output.
pub(crate) fn temp_builder() -> tempfile::Builder<'static, 'static> {
    let mut b = tempfile::Builder::new();
    b.prefix(&*TEMP_NAME_PREFIX);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        b.permissions(std::fs::Permissions::from_mode(0o666));
    }
    b
}

static TEMP_NAME_PREFIX: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| format!("{TEMP_PREFIX}{}-", std::process::id()));

/// Whether process `pid` is running. Where that cannot be asked (no `/proc`), it is
/// assumed to be, and only age makes a temporary file stale.
fn process_alive(pid: u32) -> bool {
    let proc = Path::new("/proc");
    if !proc.join("self").exists() {
        return true;
    }
    proc.join(pid.to_string()).exists()
}

/// Whether the temporary file `name`, last modified `age` ago, was left by a writer
/// that is gone (see the module docs).
fn is_stale(name: &str, age: std::time::Duration) -> bool {
    const HOUR: std::time::Duration = std::time::Duration::from_secs(3600);
    const LEGACY: std::time::Duration = std::time::Duration::from_secs(600);
    let Some(rest) = name.strip_prefix(TEMP_PREFIX) else {
        return false;
    };
    let pid = rest
        .split_once('-')
        .and_then(|(p, _)| p.parse::<u32>().ok());
    match pid {
        Some(pid) if pid == std::process::id() => false,
        Some(pid) => !process_alive(pid) || age > HOUR,
        None => age > LEGACY,
    }
}

/// Removes stale temporary files (see the module docs) from `dir`. Best effort: a
/// folder that cannot be listed, or a file that another process removes first, is
/// not an error for the save that triggered the cleanup.
pub(crate) fn clean_stale_temps(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let now = std::time::SystemTime::now();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if !name.starts_with(TEMP_PREFIX) {
            continue;
        }
        let Ok(meta) = entry.metadata() else { continue };
        if !meta.is_file() {
            continue;
        }
        let age = meta
            .modified()
            .ok()
            .and_then(|m| now.duration_since(m).ok())
            .unwrap_or_default();
        if is_stale(name, age) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_content_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sub").join("a.txt");
        write_atomic(&p, b"first").unwrap();
        write_atomic(&p, b"second").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"second");
        let names: Vec<_> = std::fs::read_dir(p.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("a.txt")]);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            // Same mode as a plainly created file (0666 minus the umask).
            let plain = dir.path().join("plain");
            std::fs::File::create(&plain).unwrap();
            let mode = |q: &Path| std::fs::metadata(q).unwrap().permissions().mode();
            assert_eq!(mode(&p), mode(&plain));
        }
    }

    #[cfg(unix)]
    #[test]
    fn links_are_followed_and_special_files_refused() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real.bin");
        std::fs::write(&real, b"old").unwrap();
        let link = dir.path().join("link.bin");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        write_atomic(&link, b"new").unwrap();
        // The link is still a link, and the file it points to has the new content.
        assert!(
            std::fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(std::fs::read(&real).unwrap(), b"new");

        let dangling = dir.path().join("dangling.bin");
        std::os::unix::fs::symlink(dir.path().join("missing"), &dangling).unwrap();
        let err = write_atomic(&dangling, b"x").unwrap_err().to_string();
        assert!(err.contains("symbolic link to a missing file"), "{err}");

        let sub = dir.path().join("sub");
        std::fs::create_dir(&sub).unwrap();
        let err = write_atomic(&sub, b"x").unwrap_err().to_string();
        assert!(
            err.contains("is a directory; refusing to replace it"),
            "{err}"
        );

        // A FIFO stands in for a device such as /dev/full (which a test run as root
        // must not risk): it stays what it is.
        let fifo = dir.path().join("fifo");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        if made.is_ok_and(|s| s.success()) {
            let err = write_atomic(&fifo, b"x").unwrap_err().to_string();
            assert!(err.contains("not a regular file"), "{err}");
            use std::os::unix::fs::FileTypeExt;
            assert!(
                std::fs::symlink_metadata(&fifo)
                    .unwrap()
                    .file_type()
                    .is_fifo()
            );
        }
        // Nothing was left behind.
        let mut names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert!(
            names.iter().all(|n| !n.starts_with(TEMP_PREFIX)),
            "{names:?}"
        );
    }

    #[test]
    fn failed_write_keeps_previous_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.txt");
        write_atomic(&p, b"good").unwrap();
        let err = write_atomic_with(&p, |w| {
            w.write_all(b"partial")?;
            Err(std::io::Error::other("simulated crash"))
        })
        .unwrap_err();
        assert!(err.to_string().contains("simulated crash"), "{err}");
        assert_eq!(std::fs::read(&p).unwrap(), b"good");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn stale_temporary_files_are_removed_on_the_next_save() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        // A writer that is gone (pid beyond any Linux pid_max), a live one (this
        // process's parent), a legacy name just written, and an unrelated file.
        let dead = d.join(".recurrent-tmp-4294967295-abc123");
        let live = d.join(format!(
            ".recurrent-tmp-{}-def456",
            std::os::unix::process::parent_id()
        ));
        let legacy = d.join(".recurrent-tmp-XyZ123");
        let other = d.join("notes.txt");
        for p in [&dead, &live, &legacy, &other] {
            std::fs::write(p, b"partial").unwrap();
        }
        write_atomic(&d.join("model.safetensors"), b"new").unwrap();
        assert!(!dead.exists(), "the dead writer's file is removed");
        assert!(live.exists() && legacy.exists() && other.exists());
        // Age decides for legacy names and for long-dead ids.
        let min = std::time::Duration::from_secs(60);
        assert!(!is_stale(".recurrent-tmp-XyZ123", min));
        assert!(is_stale(".recurrent-tmp-XyZ123", 11 * min));
        assert!(is_stale(".recurrent-tmp-1-abc", 61 * min));
        assert!(!is_stale(
            &format!(".recurrent-tmp-{}-abc", std::process::id()),
            999 * min
        ));
        assert!(!is_stale("model.safetensors", 999 * min));
    }
}
