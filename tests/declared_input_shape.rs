//! Issue 24 part 7: a first layer's declared `input_shape` is checked against the data
//! in `fit` (before any step), `evaluate` and `predict`, as Keras raises; data of the
//! declared shape, and a `None` (any length) time axis, still train.

use ndarray::{Array2, Array3};
use recurrent::layers::LSTM;
use recurrent::{AdamConfig, Dense, FitOptions, Loss, Sequential};

fn model(steps: Option<usize>) -> Sequential {
    let mut m = Sequential::with_seed(3);
    m.add(LSTM::new(4).input_shape(vec![steps, Some(1)]))
        .unwrap();
    m.add(Dense::new(1)).unwrap();
    m.compile(AdamConfig::default(), Loss::MeanSquaredError, &[])
        .unwrap();
    m
}

fn data(steps: usize) -> (Array3<f32>, Array2<f32>) {
    let x = Array3::from_shape_fn((16, steps, 1), |(i, t, _)| ((i + t) as f32 * 0.3).sin());
    let y = Array2::from_shape_fn((16, 1), |(i, _)| (i as f32 * 0.3).cos());
    (x, y)
}

fn opts() -> FitOptions<'static> {
    FitOptions {
        epochs: 1,
        batch_size: Some(8),
        verbose: 0,
        ..Default::default()
    }
}

#[test]
fn thirty_step_windows_into_input_shape_20_are_refused_before_training() {
    let mut m = model(Some(20));
    let before = m.get_weights();
    let (x, y) = data(30);
    let e = m.fit(&x, &y, opts()).unwrap_err().to_string();
    assert!(
        e.contains("(None, 30, 1)")
            && e.contains("layer `lstm` (LSTM) declares input_shape = [20, 1]")
            && e.contains("(None, 20, 1)"),
        "{e}"
    );
    assert_eq!(m.get_weights(), before, "a step was taken before the check");
    let e = m.evaluate(&x, &y, None).unwrap_err().to_string();
    assert!(e.contains("declares input_shape = [20, 1]"), "{e}");
    let e = m.predict(&x, None).unwrap_err().to_string();
    assert!(e.contains("declares input_shape = [20, 1]"), "{e}");
    // The declared shape trains.
    let (x, y) = data(20);
    m.fit(&x, &y, opts()).unwrap();
}

#[test]
fn a_none_time_axis_takes_any_length() {
    let mut m = model(None);
    for steps in [5, 30] {
        let (x, y) = data(steps);
        m.fit(&x, &y, opts()).unwrap();
    }
}
