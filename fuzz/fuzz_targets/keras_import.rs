//! Arbitrary bytes into the Keras model loaders: the legacy `.h5` loader and the
//! `.keras` (zip) loader, called directly (so each sees every input, whatever its magic
//! bytes) and through the content-dispatching entry point. They must return Ok or Err,
//! never panic, hang or allocate without bound. Seed corpus: the fixtures in
//! tests/fixtures/keras_h5/ and tests/fixtures/keras_import/*.keras.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use recurrent::interop::{import_keras_bytes, load_keras_archive_bytes, load_keras_h5_bytes};

fuzz_target!(|data: &[u8]| {
    let path = Path::new("fuzz.h5");
    let _ = load_keras_h5_bytes(data, path);
    let _ = load_keras_archive_bytes(data, path);
    let _ = import_keras_bytes(data, path);
});
