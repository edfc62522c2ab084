//! Shapes, Keras parameter layouts, errors on bad input and thread-count independence
//! of Embedding, SimpleRNN, LSTM and GRU.

use ndarray::{Array2, ArrayD, IxDyn};
use recurrent::Error;
use recurrent::layers::{
    Activation, Embedding, ForwardContext, GRU, LSTM, Layer, LayerConfig, LayerInput, SimpleRNN,
};
use recurrent::rng::SeededRng;

fn random_array(shape: &[usize], seed: u64) -> ArrayD<f32> {
    let mut rng = SeededRng::new(seed);
    let n = shape.iter().product();
    ArrayD::from_shape_vec(
        IxDyn(shape),
        (0..n).map(|_| rng.uniform(-1.0, 1.0)).collect(),
    )
    .unwrap()
}

fn built(mut layer: impl Layer, shape: &[Option<usize>]) -> impl Layer {
    layer.build(shape, &mut SeededRng::new(0)).unwrap();
    layer
}

fn run(layer: &mut dyn Layer, x: &ArrayD<f32>, training: bool) -> recurrent::Result<ArrayD<f32>> {
    run_masked(layer, x, training, None)
}

fn run_masked(
    layer: &mut dyn Layer,
    x: &ArrayD<f32>,
    training: bool,
    mask: Option<&Array2<bool>>,
) -> recurrent::Result<ArrayD<f32>> {
    let mut rng = SeededRng::new(9);
    let mut ctx = ForwardContext::new(training, &mut rng).with_mask(mask);
    layer.forward(LayerInput::Floats(x.view()), &mut ctx)
}

fn message(e: Error) -> String {
    e.to_string()
}

#[test]
fn output_shapes_follow_keras() {
    let t = [Some(10), Some(8)];
    assert_eq!(
        LSTM::new(4).compute_output_shape(&t).unwrap(),
        vec![Some(4)]
    );
    assert_eq!(
        GRU::new(4)
            .return_sequences(true)
            .compute_output_shape(&t)
            .unwrap(),
        vec![Some(10), Some(4)]
    );
    assert_eq!(
        SimpleRNN::new(5)
            .return_sequences(true)
            .compute_output_shape(&[None, Some(8)])
            .unwrap(),
        vec![None, Some(5)]
    );
    assert_eq!(
        Embedding::new(100, 16)
            .compute_output_shape(&[Some(20)])
            .unwrap(),
        vec![Some(20), Some(16)]
    );
    let e = LSTM::new(4).name("enc").compute_output_shape(&[Some(8)]);
    assert!(
        matches!(e, Err(Error::Shape(ref m)) if m.contains("'enc'")),
        "{e:?}"
    );
    let e = GRU::new(4).compute_output_shape(&[Some(3), None]);
    assert!(
        matches!(e, Err(Error::Shape(ref m)) if m.contains("(None, 3, None)")),
        "{e:?}"
    );
}

#[test]
fn weight_shapes_and_counts_match_keras() {
    let lstm = built(LSTM::new(32), &[None, Some(8)]);
    let shapes: Vec<Vec<usize>> = lstm
        .params()
        .iter()
        .map(|p| p.value.shape().to_vec())
        .collect();
    assert_eq!(shapes, vec![vec![8, 128], vec![32, 128], vec![128]]);
    assert_eq!(lstm.param_count(), 5248);
    // unit_forget_bias: ones in the forget block only.
    let bias = lstm.params()[2].value.as_slice().unwrap().to_vec();
    assert!(bias[32..64].iter().all(|&b| b == 1.0));
    assert!(bias[..32].iter().chain(&bias[64..]).all(|&b| b == 0.0));

    let gru = built(GRU::new(32), &[None, Some(8)]);
    assert_eq!(gru.params()[2].value.shape(), &[2, 96]);
    assert_eq!(gru.param_count(), 4032);
    let gru = built(GRU::new(32).reset_after(false), &[None, Some(8)]);
    assert_eq!(gru.params()[2].value.shape(), &[96]);
    assert_eq!(gru.param_count(), 3936);

    let rnn = built(SimpleRNN::new(32), &[None, Some(8)]);
    assert_eq!(rnn.param_count(), 1312);
    let emb = built(Embedding::new(1000, 64), &[Some(20)]);
    assert_eq!(emb.param_count(), 64000);
    assert!(emb.params()[0].value.iter().all(|v| v.abs() <= 0.05));

    let names: Vec<&str> = lstm.params().iter().map(|p| p.name).collect();
    assert_eq!(names, ["kernel", "recurrent_kernel", "bias"]);
}

