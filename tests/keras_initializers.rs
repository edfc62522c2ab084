//! The Keras importer maps every initializer Keras has, with its arguments, through
//! `Initializer::from_value` (before: only Zeros, Ones, GlorotUniform, Orthogonal with
//! gain 1 and RandomUniform). The config below is written as Keras 3 writes it
//! (`module`, `registered_name`, `seed: null`, Keras 3.10's null `input_axes`).
#![cfg(feature = "keras")]

use recurrent::interop::parse_keras_config;
use recurrent::layers::initializers::{Distribution, FanMode};
use recurrent::layers::{Initializer, LayerConfig};
use recurrent::model::Sequential;
use serde_json::{Value, json};

/// Keras 3's serialisation of an initializer.
fn keras(class: &str, config: Value) -> Value {
    json!({"module": "keras.initializers", "class_name": class, "config": config,
           "registered_name": null})
}

fn lstm(kernel: Value, recurrent: Value, bias: Value) -> Value {
    json!({"module": "keras.layers", "class_name": "LSTM", "config": {
        "name": "lstm", "trainable": true, "dtype": "float32", "return_sequences": false,
        "return_state": false, "go_backwards": false, "stateful": false, "unroll": false,
        "zero_output_for_mask": false, "units": 3, "activation": "tanh",
        "recurrent_activation": "sigmoid", "use_bias": true, "kernel_initializer": kernel,
        "recurrent_initializer": recurrent, "bias_initializer": bias,
        "unit_forget_bias": false, "kernel_regularizer": null,
        "recurrent_regularizer": null, "bias_regularizer": null,
        "activity_regularizer": null, "kernel_constraint": null,
        "recurrent_constraint": null, "bias_constraint": null, "dropout": 0.0,
        "recurrent_dropout": 0.0, "seed": null}})
}

fn dense(kernel: Value) -> Value {
    json!({"module": "keras.layers", "class_name": "Dense", "config": {
        "name": "dense", "trainable": true, "dtype": "float32", "units": 2,
        "activation": "linear", "use_bias": true, "kernel_initializer": kernel,
        "bias_initializer": keras("Zeros", json!({})), "kernel_regularizer": null,
        "bias_regularizer": null, "kernel_constraint": null, "bias_constraint": null}})
}

fn model(layers: Vec<Value>) -> String {
    let mut all = vec![json!({"module": "keras.layers", "class_name": "InputLayer",
        "config": {"batch_shape": [null, 5, 4], "dtype": "float32", "name": "input"}})];
    all.extend(layers);
    json!({"module": "keras", "class_name": "Sequential",
           "config": {"name": "sequential", "layers": all}})
    .to_string()
}

#[test]
fn every_keras_initializer_is_imported_with_its_arguments() {
    let json = model(vec![
        lstm(
            keras("HeUniform", json!({"seed": null})),
            keras(
                "TruncatedNormal",
                json!({"mean": 0.1, "stddev": 0.2, "seed": 7}),
            ),
            keras("Constant", json!({"value": 0.5})),
        ),
        dense(keras(
            "VarianceScaling",
            json!({"scale": 2.0, "mode": "fan_out", "distribution": "untruncated_normal",
                   "seed": null, "input_axes": null, "output_axes": null}),
        )),
    ]);
    let parsed = parse_keras_config(&json).unwrap();
    let LayerConfig::Lstm(l) = &parsed.layers[0] else {
        panic!("{:?}", parsed.layers[0])
    };
    assert_eq!(l.kernel_initializer, Initializer::HeUniform);
    assert_eq!(
        l.recurrent_initializer,
        Initializer::TruncatedNormal {
            mean: 0.1,
            stddev: 0.2
        }
    );
    assert_eq!(l.bias_initializer, Initializer::Constant { value: 0.5 });
    let LayerConfig::Dense(d) = &parsed.layers[1] else {
        panic!("{:?}", parsed.layers[1])
    };
    assert_eq!(
        d.kernel_initializer,
        Initializer::VarianceScaling {
            scale: 2.0,
            mode: FanMode::FanOut,
            distribution: Distribution::UntruncatedNormal,
        }
    );
    // The imported model builds with them: the constant bias is drawn as Keras would.
    let mut m = Sequential::from_configs(&parsed.layers).unwrap();
    m.build(&parsed.input_shape.unwrap()).unwrap();
    let bias = m.layers()[0].params()[2].value.clone();
    assert!(bias.iter().all(|&b| b == 0.5), "{bias:?}");
}

#[test]
fn names_aliases_and_keras_2_forms_are_imported() {
    // (Keras's value, ours)
    let cases = [
        (
            keras("GlorotNormal", json!({"seed": null})),
            Initializer::GlorotNormal,
        ),
        (keras("LecunUniform", json!({})), Initializer::LecunUniform),
        (
            keras("RandomNormal", json!({"mean": 0.0, "stddev": 0.3})),
            Initializer::RandomNormal {
                mean: 0.0,
                stddev: 0.3,
            },
        ),
        (
            keras("Orthogonal", json!({"gain": 2.0, "seed": null})),
            Initializer::OrthogonalGain { gain: 2.0 },
        ),
        (
            keras("Identity", json!({"gain": 1.5})),
            Initializer::Identity { gain: 1.5 },
        ),
        // Keras 2.0-2.2's glorot_uniform, and a bare name.
        (
            json!({"class_name": "VarianceScaling", "config": {"scale": 1.0,
                   "mode": "fan_avg", "distribution": "uniform", "seed": null}}),
            Initializer::GlorotUniform,
        ),
        (json!("he_normal"), Initializer::HeNormal),
    ];
    for (value, want) in cases {
        let json = model(vec![dense(value.clone())]);
        let parsed = parse_keras_config(&json).unwrap();
        let LayerConfig::Dense(d) = &parsed.layers[0] else {
            panic!("{:?}", parsed.layers[0])
        };
        assert_eq!(d.kernel_initializer, want, "{value}");
    }
}

#[test]
fn an_unknown_initializer_or_argument_is_an_error_naming_layer_and_key() {
    for (value, words) in [
        (
            keras("MyInit", json!({})),
            ["MyInit", "unknown initializer"],
        ),
        (
            keras("GlorotUniform", json!({"input_axes": [0]})),
            ["GlorotUniform", "input_axes"],
        ),
        (
            keras("TruncatedNormal", json!({"stddev": -1.0})),
            ["TruncatedNormal", "stddev"],
        ),
    ] {
        let err = parse_keras_config(&model(vec![dense(value)]))
            .unwrap_err()
            .to_string();
        for w in words
            .iter()
            .chain(&["Dense (`dense`)", "kernel_initializer"])
        {
            assert!(err.contains(w), "`{w}` missing from: {err}");
        }
    }
}
