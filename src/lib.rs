//! `recurrent`: train and run recurrent neural networks (SimpleRNN, LSTM, GRU) the way
//! the Keras tutorials do, from raw data to a saved model, on the CPU.

pub mod budget;
pub mod callbacks;
pub mod cli;
pub mod config;
pub mod datasets;
pub mod error;
pub mod interop;
pub mod io;
pub mod kernels;
pub mod layers;
pub mod losses;
pub mod metrics;
pub mod model;
pub mod optimizers;
pub mod plot;
pub mod preprocessing;
pub mod progbar;
pub mod rng;
pub mod text;

pub use callbacks::{Callback, Control, Logs};
pub use error::{Error, Result};
pub use layers::{Activation, Dense, Dropout, Initializer, Layer, LayerConfig};
pub use losses::Loss;
pub use metrics::Metric;
pub use model::{FitOptions, History, Inputs, Sequential, Targets};
pub use optimizers::{AdamConfig, Optimizer, OptimizerConfig, RmspropConfig, SgdConfig};
