//! `recurrent`: train and run recurrent neural networks (SimpleRNN, LSTM, GRU) the way
//! the Keras tutorials do, from raw data to a saved model, on the CPU.
//!
//! The library stands without its command line, as ripgrep's core does: layers,
//! `Sequential` (`compile`, `fit`, `evaluate`, `predict`), callbacks and optimizers
//! take Keras's arguments through their own builders
//! (`EarlyStopping::new().monitor("val_loss").patience(3)`), and the `recurrent`
//! command's TOML config converts into them; the library never reads the config.
//!
//! Cargo features, all on by default: `cli` (the `recurrent` command), `download`
//! (Keras's dataset files: `datasets::imdb`, `datasets::reuters`, `get_file`), `npz`
//! (`.npz` archives), `plot` (training curves), `keras` (importing `.keras`/`.h5`
//! models) and `onnx` (ONNX export). `--no-default-features` builds the library with
//! ndarray, rayon, serde and safetensors and a few small pure crates only.

pub mod budget;
pub mod callbacks;
pub mod datasets;
pub mod error;
#[cfg(any(feature = "keras", feature = "onnx"))]
pub mod interop;
pub mod io;
pub mod layers;
pub mod losses;
pub mod metrics;
pub mod model;
pub mod optimizers;
#[cfg(feature = "plot")]
pub mod plot;
pub mod preprocessing;
pub mod rng;
pub mod text;

mod progbar;

// Not public API: the command line and its run configuration (the binary and the
// tests of the example configs reach them), and the kernels (the kernel benchmarks
// reach them). Layers are the stable surface over the kernels.
#[cfg(feature = "cli")]
#[doc(hidden)]
pub mod cli;
#[cfg(feature = "cli")]
#[doc(hidden)]
pub mod config;
#[doc(hidden)]
pub mod kernels;

pub use callbacks::{Callback, Control, Logs};
pub use error::{Error, Result};
pub use layers::{
    Activation, Bidirectional, Conv1D, Dense, Dropout, Embedding, GRU, GlobalAveragePooling1D,
    GlobalMaxPooling1D, Initializer, LSTM, Layer, LayerConfig, MaxPooling1D, MergeMode, SimpleRNN,
    TimeDistributed,
};
pub use losses::Loss;
pub use metrics::Metric;
pub use model::{ClassWeight, FitOptions, History, Inputs, SampleWeight, Sequential, Targets};
pub use optimizers::{
    AdagradConfig, AdamConfig, AdamWConfig, LearningRateSchedule, NadamConfig, Optimizer,
    OptimizerConfig, RmspropConfig, SgdConfig,
};

/// The `recurrent` command: parse the process's arguments, run the command, print an
/// error as one `error: ...` line. Returns the process exit code (0, 1 on error, 130
/// after Ctrl-C). `src/bin/recurrent.rs` is `std::process::exit(recurrent::run_cli())`.
#[cfg(feature = "cli")]
pub fn run_cli() -> i32 {
    cli::main()
}
