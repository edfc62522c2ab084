//! IMDB read by a SimpleRNN(8) from one-hot vectors instead of an Embedding, as
//! examples/imdb_simple_rnn_onehot.toml: the 30 most frequent ids, 80 steps, each id
//! a float vector of 30 (a small vocabulary keeps 25,000 x 80 x 30 floats in memory).
//! Needs `imdb.npz` in ~/.keras/datasets/ (downloaded like Keras when online).
//! Run: `cargo run --release --example imdb_simple_rnn_onehot`

use ndarray::{Array1, Array3};
use recurrent::datasets::imdb::{self, ImdbOptions};
use recurrent::layers::SimpleRNN;
use recurrent::preprocessing::{Padding, Truncating, pad_sequences};
use recurrent::{Activation, Dense, Error, FitOptions, Loss, Metric, RmspropConfig, Sequential};

const NUM_WORDS: usize = 30;
const MAXLEN: usize = 80;

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

/// Pads the id sequences, then one-hot encodes every id into (n, MAXLEN, NUM_WORDS).
fn one_hot(seqs: &[Vec<i32>]) -> recurrent::Result<Array3<f32>> {
    let ids = pad_sequences(seqs, Some(MAXLEN), Padding::Pre, Truncating::Pre, 0)?;
    let mut out = Array3::<f32>::zeros((ids.nrows(), MAXLEN, NUM_WORDS));
    for ((i, t), &id) in ids.indexed_iter() {
        let col = usize::try_from(id)
            .ok()
            .filter(|&c| c < NUM_WORDS)
            .ok_or_else(|| {
                Error::Data(format!(
                    "sample {i}, time step {t}: id {id} is outside 0..{NUM_WORDS}"
                ))
            })?;
        out[[i, t, col]] = 1.0;
    }
    Ok(out)
}

fn run() -> recurrent::Result<()> {
    let data = imdb::load_data(&ImdbOptions {
        num_words: Some(NUM_WORDS),
        ..Default::default()
    })?;
    let (x_train, x_test) = (one_hot(&data.train.x)?, one_hot(&data.test.x)?);
    let y_train = Array1::from_iter(data.train.y.iter().map(|&l| l as f32));
    let y_test = Array1::from_iter(data.test.y.iter().map(|&l| l as f32));

    let mut model = Sequential::with_seed(42);
    model.add(SimpleRNN::new(8))?;
    model.add(Dense::new(1).activation(Activation::Sigmoid))?;
    model.build(&[Some(MAXLEN), Some(NUM_WORDS)])?;
    print!("{}", model.summary());
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
    println!("val_accuracy per epoch: {:?}", history.get("val_accuracy"));
    let test = model.evaluate(&x_test, &y_test, None)?;
    println!(
        "test loss {:.4}, test accuracy {:.4}",
        test["loss"], test["accuracy"]
    );
    Ok(())
}
