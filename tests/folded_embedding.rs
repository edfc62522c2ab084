//! At inference an Embedding followed by a recurrent layer runs folded: each distinct
//! token's input projection is computed once and cached (layers/token_projection.rs).
//! These tests compare the folded model with the same model whose Embedding output
//! reaches the recurrent layer through a Dropout(0) (which stops the fold): outputs must
//! be bit-identical, across batch sizes, masks, stacked layers, repeated calls and
//! weight changes (set_weights, fit) that the cache has to notice.

use ndarray::{Array2, ArrayD};
use recurrent::layers::{Activation, Dense, Dropout, Embedding, GRU, LSTM, Layer, SimpleRNN};
use recurrent::model::Sequential;
use recurrent::optimizers::AdamConfig;
use recurrent::rng::SeededRng;
use recurrent::{FitOptions, Loss, OptimizerConfig};

const VOCAB: usize = 40;
const STEPS: usize = 23;

fn recurrent_layer(kind: &str, units: usize, seq: bool) -> Box<dyn Layer> {
    match kind {
        "lstm" => Box::new(LSTM::new(units).return_sequences(seq)),
        "gru" => Box::new(GRU::new(units).return_sequences(seq)),
        "gru_v1" => Box::new(GRU::new(units).return_sequences(seq).reset_after(false)),
        "simple_rnn" => Box::new(SimpleRNN::new(units).return_sequences(seq)),
        other => panic!("unknown layer kind {other}"),
    }
}

/// Embedding(VOCAB, 6, mask_zero) -> [Dropout(0)] -> kind(5) [-> LSTM(3) when stacked]
/// -> Dense(2).
fn model(kind: &str, mask_zero: bool, stacked: bool, unfolded: bool) -> Sequential {
    model_with_units(kind, 5, mask_zero, stacked, unfolded)
}

fn model_with_units(
    kind: &str,
    units: usize,
    mask_zero: bool,
    stacked: bool,
    unfolded: bool,
) -> Sequential {
    let mut m = Sequential::with_seed(7);
    m.add(Embedding::new(VOCAB, 6).mask_zero(mask_zero))
        .unwrap();
    if unfolded {
        m.add(Dropout::new(0.0)).unwrap();
    }
    m.add_boxed(recurrent_layer(kind, units, stacked)).unwrap();
    if stacked {
        m.add(LSTM::new(3)).unwrap();
    }
    m.add(Dense::new(2).activation(Activation::Softmax))
        .unwrap();
    m.build(&[Some(STEPS)]).unwrap();
    m
}

/// Random ids in [1, VOCAB); with `padded`, each row keeps a random number of real
/// steps at its end (pre-padding) or start (post-padding), zeros elsewhere.
fn ids(batch: usize, padded: Option<bool>, rng: &mut SeededRng) -> Array2<i32> {
    let mut x = Array2::from_shape_fn((batch, STEPS), |_| {
        1 + (rng.next_u64() % (VOCAB as u64 - 1)) as i32
    });
    if let Some(pre) = padded {
        for mut row in x.rows_mut() {
            let real = (rng.next_u64() % (STEPS as u64 + 1)) as usize;
            for t in 0..STEPS - real {
                row[if pre { t } else { STEPS - 1 - t }] = 0;
            }
        }
    }
    x
}

fn assert_bit_identical(folded: &ArrayD<f32>, unfolded: &ArrayD<f32>, what: &str) {
    assert_eq!(folded.shape(), unfolded.shape(), "{what}: shapes");
    for (i, (a, b)) in folded.iter().zip(unfolded.iter()).enumerate() {
        assert_eq!(a.to_bits(), b.to_bits(), "{what}: element {i}: {a} vs {b}");
    }
}

fn compare(kind: &str, mask_zero: bool, stacked: bool, padded: Option<bool>) {
    compare_units(kind, 5, mask_zero, stacked, padded)
}

fn compare_units(kind: &str, units: usize, mask_zero: bool, stacked: bool, padded: Option<bool>) {
    let mut folded = model_with_units(kind, units, mask_zero, stacked, false);
    let mut unfolded = model_with_units(kind, units, mask_zero, stacked, true);
    unfolded.set_weights(&folded.get_weights()).unwrap();
    let mut rng = SeededRng::new(11);
    // 1 and 3 rows take the few-rows path, 37 spans three row blocks.
    for (call, batch) in [1, 3, 37, 37, 1].into_iter().enumerate() {
        let x = ids(batch, padded, &mut rng);
        let what = format!("{kind} mask_zero={mask_zero} stacked={stacked} call {call}");
        let a = folded.predict(&x, Some(16)).unwrap();
        let b = unfolded.predict(&x, Some(16)).unwrap();
        assert_bit_identical(&a, &b, &what);
    }
}

