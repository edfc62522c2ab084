//! Raw text files, one folder per class, as examples/text_dir_sentiment.toml: a
//! TextVectorization learns the vocabulary (10000) from the training texts, then
//! Embedding(10000, 16) + LSTM(32) + Dense(1, sigmoid) trains with EarlyStopping and
//! is saved together with the vectorizer, so `recurrent predict` takes raw text.
//! With `train/` and `test/` sub-folders (the aclImdb layout; remove its `unsup/`
//! folder, as the Keras tutorial does) those are the splits; otherwise 20% of the
//! files is held out for testing.
//! Run: `cargo run --release --example text_dir_sentiment -- [DIR]` (default data/aclImdb)

use ndarray::Array1;
use recurrent::callbacks::EarlyStopping;
use recurrent::io::{SaveExtras, save_model};
use recurrent::layers::{Embedding, LSTM};
use recurrent::preprocessing::{Padding, Truncating, pad_sequences};
use recurrent::text::{self, DirectoryOptions, Subset, TextDataset};
use recurrent::text::{TextVectorization, TextVectorizationConfig};
use recurrent::{Activation, AdamConfig, Callback, Dense, FitOptions, Loss, Metric, Sequential};

const NUM_WORDS: usize = 10_000;
const MAXLEN: usize = 250;

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

/// (train, test): the `train/` and `test/` folders if present, else a seeded 80/20 split.
fn load(dir: &std::path::Path) -> recurrent::Result<(TextDataset, TextDataset)> {
    let seed = Some(42);
    if dir.join("train").is_dir() && dir.join("test").is_dir() {
        let options = DirectoryOptions {
            seed,
            ..Default::default()
        };
        let train = text::text_dataset_from_directory(dir.join("train"), &options)?;
        let class_names = Some(train.class_names.clone());
        let test_options = DirectoryOptions {
            class_names,
            ..options
        };
        Ok((
            train,
            text::text_dataset_from_directory(dir.join("test"), &test_options)?,
        ))
    } else {
        let options = DirectoryOptions {
            seed,
            validation_split: Some(0.2),
            subset: Some(Subset::Training),
            ..Default::default()
        };
        text::text_datasets_from_directory_both(dir, &options)
    }
}

fn run() -> recurrent::Result<()> {
    let dir = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "data/aclImdb".to_string());
    let (train, test) = load(dir.as_ref())?;
    println!(
        "{} training and {} test texts, classes {:?}",
        train.len(),
        test.len(),
        train.class_names
    );
    let mut vectorizer = TextVectorization::new(TextVectorizationConfig {
        max_tokens: Some(NUM_WORDS),
        ..Default::default()
    })?;
    vectorizer.adapt(&train.texts);
    let encode = |d: &TextDataset| {
        let ids = vectorizer.vectorize_ragged(&d.texts);
        let y = Array1::from_iter(d.labels.iter().map(|&l| l as f32));
        Ok::<_, recurrent::Error>((
            pad_sequences(&ids, Some(MAXLEN), Padding::Pre, Truncating::Pre, 0)?,
            y,
        ))
    };
    let ((x_train, y_train), (x_test, y_test)) = (encode(&train)?, encode(&test)?);

    let mut model = Sequential::with_seed(42);
    model.add(Embedding::new(NUM_WORDS, 16))?;
    model.add(LSTM::new(32))?;
    model.add(Dense::new(1).activation(Activation::Sigmoid))?;
    model.compile(
        AdamConfig::default(),
        Loss::BinaryCrossentropy,
        &[Metric::Accuracy],
    )?;
    let mut early = EarlyStopping::new().patience(2).restore_best_weights(true);
    let callbacks: Vec<&mut dyn Callback> = vec![&mut early];
    let options = FitOptions {
        epochs: 10,
        batch_size: Some(32),
        validation_split: 0.2,
        callbacks,
        ..Default::default()
    };
    model.fit(&x_train, &y_train, options)?;
    let test_logs = model.evaluate(&x_test, &y_test, None)?;
    println!(
        "test loss {:.4}, test accuracy {:.4}",
        test_logs["loss"], test_logs["accuracy"]
    );

    let path = std::path::Path::new("runs/text_dir_sentiment/model.safetensors");
    let extras = SaveExtras {
        vectorizer: Some(vectorizer),
        ..Default::default()
    };
    save_model(&model, path, &extras)?;
    println!("saved {} (with its vectorizer)", path.display());
    Ok(())
}
