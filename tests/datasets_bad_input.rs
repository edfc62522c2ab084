//! Broken and hostile dataset files: each gives an error naming the file and the
//! cause, and no byte string makes the readers panic.
#![cfg(feature = "download")]

use std::io::Write;
use std::path::{Path, PathBuf};

use proptest::prelude::*;
use recurrent::datasets::npz::Npz;
use recurrent::datasets::{ImdbOptions, ReutersOptions, imdb, npy, pickle, reuters};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/datasets")
        .join(name)
}

fn npy_bytes(descr: &str, shape: &str, payload: &[u8]) -> Vec<u8> {
    let header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}\n");
    let mut v = b"\x93NUMPY\x01\x00".to_vec();
    v.extend_from_slice(&(header.len() as u16).to_le_bytes());
    v.extend_from_slice(header.as_bytes());
    v.extend_from_slice(payload);
    v
}

fn labels(n: usize) -> Vec<u8> {
    let payload: Vec<u8> = (0..n as i64).flat_map(|i| (i % 2).to_le_bytes()).collect();
    npy_bytes("<i8", &format!("({n},)"), &payload)
}

/// Writes a zip of (member name, bytes) to a temp dir and returns its path.
fn write_npz(dir: &Path, name: &str, members: &[(&str, Vec<u8>)]) -> PathBuf {
    let path = dir.join(name);
    let file = std::fs::File::create(&path).unwrap();
    let mut zip = zip::ZipWriter::new(file);
    let opts =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (member, bytes) in members {
        zip.start_file(*member, opts).unwrap();
        zip.write_all(bytes).unwrap();
    }
    zip.finish().unwrap();
    path
}

/// The x_train member of the synthetic IMDB fixture (a real numpy object array).
fn real_member(name: &str) -> Vec<u8> {
    let bytes = std::fs::read(fixture("imdb_synth.npz")).unwrap();
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    let mut f = archive.by_name(name).unwrap();
    let mut out = Vec::new();
    std::io::Read::read_to_end(&mut f, &mut out).unwrap();
    out
}

fn load_imdb(path: &Path) -> String {
    let opts = ImdbOptions {
        path: Some(path.to_path_buf()),
        ..ImdbOptions::default()
    };
    imdb::load_data(&opts).unwrap_err().to_string()
}

#[test]
fn truncated_npz_names_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(fixture("imdb_synth.npz")).unwrap();
    for cut in [0, 3, 30, bytes.len() / 2, bytes.len() - 10] {
        let path = tmp.path().join(format!("cut{cut}.npz"));
        std::fs::write(&path, &bytes[..cut]).unwrap();
        let err = load_imdb(&path);
        assert!(err.starts_with(&path.display().to_string()), "{cut}: {err}");
    }
}

#[test]
fn non_zip_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("imdb.npz");
    std::fs::write(&path, b"<html>not found</html>").unwrap();
    let err = load_imdb(&path);
    assert!(
        err.contains("imdb.npz") && err.contains("not a readable .npz (zip) archive"),
        "{err}"
    );
}

#[test]
fn missing_keys_are_named() {
    let tmp = tempfile::tempdir().unwrap();
    let path = write_npz(
        tmp.path(),
        "partial.npz",
        &[
            ("x_train.npy", real_member("x_train.npy")),
            ("y_train.npy", labels(60)),
        ],
    );
    let err = load_imdb(&path);
    assert!(
        err.contains("partial.npz") && err.contains("no array `x_test`"),
        "{err}"
    );
    let err = reuters::load_data(&ReutersOptions {
        path: Some(path.clone()),
        ..ReutersOptions::default()
    })
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("partial.npz") && err.contains("no array `x`"),
        "{err}"
    );
}

#[test]
fn mismatched_lengths_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let path = write_npz(
        tmp.path(),
        "short.npz",
        &[
            ("x_train.npy", real_member("x_train.npy")),
            ("y_train.npy", labels(59)),
            ("x_test.npy", real_member("x_test.npy")),
            ("y_test.npy", labels(40)),
        ],
    );
    let err = load_imdb(&path);
    assert!(
        err.contains("short.npz") && err.contains("60 sequences but `y_train` holds 59"),
        "{err}"
    );
}