#[test]
fn output_is_last_step_of_sequence_output() {
    let x = random_array(&[4, 6, 3], 1);
    let mut last = built(LSTM::new(5), &[Some(6), Some(3)]);
    let mut seq = built(LSTM::new(5).return_sequences(true), &[Some(6), Some(3)]);
    let a = run(&mut last, &x, false).unwrap();
    let b = run(&mut seq, &x, false).unwrap();
    assert_eq!(a.shape(), &[4, 5]);
    assert_eq!(b.shape(), &[4, 6, 5]);
    for s in 0..4 {
        for j in 0..5 {
            assert_eq!(a[[s, j]], b[[s, 5, j]]);
        }
    }
}

#[test]
fn dropout_only_in_training() {
    let x = random_array(&[4, 6, 3], 2);
    let mut plain = built(GRU::new(5), &[Some(6), Some(3)]);
    let mut drop = built(GRU::new(5).dropout(0.5), &[Some(6), Some(3)]);
    let want = run(&mut plain, &x, false).unwrap();
    assert_eq!(run(&mut drop, &x, false).unwrap(), want);
    assert_ne!(run(&mut drop, &x, true).unwrap(), want);
    for mut layer in [
        Box::new(LSTM::new(5).recurrent_dropout(0.5)) as Box<dyn Layer>,
        Box::new(GRU::new(5).reset_after(false).recurrent_dropout(0.5)),
        Box::new(SimpleRNN::new(5).recurrent_dropout(0.5)),
    ] {
        layer
            .build(&[Some(6), Some(3)], &mut SeededRng::new(0))
            .unwrap();
        let inference = run(layer.as_mut(), &x, false).unwrap();
        assert_eq!(inference, run(layer.as_mut(), &x, false).unwrap());
        assert_ne!(
            inference,
            run(layer.as_mut(), &x, true).unwrap(),
            "{}",
            layer.name()
        );
    }
}

