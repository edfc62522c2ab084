//! The Rust side of `test_rust_parity.py`: trains Embedding(50, 8) + LSTM(6) +
//! Dense(1, sigmoid) with RMSprop, seed 7, 2 epochs, batch 16, validation split 0.25,
//! on `x.npy` (int token ids) and `y.npy` (0/1 labels), and saves the model. The
//! Python test trains the same model through `recurrent.keras` and compares the
//! weights bit for bit.
//!
//! An example of this crate (not of the root one) so that it builds with the same
//! dependency features as the extension and reuses its compiled `recurrent`.
//!
//! Usage: cargo run --release --example rust_parity -- X.npy Y.npy OUT.model

use ndarray::{Array1, Array2};
use recurrent::datasets::npy::{NpyData, parse_npy};
use recurrent::layers::{Embedding, LSTM};
use recurrent::{Activation, Dense, FitOptions, Loss, Metric, RmspropConfig, Sequential};

fn read_ints(path: &str) -> (Vec<usize>, Vec<i64>) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let a = parse_npy(&bytes).unwrap_or_else(|e| panic!("{path}: {e}"));
    match a.data {
        NpyData::Int(v) => (a.shape, v),
        NpyData::Sequences(_) | NpyData::Float(_) => panic!("{path}: expected an integer array"),
    }
}

fn main() -> recurrent::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let (xs, xv) = read_ints(&args[1]);
    let (_, yv) = read_ints(&args[2]);
    let x = Array2::from_shape_vec((xs[0], xs[1]), xv.iter().map(|&v| v as i32).collect())
        .expect("x is 2-D");
    let y = Array1::from(yv);

    let mut model = Sequential::with_seed(7);
    model.add(Embedding::new(50, 8))?;
    model.add(LSTM::new(6))?;
    model.add(Dense::new(1).activation(Activation::Sigmoid))?;
    model.compile(
        RmspropConfig::default(),
        Loss::BinaryCrossentropy,
        &[Metric::Accuracy],
    )?;
    model.fit(
        &x,
        &y,
        FitOptions {
            epochs: 2,
            batch_size: Some(16),
            validation_split: 0.25,
            verbose: 0,
            ..Default::default()
        },
    )?;
    model.save(&args[3])
}
