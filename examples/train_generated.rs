//! Train Embedding + LSTM on a generated memory task: each sequence is random tokens
//! and the label says whether its FIRST token is in the upper half of the vocabulary,
//! so the LSTM must carry one token across the whole sequence. About a minute with
//! `cargo run --release --example train_generated`.

use ndarray::{Array1, Array2};
use recurrent::layers::{Embedding, LSTM};
use recurrent::rng::SeededRng;
use recurrent::{Activation, AdamConfig, Dense, FitOptions, Loss, Metric, Sequential};

const VOCAB: usize = 20;
const STEPS: usize = 30;

fn generate(n: usize, seed: u64) -> (Array2<i32>, Array1<f32>) {
    let mut rng = SeededRng::new(seed);
    // Token 0 is left free (padding in real data).
    let x = Array2::from_shape_simple_fn((n, STEPS), || 1 + rng.below(VOCAB - 1) as i32);
    let y = x.column(0).mapv(|t| (t as usize > VOCAB / 2) as u8 as f32);
    (x, y)
}

fn main() -> recurrent::Result<()> {
    let (x, y) = generate(6000, 1);
    let (x_test, y_test) = generate(1000, 2);

    let mut model = Sequential::with_seed(42);
    model.add(Embedding::new(VOCAB, 16))?;
    model.add(LSTM::new(32))?;
    model.add(Dense::new(1).activation(Activation::Sigmoid))?;
    model.build(&[Some(STEPS)])?;
    print!("{}", model.summary());

    model.compile(
        AdamConfig::default(),
        Loss::BinaryCrossentropy,
        &[Metric::Accuracy],
    )?;
    let history = model.fit(
        &x,
        &y,
        FitOptions {
            epochs: 12,
            batch_size: Some(32),
            validation_split: 0.2,
            verbose: 2,
            ..FitOptions::default()
        },
    )?;
    let test = model.evaluate(&x_test, &y_test, None)?;
    println!(
        "test loss {:.4}, test accuracy {:.4} (chance is about 0.5)",
        test["loss"], test["accuracy"]
    );
    println!(
        "{}",
        serde_json::to_string(&history).expect("history serializes")
    );
    Ok(())
}