#[test]
fn bad_arguments_are_rejected() {
    let results = [
        (
            LSTM::from_config(cfg(r#"{"type":"lstm","units":0}"#)).map(drop),
            "units",
        ),
        (
            GRU::from_config(gru_cfg(r#"{"type":"gru","units":2,"dropout":1.0}"#)).map(drop),
            "dropout",
        ),
    ];
    for (result, arg) in results {
        match result {
            Err(Error::InvalidArgument { arg: a, .. }) => assert_eq!(a, arg),
            other => panic!("{arg}: {other:?}"),
        }
    }
    let mut rng = SeededRng::new(0);
    let shape = [Some(3), Some(2)];
    let unsupported: Vec<(Box<dyn Layer>, &str)> = vec![
        (Box::new(LSTM::new(2).activation(Activation::Relu)), "relu"),
        (
            Box::new(SimpleRNN::new(2).activation(Activation::Softmax)),
            "softmax",
        ),
    ];
    for (mut layer, what) in unsupported {
        match layer.build(&shape, &mut rng) {
            Err(Error::Unsupported(m)) => assert!(m.contains(what), "{m}"),
            other => panic!("{what}: {other:?}"),
        }
    }
    let e = LSTM::new(2)
        .dropout(-0.1)
        .build(&shape, &mut rng)
        .unwrap_err();
    assert!(message(e).contains("dropout"));
}

fn cfg(json: &str) -> recurrent::layers::config::LstmConfig {
    match serde_json::from_str::<LayerConfig>(json).unwrap() {
        LayerConfig::Lstm(c) => c,
        other => panic!("{other:?}"),
    }
}

fn gru_cfg(json: &str) -> recurrent::layers::config::GruConfig {
    match serde_json::from_str::<LayerConfig>(json).unwrap() {
        LayerConfig::Gru(c) => c,
        other => panic!("{other:?}"),
    }
}

#[test]
fn configs_round_trip_through_to_layer() {
    for json in [
        r#"{"type":"lstm","units":4,"return_sequences":true,"dropout":0.2}"#,
        r#"{"type":"gru","units":3,"reset_after":false}"#,
        r#"{"type":"simple_rnn","units":3,"activation":"relu"}"#,
        r#"{"type":"embedding","input_dim":10,"output_dim":3}"#,
    ] {
        let config: LayerConfig = serde_json::from_str(json).unwrap();
        let layer = config.to_layer().unwrap();
        let back: LayerConfig = serde_json::from_value(layer.config()).unwrap();
        let mut named = config.clone();
        // `config()` records the instance name.
        match &mut named {
            LayerConfig::Lstm(c) => c.name = Some("lstm".into()),
            LayerConfig::Gru(c) => c.name = Some("gru".into()),
            LayerConfig::SimpleRnn(c) => c.name = Some("simple_rnn".into()),
            LayerConfig::Embedding(c) => c.name = Some("embedding".into()),
            _ => unreachable!(),
        }
        assert_eq!(back, named, "{json}");
    }
    let mut l = LayerConfig::Lstm(cfg(r#"{"type":"lstm","units":2}"#))
        .to_layer()
        .unwrap();
    l.set_name("lstm_1".into());
    assert_eq!(l.name(), "lstm_1");
    assert_eq!(l.config()["name"], "lstm_1");
    assert_eq!((l.class_name(), l.default_name()), ("LSTM", "lstm"));
}

#[test]
fn bad_float_input_names_layer_sample_and_step() {
    let mut layer = built(LSTM::new(2).name("enc"), &[None, Some(3)]);
    let mut x = random_array(&[2, 4, 3], 3);
    x[[1, 2, 0]] = f32::NAN;
    let m = message(run(&mut layer, &x, true).unwrap_err());
    assert!(
        m.contains("'enc'") && m.contains("sample 1") && m.contains("time step 2"),
        "{m}"
    );
    x[[1, 2, 0]] = f32::INFINITY;
    assert!(matches!(run(&mut layer, &x, false), Err(Error::Data(_))));

    let wrong = random_array(&[2, 4, 5], 4);
    match run(&mut layer, &wrong, false) {
        Err(Error::Shape(m)) => assert!(m.contains("'enc'") && m.contains('3'), "{m}"),
        other => panic!("{other:?}"),
    }
    let flat = random_array(&[2, 3], 4);
    assert!(matches!(
        run(&mut layer, &flat, false),
        Err(Error::Shape(_))
    ));

    let ids = Array2::<i32>::zeros((2, 4));
    let mut rng = SeededRng::new(0);
    let mut ctx = ForwardContext::new(false, &mut rng);
    match layer.forward(LayerInput::Ids(ids.view()), &mut ctx) {
        Err(Error::Shape(m)) => assert!(m.contains("Embedding"), "{m}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn bad_token_ids_name_layer_sample_step_and_value() {
    let mut emb = built(Embedding::new(5, 2).name("tokens"), &[None]);
    let mut rng = SeededRng::new(0);
    for (bad, sample, step) in [(5, 1, 2), (-1, 0, 1)] {
        let mut ids = Array2::<i32>::zeros((2, 3));
        ids[[sample, step]] = bad;
        let mut ctx = ForwardContext::new(true, &mut rng);
        match emb.forward(LayerInput::Ids(ids.view()), &mut ctx) {
            Err(Error::Data(m)) => assert!(
                m.contains("'tokens'")
                    && m.contains(&format!("token id {bad}"))
                    && m.contains(&format!("sample {sample}"))
                    && m.contains(&format!("time step {step}")),
                "{m}"
            ),
            other => panic!("{other:?}"),
        }
    }
    let x = random_array(&[2, 3], 1);
    let mut ctx = ForwardContext::new(true, &mut rng);
    assert!(matches!(
        emb.forward(LayerInput::Floats(x.view()), &mut ctx),
        Err(Error::Shape(_))
    ));
}

#[test]
fn lifecycle_errors() {
    let x = random_array(&[2, 3, 2], 5);
    let mut fresh = LSTM::new(2);
    assert!(matches!(run(&mut fresh, &x, true), Err(Error::State(_))));

    let mut layer = built(SimpleRNN::new(2), &[None, Some(2)]);
    let g = random_array(&[2, 2], 6);
    assert!(matches!(layer.backward(g.clone()), Err(Error::State(_))));
    run(&mut layer, &x, false).unwrap();
    // Inference passes keep nothing for backward.
    assert!(matches!(layer.backward(g.clone()), Err(Error::State(_))));
    run(&mut layer, &x, true).unwrap();
    let wrong = random_array(&[2, 3, 2], 6);
    assert!(matches!(layer.backward(wrong), Err(Error::Shape(_))));
    assert!(layer.backward(g).unwrap().is_some());
    assert!(matches!(
        layer.build(&[None, Some(2)], &mut SeededRng::new(0)),
        Err(Error::State(_))
    ));
}

/// Forward + backward of `layer` on a batch spanning several fixed row blocks, inside a
/// rayon pool of `threads` threads; returns every output and gradient bit.
fn bits(make: &(dyn Fn() -> Box<dyn Layer> + Sync), threads: usize) -> Vec<u32> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    pool.install(|| {
        let mut layer = make();
        layer
            .build(&[None, Some(5)], &mut SeededRng::new(3))
            .unwrap();
        // 600 samples: several time-loop blocks and several projection row blocks.
        let x = random_array(&[600, 7, 5], 8);
        let out = run(layer.as_mut(), &x, true).unwrap();
        let dx = layer
            .backward(random_array(out.shape(), 10))
            .unwrap()
            .unwrap();
        let mut v: Vec<u32> = out.iter().chain(dx.iter()).map(|f| f.to_bits()).collect();
        for p in layer.params() {
            v.extend(p.grad.iter().map(|f| f.to_bits()));
        }
        v
    })
}

#[test]
fn results_do_not_depend_on_thread_count() {
    let makers: Vec<Box<dyn Fn() -> Box<dyn Layer> + Sync>> = vec![
        Box::new(|| Box::new(LSTM::new(6).return_sequences(true).dropout(0.2))),
        Box::new(|| Box::new(LSTM::new(6).dropout(0.1).recurrent_dropout(0.2))),
        Box::new(|| Box::new(GRU::new(6))),
        Box::new(|| Box::new(GRU::new(6).recurrent_dropout(0.2))),
        Box::new(|| Box::new(GRU::new(6).reset_after(false).return_sequences(true))),
        Box::new(|| Box::new(SimpleRNN::new(6).recurrent_dropout(0.2))),
    ];
    for make in &makers {
        let one = bits(make.as_ref(), 1);
        let two = bits(make.as_ref(), 2);
        assert_eq!(one.len(), two.len());
        assert!(
            one == two,
            "{}: results differ between 1 and 2 threads",
            make().name()
        );
    }
}

#[test]
fn masks_follow_keras_compute_mask() {
    let ids = Array2::from_shape_vec((2, 3), vec![4, 0, 2, 0, 0, 1]).unwrap();
    let input = LayerInput::Ids(ids.view());
    let emb = Embedding::new(5, 2).mask_zero(true);
    let mask = emb.compute_mask(&input, None).unwrap();
    assert_eq!(
        mask,
        Array2::from_shape_vec((2, 3), vec![true, false, true, false, false, true]).unwrap()
    );
    assert_eq!(Embedding::new(5, 2).compute_mask(&input, None), None);
    let x = random_array(&[2, 3, 2], 1);
    let floats = LayerInput::Floats(x.view());
    let seq = LSTM::new(2).return_sequences(true);
    assert_eq!(seq.compute_mask(&floats, Some(&mask)), Some(mask.clone()));
    assert_eq!(GRU::new(2).compute_mask(&floats, Some(&mask)), None);

    // A mask that does not fit the input is a shape error naming the layer.
    let mut layer = built(SimpleRNN::new(2).name("rnn"), &[None, Some(2)]);
    let wrong = Array2::from_elem((2, 4), true);
    match run_masked(&mut layer, &x, false, Some(&wrong)) {
        Err(Error::Shape(m)) => assert!(m.contains("'rnn'") && m.contains("mask"), "{m}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn masked_steps_carry_the_state_like_shorter_sequences() {
    // Post-padding [a, b, c, pad, pad] and pre-padding [pad, pad, a, b, c] give the
    // output of [a, b, c]; masked sequence outputs repeat the previous output (zeros
    // before the first real step).
    let short = random_array(&[1, 3, 2], 7);
    let mut padded = ArrayD::zeros(IxDyn(&[2, 5, 2]));
    for t in 0..3 {
        for f in 0..2 {
            padded[[0, t, f]] = short[[0, t, f]];
            padded[[1, t + 2, f]] = short[[0, t, f]];
        }
    }
    let mask = Array2::from_shape_vec(
        (2, 5),
        vec![
            true, true, true, false, false, false, false, true, true, true,
        ],
    )
    .unwrap();
    let makers: Vec<Box<dyn Fn() -> Box<dyn Layer>>> = vec![
        Box::new(|| Box::new(LSTM::new(3).return_sequences(true))),
        Box::new(|| Box::new(GRU::new(3).return_sequences(true))),
        Box::new(|| Box::new(GRU::new(3).reset_after(false).return_sequences(true))),
        Box::new(|| Box::new(SimpleRNN::new(3).return_sequences(true))),
    ];
    for make in &makers {
        let mut a = make();
        a.build(&[None, Some(2)], &mut SeededRng::new(4)).unwrap();
        let mut b = make();
        b.build(&[None, Some(2)], &mut SeededRng::new(4)).unwrap();
        let want = run(a.as_mut(), &short, false).unwrap();
        let got = run_masked(b.as_mut(), &padded, false, Some(&mask)).unwrap();
        for j in 0..3 {
            let last = want[[0, 2, j]];
            assert_eq!(got[[0, 4, j]], last, "{} post-padding", a.name());
            assert_eq!(got[[0, 3, j]], last, "{} masked output repeats", a.name());
            assert_eq!(got[[1, 4, j]], last, "{} pre-padding", a.name());
            assert_eq!(got[[1, 0, j]], 0.0, "{} leading padding", a.name());
        }
    }
}
