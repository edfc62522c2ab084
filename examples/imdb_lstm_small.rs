//! The IMDB LSTM tutorial (Embedding(500,16) + LSTM(8) + Dense(1, sigmoid), RMSprop
//! 1e-4, batch 64, validation split 20% with seed 42), as in the README. Needs
//! `imdb.npz` in ~/.keras/datasets/ (downloaded like Keras when online).
//! Run: `cargo run --release --example imdb_lstm_small`

use ndarray::Array1;
use recurrent::datasets::imdb::{self, ImdbOptions};
use recurrent::layers::{Embedding, LSTM};
use recurrent::preprocessing::{Padding, Truncating, pad_sequences, train_test_split};
use recurrent::{Activation, Dense, FitOptions, Loss, Metric, RmspropConfig, Sequential};

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn run() -> recurrent::Result<()> {
    let data = imdb::load_data(&ImdbOptions {
        num_words: Some(500),
        ..Default::default()
    })?;
    let x = pad_sequences(&data.train.x, Some(100), Padding::Pre, Truncating::Pre, 0)?;
    let y = Array1::from(data.train.y.clone());
    let split = train_test_split(&x, &y, 0.2, true, 42)?;

    let mut model = Sequential::new();
    model.add(Embedding::new(500, 16))?;
    model.add(LSTM::new(8))?;
    model.add(Dense::new(1).activation(Activation::Sigmoid))?;
    let rmsprop = RmspropConfig {
        learning_rate: 1e-4,
        ..Default::default()
    };
    model.compile(rmsprop, Loss::BinaryCrossentropy, &[Metric::Accuracy])?;
    let history = model.fit(
        &split.x_train,
        &split.y_train,
        FitOptions {
            epochs: 10,
            batch_size: Some(64),
            validation_data: Some(((&split.x_test).into(), (&split.y_test).into())),
            ..Default::default()
        },
    )?;
    println!("{}", model.summary());
    println!("val_accuracy per epoch: {:?}", history.get("val_accuracy"));
    Ok(())
}
