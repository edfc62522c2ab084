//! `recurrent`: train and run recurrent neural networks (SimpleRNN, LSTM, GRU) the way
//! the Keras tutorials do, from raw data to a saved model, on the CPU.

pub mod error;
pub mod io;
pub mod kernels;
pub mod layers;
pub mod plot;
pub mod rng;

pub use error::{Error, Result};
