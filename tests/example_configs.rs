//! Every config in examples/ parses, builds, and has the parameter count Keras gives
//! for the same layers.
#![cfg(feature = "cli")]

use std::path::Path;

use recurrent::cli::inspect::config_input_shape;
use recurrent::cli::train::build_model;
use recurrent::config::RunConfig;

/// (file, total parameters as Keras's `model.summary()` reports them).
const EXPECTED: &[(&str, usize)] = &[
    // 10000*128 + 4*(128*128 + 128*128 + 128) + (128 + 1)
    ("imdb_lstm.toml", 1_411_713),
    // 1000*100 + 4*(100*100 + 100*100 + 100) + (100*46 + 46)
    ("reuters_lstm.toml", 185_046),
    // 500*16 + 4*(16*8 + 8*8 + 8) + 9
    ("imdb_lstm_small.toml", 8_809),
    ("imdb_lstm_small_dropout.toml", 8_809),
    // 10000*32 + 4*(32*32 + 32*32 + 32) + 33
    ("imdb_lstm_maxlen500.toml", 328_353),
    // SimpleRNN on 30-wide one-hot: 30*8 + 8*8 + 8, then 9
    ("imdb_simple_rnn_onehot.toml", 321),
    // 10000*32 + 3*(32*32 + 32*32 + 2*32) + 33 (reset_after = true)
    ("imdb_gru.toml", 326_369),
    // 10000*16 + 4*(16*32 + 32*32 + 32) + 33
    ("text_dir_sentiment.toml", 166_305),
    // 100*16 + 4*(16*16 + 16*16 + 16) + 17
    ("generated_sentiment.toml", 3_729),
    // 100*16 + (5*16*32 + 32) + 4*(32*16 + 16*16 + 16) + 17
    ("generated_sentiment_conv1d.toml", 7_345),
    // 4*(1*16 + 16*16 + 16) + 17
    ("generated_series.toml", 1_169),
    // 50*8 + 3*(8*16 + 16*16 + 2*16) + 17
    ("generated_memory.toml", 1_665),
    // 4*(3*32 + 32*32 + 32) + 33 (24-hour windows of 3 CSV columns)
    ("csv_forecast.toml", 4_641),
];

#[test]
fn every_example_config_builds_with_keras_parameter_counts() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "toml") {
            continue;
        }
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let expected = EXPECTED
            .iter()
            .find(|(n, _)| *n == name)
            .unwrap_or_else(|| panic!("{name} has no expected parameter count in this test"))
            .1;
        let config = RunConfig::load(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
        let model = build_model(&config, &config_input_shape(&config))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(model.count_params(), expected, "{name}");
        seen += 1;
    }
    assert_eq!(seen, EXPECTED.len(), "every listed config exists");
}