#[test]
fn folded_lstm_gru_and_simple_rnn_equal_the_unfolded_models() {
    for kind in ["lstm", "gru", "gru_v1", "simple_rnn"] {
        compare(kind, false, false, None);
        compare(kind, false, true, None);
        compare(kind, true, false, Some(true));
        compare(kind, true, false, Some(false));
        compare(kind, true, true, Some(true));
    }
    // A wider layer: one-row products in 128-column tiles with a remainder.
    compare_units("lstm", 67, false, false, None);
    compare_units("lstm", 67, true, true, Some(true));
}

/// The cache keeps projected rows between calls; new weights must replace them.
#[test]
fn the_cache_follows_set_weights_and_training() {
    for kind in ["lstm", "gru", "simple_rnn"] {
        let mut folded = model(kind, true, false, false);
        let mut unfolded = model(kind, true, false, true);
        unfolded.set_weights(&folded.get_weights()).unwrap();
        let mut rng = SeededRng::new(5);
        let x = ids(20, Some(true), &mut rng);
        let first = folded.predict(&x, None).unwrap();
        assert_bit_identical(&first, &unfolded.predict(&x, None).unwrap(), "before");

        // One embedding row, then the recurrent kernel, changed through set_weights.
        let mut weights = folded.get_weights();
        for (name, w) in weights.iter_mut() {
            if name.ends_with("embeddings") {
                let id = x[[0, STEPS - 1]] as usize;
                w.as_slice_mut().unwrap()[id * 6] += 0.5;
            }
        }
        folded.set_weights(&weights).unwrap();
        unfolded.set_weights(&weights).unwrap();
        let second = folded.predict(&x, None).unwrap();
        assert!(
            second != first,
            "{kind}: an embedding change must change the output"
        );
        assert_bit_identical(
            &second,
            &unfolded.predict(&x, None).unwrap(),
            "embedding row",
        );
        for (name, w) in weights.iter_mut() {
            if name.ends_with("/kernel") && !name.starts_with("dense") {
                w.mapv_inplace(|v| v * 0.9);
            }
        }
        folded.set_weights(&weights).unwrap();
        unfolded.set_weights(&weights).unwrap();
        assert_bit_identical(
            &folded.predict(&x, None).unwrap(),
            &unfolded.predict(&x, None).unwrap(),
            "kernel",
        );

        // Training changes every weight; the next predict must see it. Only the folded
        // model trains, and the unfolded one takes its weights: training told of the
        // token ids (layers/token_rows.rs) sums the kernel gradient in another order,
        // and Adam can turn such rounding into visible differences.
        let y = Array2::from_shape_fn((20, 2), |(i, j)| ((i + j) % 2) as f32);
        folded
            .compile(
                OptimizerConfig::Adam(AdamConfig {
                    learning_rate: 0.05,
                    ..AdamConfig::default()
                }),
                Loss::CategoricalCrossentropy,
                &[],
            )
            .unwrap();
        let opts = FitOptions {
            epochs: 2,
            batch_size: Some(8),
            verbose: 0,
            ..FitOptions::default()
        };
        folded.fit(&x, &y, opts).unwrap();
        unfolded.set_weights(&folded.get_weights()).unwrap();
        let trained = folded.predict(&x, None).unwrap();
        assert!(trained != second, "{kind}: training must change the output");
        assert_bit_identical(&trained, &unfolded.predict(&x, None).unwrap(), "after fit");
    }
}

/// Ids are checked before the fold, with the Embedding's message.
#[test]
fn token_ids_past_the_vocabulary_are_still_refused() {
    let mut m = model("lstm", false, false, false);
    let mut x = Array2::<i32>::ones((2, STEPS));
    x[[1, 4]] = VOCAB as i32;
    let err = m.predict(&x, None).unwrap_err().to_string();
    assert!(
        err.contains("token id 40 at sample 1, time step 4") && err.contains("embedding"),
        "{err}"
    );
}
