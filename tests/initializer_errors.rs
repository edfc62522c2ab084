//! An initializer that cannot fill its weight (Keras refuses `orthogonal` and
//! `identity` on a 1-D bias; no written form accepts a negative stddev, minval above
//! maxval, a scale <= 0 or a non-finite number, but a value built in code can hold
//! one) makes `build` return an error naming the layer, the argument and the
//! initializer: never a panic, never a silently reshaped draw. One test per error.

use recurrent::layers::config::Conv1DConfig;
use recurrent::layers::{Conv1D, Dense, Embedding, GRU, Initializer, LSTM, Layer, SimpleRNN};
use recurrent::rng::SeededRng;
use recurrent::{Error, Sequential};

/// `build`'s error message, checking it is an invalid argument, that the layer stays
/// unbuilt and that the message names each of `names`.
fn build_error(layer: &mut dyn Layer, shape: &[Option<usize>], names: &[&str]) -> String {
    let err = layer
        .build(shape, &mut SeededRng::new(1))
        .expect_err("the initializer cannot fill the weight");
    assert!(matches!(err, Error::InvalidArgument { .. }), "{err:?}");
    assert!(!layer.is_built(), "no half-built layer after {err}");
    let message = err.to_string();
    for name in names {
        assert!(message.contains(name), "`{name}` missing from: {message}");
    }
    message
}

#[test]
fn orthogonal_bias_of_an_lstm_is_an_error_naming_the_layer() {
    // unit_forget_bias draws the bias in parts of shape (u,) and (2u,): 1-D.
    let mut lstm = LSTM::new(4)
        .name("enc")
        .bias_initializer(Initializer::Orthogonal);
    build_error(
        &mut lstm,
        &[None, Some(3)],
        &[
            "LSTM 'enc'",
            "bias_initializer",
            "orthogonal",
            "at least 2 axes",
        ],
    );
}

#[test]
fn identity_bias_of_a_gru_is_an_error_naming_the_layer() {
    let gru = GRU::new(2).reset_after(false);
    let mut gru = gru.bias_initializer(Initializer::Identity { gain: 1.0 });
    build_error(
        &mut gru,
        &[None, Some(3)],
        &["GRU 'gru'", "bias_initializer", "identity", "2-D"],
    );
}

#[test]
fn negative_stddev_of_a_dense_kernel_is_an_error_naming_the_layer() {
    let init = Initializer::RandomNormal {
        mean: 0.0,
        stddev: -1.0,
    };
    let mut dense = Dense::new(3).kernel_initializer(init);
    build_error(
        &mut dense,
        &[Some(5)],
        &[
            "Dense 'dense'",
            "kernel_initializer",
            "random_normal stddev",
            ">= 0",
        ],
    );
}

#[test]
fn non_finite_mean_of_a_recurrent_kernel_is_an_error_naming_the_layer() {
    let init = Initializer::TruncatedNormal {
        mean: f32::NAN,
        stddev: 0.1,
    };
    let mut rnn = SimpleRNN::new(3).recurrent_initializer(init);
    build_error(
        &mut rnn,
        &[None, Some(2)],
        &[
            "SimpleRNN 'simple_rnn'",
            "recurrent_initializer",
            "mean",
            "finite",
        ],
    );
}

#[test]
fn minval_above_maxval_of_an_embedding_is_an_error_naming_the_layer() {
    let init = Initializer::RandomUniform {
        minval: 1.0,
        maxval: -1.0,
    };
    let mut emb = Embedding::new(10, 4).embeddings_initializer(init);
    build_error(
        &mut emb,
        &[Some(6)],
        &["Embedding 'embedding'", "embeddings_initializer", "minval"],
    );
}

#[test]
fn zero_scale_of_a_conv1d_kernel_is_an_error_naming_the_layer() {
    let mut config = Conv1DConfig::new(2, 3);
    config.kernel_initializer = Initializer::VarianceScaling {
        scale: 0.0,
        mode: recurrent::layers::initializers::FanMode::FanIn,
        distribution: recurrent::layers::initializers::Distribution::Uniform,
    };
    let mut conv = Conv1D::from_config(config).unwrap();
    build_error(
        &mut conv,
        &[Some(8), Some(2)],
        &["Conv1D 'conv1d'", "kernel_initializer", "scale", "> 0"],
    );
}

/// Through a model: the error reaches the caller of `build` with the layer's name.
#[test]
fn a_model_with_a_bad_initializer_fails_to_build_with_the_layer_named() {
    let mut model = Sequential::new();
    model.add(Embedding::new(20, 4)).unwrap();
    let lstm = LSTM::new(3).name("lstm_bad");
    (model.add(lstm.bias_initializer(Initializer::Identity { gain: 2.0 }))).unwrap();
    let err = model
        .build(&[Some(7)])
        .expect_err("identity cannot fill a 1-D bias");
    let message = err.to_string();
    assert!(
        message.contains("lstm_bad") && message.contains("bias_initializer"),
        "{message}"
    );
}
