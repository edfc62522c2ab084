//! The saved form of SimpleRNN, LSTM and GRU configs is a file format: the JSON below
//! was written by the layers before their configs shared `RecurrentArgs` (flattened),
//! and must stay byte for byte what they write and read; unknown keys stay errors.

use recurrent::layers::{
    Activation, Bidirectional, GRU, Initializer, LSTM, Layer, LayerConfig, MergeMode, SimpleRNN,
};

/// (layer, its `config()` as written before the shared struct).
fn layers() -> Vec<(Box<dyn Layer>, &'static str)> {
    vec![
        (Box::new(LSTM::new(3)), LSTM_DEFAULT),
        (
            Box::new(
                LSTM::new(5)
                    .name("enc")
                    .return_sequences(true)
                    .go_backwards(true)
                    .dropout(0.25)
                    .recurrent_dropout(0.125)
                    .unit_forget_bias(false)
                    .use_bias(false)
                    .kernel_initializer(Initializer::Zeros)
                    .input_shape(vec![None, Some(7)]),
            ),
            LSTM_ARGS,
        ),
        (Box::new(GRU::new(2).reset_after(false)), GRU_ARGS),
        (
            Box::new(
                SimpleRNN::new(4)
                    .activation(Activation::Relu)
                    .recurrent_initializer(Initializer::GlorotUniform),
            ),
            SIMPLE_ARGS,
        ),
    ]
}

const LSTM_DEFAULT: &str = r#"{"activation":"tanh","bias_initializer":"zeros","dropout":0.0,"go_backwards":false,"input_shape":null,"kernel_initializer":"glorot_uniform","name":"lstm","recurrent_activation":"sigmoid","recurrent_dropout":0.0,"recurrent_initializer":"orthogonal","return_sequences":false,"type":"lstm","unit_forget_bias":true,"units":3,"use_bias":true}"#;
const LSTM_ARGS: &str = r#"{"activation":"tanh","bias_initializer":"zeros","dropout":0.25,"go_backwards":true,"input_shape":[null,7],"kernel_initializer":"zeros","name":"enc","recurrent_activation":"sigmoid","recurrent_dropout":0.125,"recurrent_initializer":"orthogonal","return_sequences":true,"type":"lstm","unit_forget_bias":false,"units":5,"use_bias":false}"#;
const GRU_ARGS: &str = r#"{"activation":"tanh","bias_initializer":"zeros","dropout":0.0,"go_backwards":false,"input_shape":null,"kernel_initializer":"glorot_uniform","name":"gru","recurrent_activation":"sigmoid","recurrent_dropout":0.0,"recurrent_initializer":"orthogonal","reset_after":false,"return_sequences":false,"type":"gru","units":2,"use_bias":true}"#;
const SIMPLE_ARGS: &str = r#"{"activation":"relu","bias_initializer":"zeros","dropout":0.0,"go_backwards":false,"input_shape":null,"kernel_initializer":"glorot_uniform","name":"simple_rnn","recurrent_dropout":0.0,"recurrent_initializer":"glorot_uniform","return_sequences":false,"type":"simple_rnn","units":4,"use_bias":true}"#;
const BIDIRECTIONAL: &str = r#"{"layer":{"activation":"tanh","bias_initializer":"zeros","dropout":0.0,"go_backwards":false,"input_shape":null,"kernel_initializer":"glorot_uniform","name":null,"recurrent_activation":"sigmoid","recurrent_dropout":0.0,"recurrent_initializer":"orthogonal","reset_after":true,"return_sequences":true,"type":"gru","units":3,"use_bias":true},"merge_mode":"concat","name":"bidirectional","type":"bidirectional"}"#;

#[test]
fn recurrent_configs_save_as_before() {
    let got: Vec<String> = layers()
        .iter()
        .map(|(layer, _)| serde_json::to_string(&layer.config()).unwrap())
        .collect();
    for g in &got {
        println!("{g}");
    }
    let b = Bidirectional::new(
        LayerConfig::Gru(GRU::new(3).return_sequences(true).settings().clone()),
        MergeMode::Concat,
    )
    .unwrap();
    let got_b = serde_json::to_string(&b.config()).unwrap();
    println!("{got_b}");
    for ((_, want), got) in layers().into_iter().zip(got) {
        assert_eq!(got, want);
        // And read back into the same layer config.
        let back: LayerConfig = serde_json::from_str(want).unwrap();
        let again = serde_json::to_string(&back.to_layer().unwrap().config()).unwrap();
        assert_eq!(again, want);
    }
    assert_eq!(got_b, BIDIRECTIONAL);
}

#[test]
fn unknown_recurrent_keys_are_rejected() {
    for json in [
        r#"{"type":"lstm","units":4,"dropuot":0.2}"#,
        r#"{"type":"gru","units":4,"unit_forget_bias":true}"#,
        r#"{"type":"simple_rnn","units":4,"reset_after":true}"#,
    ] {
        let e = serde_json::from_str::<LayerConfig>(json).unwrap_err();
        assert!(e.to_string().contains("unknown field"), "{json}: {e}");
    }
    let e = serde_json::from_str::<LayerConfig>(r#"{"type":"lstm","dropout":0.2}"#).unwrap_err();
    assert!(e.to_string().contains("units"), "{e}");
}
