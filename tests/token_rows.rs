//! Training a recurrent layer on an Embedding's output with the token id of each row
//! (`ForwardContext::tokens`, layers/token_rows.rs): the input projection is computed
//! once per distinct token and the kernel gradient summed per token. The outputs, input
//! gradients and recurrent gradients must equal the untold layer's bit for bit; the
//! kernel gradient (summed in another order) to float rounding.

use ndarray::{Array2, ArrayD, IxDyn};
use recurrent::layers::{ForwardContext, GRU, LSTM, Layer, LayerInput};
use recurrent::rng::SeededRng;

const VOCAB: usize = 13;
const FEATURES: usize = 6;
const STEPS: usize = 23;

fn layer(kind: &str, units: usize, seq: bool, features: usize) -> Box<dyn Layer> {
    let mut l: Box<dyn Layer> = match kind {
        "lstm" => Box::new(LSTM::new(units).return_sequences(seq)),
        "gru" => Box::new(GRU::new(units).return_sequences(seq)),
        "gru_v1" => Box::new(GRU::new(units).return_sequences(seq).reset_after(false)),
        other => panic!("unknown layer kind {other}"),
    };
    l.build(&[Some(STEPS), Some(features)], &mut SeededRng::new(3))
        .unwrap();
    l
}

/// Token ids (batch, STEPS) in [1, VOCAB), the rows an embedding table gives them
/// (batch, STEPS, features), and a pre-padding mask when `masked`.
fn inputs(
    batch: usize,
    masked: bool,
    seed: u64,
    features: usize,
) -> (Vec<usize>, ArrayD<f32>, Option<Array2<bool>>) {
    let mut rng = SeededRng::new(seed);
    let table: Vec<f32> = (0..VOCAB * features)
        .map(|_| rng.uniform(-1.0, 1.0))
        .collect();
    let ids: Vec<usize> = (0..batch * STEPS)
        .map(|_| 1 + (rng.next_u64() % (VOCAB as u64 - 1)) as usize)
        .collect();
    let x: Vec<f32> = ids
        .iter()
        .flat_map(|&id| table[id * features..(id + 1) * features].to_vec())
        .collect();
    let x = ArrayD::from_shape_vec(IxDyn(&[batch, STEPS, features]), x).unwrap();
    let mask = masked.then(|| {
        let mut m = Array2::from_elem((batch, STEPS), true);
        for mut row in m.rows_mut() {
            let real = 1 + (rng.next_u64() % STEPS as u64) as usize;
            row.iter_mut().take(STEPS - real).for_each(|v| *v = false);
        }
        m
    });
    (ids, x, mask)
}

/// Output, input gradient and parameter gradients of one training step.
fn step(
    l: &mut dyn Layer,
    x: &ArrayD<f32>,
    tokens: Option<&[usize]>,
    mask: &Option<Array2<bool>>,
) -> (ArrayD<f32>, ArrayD<f32>, Vec<ArrayD<f32>>) {
    let mut rng = SeededRng::new(9);
    let mut ctx = ForwardContext::new(true, &mut rng)
        .with_mask(mask.as_ref())
        .with_tokens(tokens);
    let out = l.forward(LayerInput::Floats(x.view()), &mut ctx).unwrap();
    let mut rng = SeededRng::new(4);
    let dy = out.mapv(|_| rng.uniform(-1.0, 1.0));
    let dx = l.backward(dy).unwrap().unwrap();
    let grads = l.params().iter().map(|p| p.grad.clone()).collect();
    (out, dx, grads)
}

fn same_bits(a: &ArrayD<f32>, b: &ArrayD<f32>, what: &str) {
    assert_eq!(a.shape(), b.shape(), "{what}: shapes");
    for (i, (p, q)) in a.iter().zip(b).enumerate() {
        assert_eq!(p.to_bits(), q.to_bits(), "{what}: element {i}: {p} vs {q}");
    }
}

fn close(a: &ArrayD<f32>, b: &ArrayD<f32>, what: &str) {
    let scale = b.iter().fold(0.0f32, |m, v| m.max(v.abs())).max(1e-6);
    let worst = a
        .iter()
        .zip(b)
        .fold(0.0f32, |m, (p, q)| m.max((p - q).abs()));
    assert!(
        worst <= 2e-6 * scale,
        "{what}: differs by {worst} (scale {scale})"
    );
}

fn check(kind: &str, units: usize, seq: bool, batch: usize, masked: bool) {
    check_features(kind, units, seq, batch, masked, FEATURES)
}

fn check_features(kind: &str, units: usize, seq: bool, batch: usize, masked: bool, f: usize) {
    let what = format!("{kind}({units}) seq={seq} batch={batch} masked={masked} features={f}");
    let (ids, x, mask) = inputs(batch, masked, units as u64 + batch as u64, f);
    let mut told = layer(kind, units, seq, f);
    let mut untold = layer(kind, units, seq, f);
    let (out_a, dx_a, grads_a) = step(told.as_mut(), &x, Some(&ids), &mask);
    let (out_b, dx_b, grads_b) = step(untold.as_mut(), &x, None, &mask);
    same_bits(&out_a, &out_b, &format!("{what}: output"));
    same_bits(&dx_a, &dx_b, &format!("{what}: input gradient"));
    let names: Vec<&str> = told.params().iter().map(|p| p.name).collect();
    for ((name, a), b) in names.iter().zip(&grads_a).zip(&grads_b) {
        let what = format!("{what}: {name} gradient");
        if name.ends_with("kernel") && !name.ends_with("recurrent_kernel") {
            close(a, b, &what);
        } else {
            same_bits(a, b, &what);
        }
    }

    // The told layer does use the ids: ids that claim all rows are one token give
    // another output (every row then reads the first row's projection).
    let liar = vec![1usize; ids.len()];
    let (out_c, _, _) = step(told.as_mut(), &x, Some(&liar), &mask);
    assert!(out_c != out_b, "{what}: the token ids were not used");
}

#[test]
fn lstm_trained_with_token_ids_equals_the_untold_layer() {
    for masked in [false, true] {
        for seq in [false, true] {
            // 37 samples: three time-loop blocks; 3: fewer rows than one block.
            check("lstm", 5, seq, 37, masked);
            check("lstm", 5, seq, 3, masked);
        }
        check("lstm", 67, false, 20, masked);
        // One input feature: the kernel gradient's product is not split in halves.
        check_features("lstm", 5, false, 37, masked, 1);
    }
}

#[test]
fn gru_trained_with_token_ids_equals_the_untold_layer() {
    for kind in ["gru", "gru_v1"] {
        for masked in [false, true] {
            check(kind, 5, true, 37, masked);
            check(kind, 5, false, 3, masked);
        }
        check(kind, 40, false, 20, false);
    }
}

#[test]
fn token_rows_results_do_not_depend_on_thread_count() {
    let (ids, x, mask) = inputs(90, true, 5, FEATURES);
    let bits = |kind: &str, threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            let mut l = layer(kind, 7, false, FEATURES);
            let (out, dx, grads) = step(l.as_mut(), &x, Some(&ids), &mask);
            let all = out.iter().chain(dx.iter()).chain(grads.iter().flatten());
            all.map(|v| v.to_bits()).collect::<Vec<u32>>()
        })
    };
    for kind in ["lstm", "gru"] {
        assert!(bits(kind, 1) == bits(kind, 2), "{kind}: 1 vs 2 threads");
    }
}
