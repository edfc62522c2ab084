//! Learning test: a generated task that needs memory over at least 50 steps.
//!
//! Each sequence has 100 noise tokens; tokens A and B are placed once each at random
//! positions. The label is 1 when A comes before B. Deciding needs the order of the two
//! markers carried to the end of the sequence: whenever both lie in the first half (a
//! quarter of the samples, and all of the `long` evaluation set) that is 50 steps or more.
//! Samples whose markers lie late let the model learn the rule first and then stretch it
//! to long distances, as in the classic formulation of this task.

use ndarray::{Array1, Array2};
use recurrent::layers::{Embedding, GRU, LSTM, SimpleRNN};
use recurrent::{
    Activation, AdamConfig, Dense, FitOptions, Layer, Loss, Metric, Sequential, rng::SeededRng,
};

const TIME_STEPS: usize = 100;
const VOCAB: usize = 20;
const TOKEN_A: i32 = 1;
const TOKEN_B: i32 = 2;

/// `samples` sequences whose two markers lie in positions [0, `span`).
fn make_task(samples: usize, span: usize, seed: u64) -> (Array2<i32>, Array1<f32>) {
    let mut rng = SeededRng::new(seed);
    let mut x = Array2::<i32>::zeros((samples, TIME_STEPS));
    let mut y = Array1::<f32>::zeros(samples);
    for i in 0..samples {
        for t in 0..TIME_STEPS {
            x[[i, t]] = 3 + rng.below(VOCAB - 3) as i32;
        }
        let pos_a = rng.below(span);
        let mut pos_b = rng.below(span);
        while pos_b == pos_a {
            pos_b = rng.below(span);
        }
        x[[i, pos_a]] = TOKEN_A;
        x[[i, pos_b]] = TOKEN_B;
        y[i] = if pos_a < pos_b { 1.0 } else { 0.0 };
    }
    (x, y)
}

struct Outcome {
    val_accuracy: f64,
    long_accuracy: f64,
    /// Training loss per epoch.
    loss: Vec<f64>,
}

/// Train Embedding -> `recurrent` -> Dense(sigmoid); accuracy on held-out data with
/// markers anywhere, and on held-out data whose markers both lie in the first 50 steps.
fn train(recurrent: impl Layer + 'static, epochs: usize) -> Outcome {
    let (x_train, y_train) = make_task(4000, TIME_STEPS, 1);
    let (x_val, y_val) = make_task(1000, TIME_STEPS, 2);
    let (x_long, y_long) = make_task(1000, 50, 3);
    let mut model = Sequential::with_seed(7);
    model.add(Embedding::new(VOCAB, 8)).unwrap();
    model.add(recurrent).unwrap();
    model
        .add(Dense::new(1).activation(Activation::Sigmoid))
        .unwrap();
    model
        .compile(
            AdamConfig {
                learning_rate: 0.01,
                ..Default::default()
            },
            Loss::BinaryCrossentropy,
            &[Metric::Accuracy],
        )
        .unwrap();
    let history = model
        .fit(
            &x_train,
            &y_train,
            FitOptions {
                epochs,
                batch_size: Some(32),
                verbose: 2,
                ..Default::default()
            },
        )
        .unwrap();
    let accuracy = |logs: recurrent::Logs| *logs.get("accuracy").unwrap();
    Outcome {
        val_accuracy: accuracy(model.evaluate(&x_val, &y_val, None).unwrap()),
        long_accuracy: accuracy(model.evaluate(&x_long, &y_long, None).unwrap()),
        loss: history.loss().to_vec(),
    }
}

fn epochs() -> usize {
    std::env::var("EPOCHS")
        .map(|v| v.parse().unwrap())
        .unwrap_or(6)
}

#[test]
fn lstm_remembers_over_50_steps() {
    let out = train(LSTM::new(16), epochs());
    println!(
        "LSTM: val_accuracy {:.4}, markers in first 50 steps {:.4}",
        out.val_accuracy, out.long_accuracy
    );
    assert!(
        out.val_accuracy >= 0.95,
        "LSTM val_accuracy {:.4}",
        out.val_accuracy
    );
    assert!(
        out.long_accuracy >= 0.95,
        "LSTM long accuracy {:.4}",
        out.long_accuracy
    );
}

#[test]
fn gru_remembers_over_50_steps() {
    let out = train(GRU::new(16), epochs());
    println!(
        "GRU: val_accuracy {:.4}, markers in first 50 steps {:.4}",
        out.val_accuracy, out.long_accuracy
    );
    assert!(
        out.val_accuracy >= 0.95,
        "GRU val_accuracy {:.4}",
        out.val_accuracy
    );
    assert!(
        out.long_accuracy >= 0.95,
        "GRU long accuracy {:.4}",
        out.long_accuracy
    );
}

/// SimpleRNN is expected to stay near chance here (vanishing gradients over 50+ steps,
/// which is why the tutorials move to LSTM); this records what it reaches and checks
/// only that it trains (its training loss falls).
#[test]
fn simple_rnn_on_the_same_task() {
    let out = train(SimpleRNN::new(16), epochs());
    println!(
        "SimpleRNN: val_accuracy {:.4}, markers in first 50 steps {:.4}, loss {:?}",
        out.val_accuracy, out.long_accuracy, out.loss
    );
    assert!(
        out.loss.last() < out.loss.first(),
        "SimpleRNN loss {:?}",
        out.loss
    );
}
