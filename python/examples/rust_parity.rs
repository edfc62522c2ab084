//! The Rust side of `test_rust_parity.py`: trains Embedding(50, 8) + LSTM(6) +
//! Dense(1, sigmoid) with RMSprop, seed 7, 2 epochs, batch 16, validation split 0.25,
//! on `x.npy` (int token ids) and `y.npy` (0/1 labels), and saves the model. The
//! Python test trains the same model through `recurrent.keras` and compares the
//! weights bit for bit.
//!
//! An example of this crate (not of the root one) so that it builds with the same
//! dependency features as the extension and reuses its compiled `recurrent`.
//!
//! With a fourth argument `features`, OUT is a folder and three more models are
//! trained there, exercising what `test_keras_features.py` compares: initializers by
//! class, AdamW / Adagrad / Nadam with `weight_decay`, the three learning-rate
//! schedules, `LearningRateScheduler`, and the metrics AUC, Precision, Recall and
//! F1Score (each model saved as `NAME.model`, its history as `NAME.json`).
//!
//! Usage: cargo run --release --example rust_parity -- X.npy Y.npy OUT.model [features]

use ndarray::{Array1, Array2};
use recurrent::callbacks::LearningRateScheduler;
use recurrent::datasets::npy::{NpyData, parse_npy};
use recurrent::layers::{Embedding, GRU, LSTM};
use recurrent::metrics::{AucCurve, AucSummation, MetricKind};
use recurrent::{
    Activation, AdagradConfig, AdamWConfig, Callback, Dense, FitOptions, Initializer,
    LearningRateSchedule, Loss, Metric, NadamConfig, OptimizerConfig, RmspropConfig, Sequential,
};

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
    if args.get(4).map(String::as_str) == Some("features") {
        return features(&x, &y, std::path::Path::new(&args[3]));
    }

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

/// Train `model` 3 epochs (batch 16, validation split 0.25) with `callbacks`; save it
/// and its history under `dir/name`.
fn train_and_save(
    mut model: Sequential,
    x: &Array2<i32>,
    y: &Array1<i64>,
    callbacks: Vec<&mut dyn Callback>,
    dir: &std::path::Path,
    name: &str,
) -> recurrent::Result<()> {
    let history = model.fit(
        x,
        y,
        FitOptions {
            epochs: 3,
            batch_size: Some(16),
            validation_split: 0.25,
            verbose: 0,
            callbacks,
            ..Default::default()
        },
    )?;
    model.save(dir.join(format!("{name}.model")))?;
    let json = serde_json::to_string(&history.history).expect("numbers serialize");
    std::fs::write(dir.join(format!("{name}.json")), json)
        .map_err(|e| recurrent::Error::io(dir.join(name), e))
}

fn features(x: &Array2<i32>, y: &Array1<i64>, dir: &std::path::Path) -> recurrent::Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| recurrent::Error::io(dir, e))?;

    // a: initializers by class, AdamW with an ExponentialDecay rate, four metrics.
    let mut a = Sequential::with_seed(11);
    a.add(
        Embedding::new(50, 8).embeddings_initializer(Initializer::RandomNormal {
            mean: 0.0,
            stddev: 0.1,
        }),
    )?;
    a.add(
        GRU::new(5)
            .kernel_initializer(Initializer::HeUniform)
            .recurrent_initializer(Initializer::OrthogonalGain { gain: 0.5 }),
    )?;
    a.add(
        Dense::new(1)
            .activation(Activation::Sigmoid)
            .kernel_initializer(Initializer::LecunNormal),
    )?;
    let adamw = OptimizerConfig::from(AdamWConfig {
        weight_decay: 0.01,
        ..Default::default()
    })
    .with_schedule(LearningRateSchedule::ExponentialDecay {
        initial_learning_rate: 0.01,
        decay_steps: 3.0,
        decay_rate: 0.9,
        staircase: false,
    });
    let metrics = [
        Metric::new(MetricKind::Auc {
            num_thresholds: 200,
            curve: AucCurve::Roc,
            summation_method: AucSummation::Interpolation,
            from_logits: false,
        }),
        Metric::new(MetricKind::Precision { threshold: 0.4 }).with_name("p40"),
        Metric::new(MetricKind::Recall { threshold: 0.5 }),
        "acc".parse::<Metric>()?,
    ];
    a.compile(adamw, Loss::BinaryCrossentropy, &metrics)?;
    train_and_save(a, x, y, Vec::new(), dir, "a")?;

    // b: Adagrad with weight decay, halved each epoch by LearningRateScheduler.
    let mut b = Sequential::with_seed(12);
    b.add(Embedding::new(50, 8))?;
    b.add(LSTM::new(4))?;
    b.add(Dense::new(1).activation(Activation::Sigmoid))?;
    let adagrad = AdagradConfig {
        learning_rate: 0.05,
        weight_decay: Some(0.001),
        ..Default::default()
    };
    b.compile(
        adagrad,
        Loss::BinaryCrossentropy,
        &["auc".parse::<Metric>()?],
    )?;
    let mut scheduler =
        LearningRateScheduler::new(|epoch, lr| if epoch == 0 { lr } else { lr * 0.5 });
    train_and_save(b, x, y, vec![&mut scheduler as &mut dyn Callback], dir, "b")?;

    // c: Nadam with a CosineDecay rate (warmup), F1Score; d: PiecewiseConstantDecay.
    let mut c = Sequential::with_seed(13);
    c.add(Embedding::new(50, 8).embeddings_initializer(Initializer::GlorotNormal))?;
    c.add(
        LSTM::new(4).kernel_initializer(Initializer::VarianceScaling {
            scale: 2.0,
            mode: recurrent::layers::initializers::FanMode::FanOut,
            distribution: recurrent::layers::initializers::Distribution::Uniform,
        }),
    )?;
    c.add(Dense::new(1).activation(Activation::Sigmoid))?;
    let nadam = OptimizerConfig::from(NadamConfig::default()).with_schedule(
        LearningRateSchedule::CosineDecay {
            initial_learning_rate: 0.001,
            decay_steps: 6.0,
            alpha: 0.1,
            warmup_target: Some(0.02),
            warmup_steps: 3.0,
        },
    );
    let f1 = Metric::new(MetricKind::F1Score {
        average: None,
        threshold: Some(0.5),
    });
    c.compile(nadam, Loss::BinaryCrossentropy, &[f1])?;
    train_and_save(c, x, y, Vec::new(), dir, "c")?;

    let mut d = Sequential::with_seed(14);
    d.add(Embedding::new(50, 8))?;
    d.add(GRU::new(4))?;
    d.add(Dense::new(1).activation(Activation::Sigmoid))?;
    let rmsprop = OptimizerConfig::from(RmspropConfig::default()).with_schedule(
        LearningRateSchedule::PiecewiseConstantDecay {
            boundaries: vec![4.0, 8.0],
            values: vec![0.01, 0.005, 0.001],
        },
    );
    d.compile(
        rmsprop,
        Loss::BinaryCrossentropy,
        &["Precision".parse::<Metric>()?],
    )?;
    train_and_save(d, x, y, Vec::new(), dir, "d")
}
