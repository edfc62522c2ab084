//! `get_file` and the loaders' download path against a local HTTP server started by
//! each test (a std TcpListener thread on 127.0.0.1): success, cache hits, hash
//! mismatch, a connection cut mid-body, 404, and no server at all. A failure must
//! leave nothing behind in the cache folder (no file, no temporary file).
#![cfg(feature = "download")]

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::thread;

use recurrent::datasets::{ImdbOptions, get_file, imdb};
use sha2::{Digest, Sha256};

/// Serves `body` for any path: `/ok/..` whole, `/corrupt/..` with one byte changed,
/// `/cut/..` announcing the full length but closing halfway, anything else 404.
/// Handles at most `max_requests` connections, then the thread ends.
fn serve(body: Vec<u8>, max_requests: usize) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    thread::spawn(move || {
        for stream in listener.incoming().take(max_requests) {
            let Ok(stream) = stream else { continue };
            let _ = answer(stream, &body);
        }
    });
    format!("http://{addr}")
}

fn answer(mut stream: TcpStream, body: &[u8]) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" {
            break;
        }
    }
    let path = request_line
        .split_whitespace()
        .nth(1)
        .unwrap_or("/")
        .to_string();
    let head = |status: &str, len: usize| {
        format!("HTTP/1.1 {status}\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n")
    };
    if path.starts_with("/ok/") {
        stream.write_all(head("200 OK", body.len()).as_bytes())?;
        stream.write_all(body)?;
    } else if path.starts_with("/corrupt/") {
        let mut bad = body.to_vec();
        bad[body.len() / 2] ^= 0xff;
        stream.write_all(head("200 OK", bad.len()).as_bytes())?;
        stream.write_all(&bad)?;
    } else if path.starts_with("/cut/") {
        stream.write_all(head("200 OK", body.len()).as_bytes())?;
        stream.write_all(&body[..body.len() / 2])?;
        stream.flush()?;
        stream.shutdown(std::net::Shutdown::Both)?;
    } else {
        let msg = b"not found";
        stream.write_all(head("404 Not Found", msg.len()).as_bytes())?;
        stream.write_all(msg)?;
    }
    stream.flush()
}

/// A base URL where nothing listens (the port was bound, then released).
fn dead_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}")
}

fn sha256_hex(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn body() -> Vec<u8> {
    (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect()
}

/// Every entry (hidden temporaries included) under `dir`.
fn entries(dir: &Path) -> Vec<PathBuf> {
    match std::fs::read_dir(dir) {
        Ok(rd) => rd.map(|e| e.unwrap().path()).collect(),
        Err(_) => Vec::new(),
    }
}

#[test]
fn download_verifies_and_caches() {
    let tmp = tempfile::tempdir().unwrap();
    let data = body();
    let hash = sha256_hex(&data);
    let base = serve(data.clone(), 1);
    let got = get_file(
        "data.bin",
        &format!("{base}/ok/data.bin"),
        Some(&hash),
        Some(tmp.path()),
    )
    .unwrap();
    assert_eq!(got, tmp.path().join("datasets/data.bin"));
    assert_eq!(std::fs::read(&got).unwrap(), data);
    assert_eq!(entries(&tmp.path().join("datasets")), vec![got.clone()]);
    // Now cached: no server needed.
    let again = get_file(
        "data.bin",
        &format!("{}/ok/data.bin", dead_url()),
        Some(&hash),
        Some(tmp.path()),
    )
    .unwrap();
    assert_eq!(again, got);
}

#[test]
fn md5_hashes_are_checked_like_keras() {
    let tmp = tempfile::tempdir().unwrap();
    let data = b"{\"the\": 1}".to_vec();
    let md5 = "a7b81b9d0c2b4fca8ac5e5bbbd2b1b84"; // deliberately wrong
    let base = serve(data.clone(), 1);
    let err = get_file(
        "w.json",
        &format!("{base}/ok/w.json"),
        Some(md5),
        Some(tmp.path()),
    )
    .unwrap_err();
    assert!(err.to_string().contains("expected a7b81b9d"), "{err}");
    assert!(entries(&tmp.path().join("datasets")).is_empty());
    let right: String = {
        use md5::{Digest as _, Md5};
        Md5::digest(&data)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    };
    let base = serve(data.clone(), 1);
    let got = get_file(
        "w.json",
        &format!("{base}/ok/w.json"),
        Some(&right),
        Some(tmp.path()),
    )
    .unwrap();
    assert_eq!(std::fs::read(got).unwrap(), data);
}

#[test]
fn corrupted_download_leaves_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let data = body();
    let base = serve(data.clone(), 1);
    let err = get_file(
        "data.bin",
        &format!("{base}/corrupt/data.bin"),
        Some(&sha256_hex(&data)),
        Some(tmp.path()),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("corrupted download"), "{err}");
    assert!(err.contains("data.bin"), "{err}");
    assert!(
        entries(&tmp.path().join("datasets")).is_empty(),
        "{:?}",
        entries(&tmp.path().join("datasets"))
    );
}

#[test]
fn interrupted_download_leaves_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let data = body();
    let base = serve(data.clone(), 1);
    // Without a hash too: the short body alone must be caught.
    let err = get_file(
        "data.bin",
        &format!("{base}/cut/data.bin"),
        None,
        Some(tmp.path()),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("download failed"), "{err}");
    assert!(
        entries(&tmp.path().join("datasets")).is_empty(),
        "{:?}",
        entries(&tmp.path().join("datasets"))
    );
}

