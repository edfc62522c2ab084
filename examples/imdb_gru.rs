//! IMDB with a GRU, as examples/imdb_gru.toml: Embedding(10000, 32) + GRU(32) +
//! Dense(1, sigmoid), RMSprop, batch 128, 10 epochs, 20% validation, then the test
//! split. Needs `imdb.npz` in ~/.keras/datasets/ (downloaded like Keras when online).
//! Run: `cargo run --release --example imdb_gru`

use ndarray::Array1;
use recurrent::datasets::imdb::{self, ImdbOptions};
use recurrent::layers::{Embedding, GRU};
use recurrent::preprocessing::{Padding, Truncating, pad_sequences};
use recurrent::{Activation, Dense, FitOptions, Loss, Metric, RmspropConfig, Sequential};

const NUM_WORDS: usize = 10_000;
const MAXLEN: usize = 500;

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn run() -> recurrent::Result<()> {
    let data = imdb::load_data(&ImdbOptions {
        num_words: Some(NUM_WORDS),
        ..Default::default()
    })?;
    let pad = |x: &[Vec<i32>]| pad_sequences(x, Some(MAXLEN), Padding::Pre, Truncating::Pre, 0);
    let (x_train, x_test) = (pad(&data.train.x)?, pad(&data.test.x)?);
    let y_train = Array1::from_iter(data.train.y.iter().map(|&l| l as f32));
    let y_test = Array1::from_iter(data.test.y.iter().map(|&l| l as f32));

    let mut model = Sequential::with_seed(42);
    model.add(Embedding::new(NUM_WORDS, 32))?;
    model.add(GRU::new(32))?;
    model.add(Dense::new(1).activation(Activation::Sigmoid))?;
    model.compile(
        RmspropConfig::default(),
        Loss::BinaryCrossentropy,
        &[Metric::Accuracy],
    )?;
    let history = model.fit(
        &x_train,
        &y_train,
        FitOptions {
            epochs: 10,
            batch_size: Some(128),
            validation_split: 0.2,
            ..Default::default()
        },
    )?;
    println!("{}", model.summary());
    println!("val_accuracy per epoch: {:?}", history.get("val_accuracy"));
    let test = model.evaluate(&x_test, &y_test, None)?;
    println!(
        "test loss {:.4}, test accuracy {:.4}",
        test["loss"], test["accuracy"]
    );
    Ok(())
}
