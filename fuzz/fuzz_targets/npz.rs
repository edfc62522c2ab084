//! Arbitrary bytes into the dataset readers: the `.npz` (zip) reader, the `.npy`
//! reader and the restricted pickle reader must return Ok or Err, never panic,
//! hang or allocate without bound.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use recurrent::datasets::{npy, npz::Npz, pickle};

fuzz_target!(|data: &[u8]| {
    let _ = Npz::from_bytes(data, Path::new("fuzz.npz"));
    let _ = npy::parse_npy(data);
    let _ = pickle::load_array(data);
});
