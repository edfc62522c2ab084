//! Arbitrary bytes into the model file reader (`load_model`: safetensors container,
//! metadata JSON, layer configs, the declared-size check, building, weights,
//! optimizer state, vectorizer). It must return Ok or Err, never panic, hang or
//! allocate without bound (the parameter budget is checked before building). Seed
//! corpus: model files saved by `recurrent train` (fuzz/corpus/model_file/).
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use recurrent::io::{TensorFile, load_model_bytes};

fuzz_target!(|data: &[u8]| {
    let path = Path::new("fuzz.safetensors");
    let _ = TensorFile::from_bytes(data, path);
    if let Ok(loaded) = load_model_bytes(data, path) {
        // A model that loads must also describe itself without failing.
        let _ = loaded.model.count_params();
        let _ = loaded.model.layer_configs();
    }
});
