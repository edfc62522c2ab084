//! Arbitrary text into the run config: TOML parsing, the config's checks, and the
//! parameter budget of its `[model]` layers for a few input shapes. Models within a
//! small budget are built too, so the build path sees every config the checks
//! accept. Must return Ok or Err, never panic or hang. Seed corpus: examples/*.toml.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use recurrent::Sequential;
use recurrent::budget::check_model_params;
use recurrent::config::RunConfig;

/// Largest model the target builds (keeps each execution fast and small).
const BUILD_LIMIT: u128 = 200_000;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(config) = RunConfig::parse(text, Path::new("fuzz.toml")) else {
        return;
    };
    let layers = &config.model.layers;
    for shape in [vec![Some(20)], vec![None], vec![Some(12), Some(3)]] {
        let Ok(n) = check_model_params(layers, &shape) else {
            continue;
        };
        // The first layer's own input_shape/input_length builds at creation, so
        // count that shape too before creating the model.
        if n <= BUILD_LIMIT
            && layers.len() <= 16
            && let Ok(first) = layers.first().map(|l| l.to_layer()).transpose()
            && first
                .and_then(|l| l.input_shape_hint())
                .is_none_or(|h| check_model_params(layers, &h).is_ok_and(|m| m <= BUILD_LIMIT))
            && let Ok(mut model) = Sequential::from_configs(layers)
        {
            let _ = model.build(&shape);
        }
    }
});