#[test]
fn pickled_os_system_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let evil = npy_bytes("|O", "(1,)", b"cos\nsystem\n(S'touch /tmp/pwned'\ntR.");
    let path = write_npz(
        tmp.path(),
        "evil.npz",
        &[
            ("x_train.npy", evil),
            ("y_train.npy", labels(1)),
            ("x_test.npy", real_member("x_test.npy")),
            ("y_test.npy", labels(40)),
        ],
    );
    let err = load_imdb(&path);
    assert!(
        err.contains("evil.npz") && err.contains("x_train.npy"),
        "{err}"
    );
    assert!(err.contains("global `os.system` is not allowed"), "{err}");
}

#[test]
fn reduce_on_other_callables_is_refused() {
    // numpy.dtype is an allowed global but REDUCE on numpy.ndarray is not
    // reconstruction, and builtins.getattr is not allowed at all.
    for (pickle, want) in [
        (
            &b"\x80\x04\x8c\x05numpy\x8c\x07ndarray\x93K\x01\x85R."[..],
            "REDUCE on `numpy.ndarray`",
        ),
        (
            &b"\x80\x04\x8c\x08builtins\x8c\x07getattr\x93."[..],
            "`builtins.getattr` is not allowed",
        ),
        (&b"\x80\x04K\x01K\x02\x85R."[..], "REDUCE on a int"),
    ] {
        let err = npy::parse_npy(&npy_bytes("|O", "(1,)", pickle)).unwrap_err();
        assert!(err.contains(want), "{err}");
    }
}

#[test]
fn unsupported_dtype_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let path = write_npz(
        tmp.path(),
        "floats.npz",
        &[
            ("x_train.npy", real_member("x_train.npy")),
            ("y_train.npy", npy_bytes("<f8", "(60,)", &[0u8; 480])),
            ("x_test.npy", real_member("x_test.npy")),
            ("y_test.npy", labels(40)),
        ],
    );
    let err = load_imdb(&path);
    assert!(
        err.contains("floats.npz")
            && err.contains("y_train.npy")
            && err.contains("unsupported dtype '<f8'"),
        "{err}"
    );
}

#[test]
fn labels_where_sequences_belong_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let path = write_npz(
        tmp.path(),
        "swapped.npz",
        &[
            ("x_train.npy", labels(60)),
            ("y_train.npy", labels(60)),
            ("x_test.npy", labels(40)),
            ("y_test.npy", labels(40)),
        ],
    );
    let err = load_imdb(&path);
    assert!(
        err.contains("swapped.npz") && err.contains("expected an object array of sequences"),
        "{err}"
    );
}

#[test]
fn every_prefix_of_a_real_member_is_an_error_not_a_panic() {
    let member = real_member("x_train.npy");
    for n in 0..member.len() {
        assert!(npy::parse_npy(&member[..n]).is_err(), "prefix {n}");
    }
    assert!(npy::parse_npy(&member).is_ok());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    /// Random byte flips in a real archive and a real member: any result but a panic.
    #[test]
    fn mutated_files_never_panic(flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8)) {
        let mut archive = std::fs::read(fixture("imdb_ndarray_items.npz")).unwrap();
        let mut member = real_member("x_train.npy");
        for (pos, byte) in &flips {
            let i = pos % archive.len();
            archive[i] ^= byte;
            let j = pos % member.len();
            member[j] ^= byte;
        }
        let _ = Npz::from_bytes(&archive, Path::new("mutated.npz"));
        let _ = npy::parse_npy(&member);
        let _ = pickle::load_array(&member);
    }

    #[test]
    fn random_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = Npz::from_bytes(&data, Path::new("random.npz"));
        let _ = npy::parse_npy(&data);
        let _ = pickle::load_array(&data);
    }
}
