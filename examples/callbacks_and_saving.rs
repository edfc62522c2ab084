//! The library side of `recurrent train`: generated reviews through a
//! TextVectorization, an LSTM trained with EarlyStopping, ModelCheckpoint and the
//! Keras progress bar, then save, load, predict and plot.
//!
//! cargo run --release --example callbacks_and_saving

use recurrent::callbacks::{EarlyStopping, ModelCheckpoint};
use recurrent::datasets::generated;
use recurrent::io::{SaveExtras, load_model, save_model, write_history_json};
use recurrent::preprocessing::{Padding, Truncating, pad_sequences};
use recurrent::rng::SeededRng;
use recurrent::text::{TextVectorization, TextVectorizationConfig};
use recurrent::{Callback, FitOptions, LayerConfig, Loss, Metric, OptimizerConfig, Sequential};

fn main() -> recurrent::Result<()> {
    let out = std::path::Path::new("runs/callbacks_and_saving");
    let (texts, labels) = generated::sentiment(3000, &mut SeededRng::new(1));
    let mut vectorizer = TextVectorization::new(TextVectorizationConfig {
        max_tokens: Some(100),
        ..Default::default()
    })?;
    vectorizer.adapt(&texts);
    let x = pad_sequences(
        &vectorizer.vectorize_ragged(&texts),
        Some(60),
        Padding::Pre,
        Truncating::Pre,
        0,
    )?;
    let y = ndarray::Array1::from_iter(labels.iter().map(|&l| l as f32));

    let layers: Vec<LayerConfig> = serde_json::from_str(
        r#"[{"type": "embedding", "input_dim": 100, "output_dim": 16},
            {"type": "lstm", "units": 16},
            {"type": "dense", "units": 1, "activation": "sigmoid"}]"#,
    )
    .expect("valid layer configs");
    let mut model = Sequential::from_configs_with_seed(&layers, 42)?;
    model.compile(
        "adam".parse::<OptimizerConfig>()?,
        Loss::BinaryCrossentropy,
        &[Metric::Accuracy],
    )?;

    let epochs = 8;
    let mut early = EarlyStopping::new().patience(2).restore_best_weights(true);
    let mut best = ModelCheckpoint::new(out.join("best-{epoch:02d}-{val_loss:.4f}.safetensors"))
        .save_best_only(true);
    let callbacks: Vec<&mut dyn Callback> = vec![&mut early, &mut best];
    let history = model.fit(
        &x,
        &y,
        FitOptions {
            epochs,
            batch_size: Some(32),
            validation_split: 0.2,
            verbose: 1, // fit shows Keras's progress bar (a ProgbarLogger it installs)
            callbacks,
            ..Default::default()
        },
    )?;

    let path = out.join("model.safetensors");
    let extras = SaveExtras {
        vectorizer: Some(vectorizer.clone()),
        ..Default::default()
    };
    save_model(&model, &path, &extras)?;
    write_history_json(&history, &out.join("history.json"))?;
    recurrent::plot::plot_history(&history.history, out, "history")?;

    let mut loaded = load_model(&path)?;
    let v = loaded.extras.vectorizer.expect("saved above");
    let review = ["a wonderful and moving film, loved the cast".to_string()];
    let ids = pad_sequences(
        &v.vectorize_ragged(&review),
        Some(60),
        Padding::Pre,
        Truncating::Pre,
        0,
    )?;
    let p = loaded.model.predict(&ids, None)?;
    println!("P(positive) = {:.4} for {:?}", p[[0, 0]], review[0]);
    println!("wrote {}", out.display());
    Ok(())
}