#[test]
fn not_found_says_where_to_put_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let base = serve(body(), 1);
    let err = get_file(
        "data.bin",
        &format!("{base}/nope/data.bin"),
        None,
        Some(tmp.path()),
    )
    .unwrap_err()
    .to_string();
    let target = tmp.path().join("datasets/data.bin");
    assert!(err.contains("404"), "{err}");
    assert!(
        err.contains(&format!("looked for {}", target.display())),
        "{err}"
    );
    assert!(
        err.contains(&format!("Put the file at {}", target.display())),
        "{err}"
    );
    assert!(entries(&tmp.path().join("datasets")).is_empty());
}

#[test]
fn stale_cached_file_is_downloaded_again() {
    let tmp = tempfile::tempdir().unwrap();
    let data = body();
    let dir = tmp.path().join("datasets");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("data.bin"), b"old and wrong").unwrap();
    let base = serve(data.clone(), 1);
    let got = get_file(
        "data.bin",
        &format!("{base}/ok/data.bin"),
        Some(&sha256_hex(&data)),
        Some(tmp.path()),
    )
    .unwrap();
    assert_eq!(std::fs::read(got).unwrap(), data);
    assert_eq!(entries(&dir).len(), 1);
}

#[test]
fn imdb_without_network_names_the_missing_file() {
    let tmp = tempfile::tempdir().unwrap();
    let opts = ImdbOptions {
        cache_dir: Some(tmp.path().to_path_buf()),
        base_url: Some(dead_url()),
        ..ImdbOptions::default()
    };
    let err = imdb::load_data(&opts).unwrap_err().to_string();
    let target = tmp.path().join("datasets/imdb.npz");
    assert!(err.contains("imdb.npz is not in the Keras cache"), "{err}");
    assert!(err.contains(&target.display().to_string()), "{err}");
    assert!(err.contains("KERAS_HOME"), "{err}");
    assert!(entries(&tmp.path().join("datasets")).is_empty());
}

#[test]
fn imdb_download_with_wrong_content_is_refused() {
    // A synthetic file served as imdb.npz does not have Keras's SHA-256.
    let tmp = tempfile::tempdir().unwrap();
    let synth = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/datasets/imdb_synth.npz"),
    )
    .unwrap();
    let base = serve(synth, 1);
    let opts = ImdbOptions {
        cache_dir: Some(tmp.path().to_path_buf()),
        base_url: Some(format!("{base}/ok/")),
        ..ImdbOptions::default()
    };
    let err = imdb::load_data(&opts).unwrap_err().to_string();
    assert!(
        err.contains(recurrent::datasets::imdb::IMDB_SHA256),
        "{err}"
    );
    assert!(entries(&tmp.path().join("datasets")).is_empty());
}

#[test]
fn explicit_missing_path_is_named() {
    let opts = ImdbOptions {
        path: Some(PathBuf::from("/nonexistent/dir/imdb.npz")),
        ..ImdbOptions::default()
    };
    let err = imdb::load_data(&opts).unwrap_err().to_string();
    assert!(err.contains("/nonexistent/dir/imdb.npz"), "{err}");
}

#[test]
fn fname_must_be_a_plain_name() {
    let err = get_file("a/b.npz", "http://127.0.0.1:1/x", None, None).unwrap_err();
    assert!(err.to_string().contains("plain file name"), "{err}");
}

#[cfg(unix)]
#[test]
fn a_fifo_in_the_cache_is_never_replaced_or_read() {
    use std::os::unix::fs::FileTypeExt;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("datasets");
    std::fs::create_dir_all(&dir).unwrap();
    let fifo = dir.join("data.bin");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status();
    if !made.is_ok_and(|s| s.success()) {
        return; // no mkfifo here
    }
    let data = body();
    let base = serve(data.clone(), 1);
    // Reading a FIFO would block; the download must not rename over it either.
    let err = get_file(
        "data.bin",
        &format!("{base}/ok/data.bin"),
        Some(&sha256_hex(&data)),
        Some(tmp.path()),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("exists and is not a regular file"), "{err}");
    assert!(
        std::fs::symlink_metadata(&fifo)
            .unwrap()
            .file_type()
            .is_fifo()
    );
    assert_eq!(entries(&dir), vec![fifo]);
}
