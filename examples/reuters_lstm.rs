//! Reuters newswire topics (46 classes), as examples/reuters_lstm.toml:
//! Embedding(1000, 100) + LSTM(100) + Dense(46, softmax), Adam, categorical
//! cross-entropy on one-hot labels, EarlyStopping(patience 3) on val_loss, then the
//! test split. Needs `reuters.npz` in ~/.keras/datasets/ (downloaded like Keras when
//! online). Run: `cargo run --release --example reuters_lstm`

use recurrent::callbacks::EarlyStopping;
use recurrent::datasets::reuters::{self, ReutersOptions};
use recurrent::layers::{Embedding, LSTM};
use recurrent::preprocessing::{Padding, Truncating, pad_sequences, to_categorical};
use recurrent::{Activation, AdamConfig, Callback, Dense, FitOptions, Loss, Metric, Sequential};

const NUM_WORDS: usize = 1000;
const MAXLEN: usize = 100;
const CLASSES: usize = 46;

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn run() -> recurrent::Result<()> {
    let data = reuters::load_data(&ReutersOptions {
        num_words: Some(NUM_WORDS),
        test_split: 0.2,
        ..Default::default()
    })?;
    let pad = |x: &[Vec<i32>]| pad_sequences(x, Some(MAXLEN), Padding::Pre, Truncating::Pre, 0);
    let (x_train, x_test) = (pad(&data.train.x)?, pad(&data.test.x)?);
    let y_train = to_categorical(&data.train.y, Some(CLASSES))?;
    let y_test = to_categorical(&data.test.y, Some(CLASSES))?;

    let mut model = Sequential::with_seed(42);
    model.add(Embedding::new(NUM_WORDS, 100))?;
    model.add(LSTM::new(100).activation(Activation::Tanh))?;
    model.add(Dense::new(CLASSES).activation(Activation::Softmax))?;
    model.compile(
        AdamConfig::default(),
        Loss::CategoricalCrossentropy,
        &[Metric::Accuracy],
    )?;
    let mut early = EarlyStopping::new()
        .monitor("val_loss")
        .patience(3)
        .restore_best_weights(true);
    let callbacks: Vec<&mut dyn Callback> = vec![&mut early];
    let history = model.fit(
        &x_train,
        &y_train,
        FitOptions {
            epochs: 30,
            batch_size: Some(64),
            validation_split: 0.2,
            callbacks,
            ..Default::default()
        },
    )?;
    println!("{}", model.summary());
    println!("trained {} epochs", history.len());
    let test = model.evaluate(&x_test, &y_test, None)?;
    println!(
        "test loss {:.4}, test accuracy {:.4}",
        test["loss"], test["accuracy"]
    );
    Ok(())
}
