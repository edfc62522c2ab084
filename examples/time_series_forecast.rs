//! Time-series forecasting, as examples/generated_series.toml: windows of 30 values of
//! a generated noisy sum of two sines (float input of shape (batch, 30, 1)) predict the
//! next value with LSTM(16) + Dense(1), Adam and mean squared error, halving the
//! learning rate when val_loss stalls. The test MSE is compared with the naive
//! forecast "the next value equals the last one".
//! Run: `cargo run --release --example time_series_forecast`

use recurrent::callbacks::ReduceLrOnPlateau;
use recurrent::datasets::generated;
use recurrent::layers::LSTM;
use recurrent::rng::SeededRng;
use recurrent::{AdamConfig, Callback, Dense, FitOptions, Loss, Sequential};

const WINDOW: usize = 30;

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn run() -> recurrent::Result<()> {
    // Separate seeds: the test windows come from a different noise draw.
    let (x, y) = generated::series(3000, WINDOW, &mut SeededRng::new(42));
    let (x_test, y_test) = generated::series(600, WINDOW, &mut SeededRng::new(7));

    let mut model = Sequential::with_seed(42);
    model.add(LSTM::new(16).input_shape(vec![Some(WINDOW), Some(1)]))?;
    model.add(Dense::new(1))?;
    model.compile(AdamConfig::default(), Loss::MeanSquaredError, &[])?;
    print!("{}", model.summary());
    let mut plateau = ReduceLrOnPlateau::new().factor(0.5).patience(2);
    let callbacks: Vec<&mut dyn Callback> = vec![&mut plateau];
    let options = FitOptions {
        epochs: 10,
        batch_size: Some(32),
        validation_split: 0.2,
        verbose: 2,
        callbacks,
        ..Default::default()
    };
    model.fit(&x, &y, options)?;

    let test_mse = model.evaluate(&x_test, &y_test, None)?["loss"];
    let last = x_test.slice(ndarray::s![.., WINDOW - 1, ..]);
    let naive_mse = (&last - &y_test).mapv(|d| d * d).mean().unwrap_or(f32::NAN);
    println!("test MSE {test_mse:.6}; predicting the last value: {naive_mse:.6}");
    Ok(())
}
