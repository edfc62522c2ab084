//! `Bidirectional` as a model layer: Keras's parameter counts, shapes, weight names,
//! config round trip and errors. Numbers are checked in gradient_check.rs and parity.rs.

use recurrent::layers::{Bidirectional, Dense, LSTM, Layer, LayerConfig, MergeMode};
use recurrent::model::Sequential;

fn lstm(units: usize, seq: bool) -> LayerConfig {
    LayerConfig::Lstm(LSTM::new(units).return_sequences(seq).settings().clone())
}

#[test]
fn summary_matches_keras_parameter_count_and_names() {
    let mut m = Sequential::new();
    m.add(Bidirectional::new(lstm(32, false), MergeMode::Concat).unwrap())
        .unwrap();
    m.build(&[Some(10), Some(32)]).unwrap();
    // Keras: Bidirectional(LSTM(32)) on 32 features has 2 * 4 * (32 * 32 + 32 * 32 + 32).
    assert_eq!(m.count_params(), 16_640);
    assert_eq!(m.output_shape().unwrap(), &[Some(64)]);
    let summary = m.summary();
    assert!(
        summary.contains("bidirectional (Bidirectional)"),
        "{summary}"
    );
    assert!(summary.contains("16,640"), "{summary}");
    let names: Vec<String> = m.weight_shapes().into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        names,
        [
            "bidirectional/forward_lstm/kernel",
            "bidirectional/forward_lstm/recurrent_kernel",
            "bidirectional/forward_lstm/bias",
            "bidirectional/backward_lstm/kernel",
            "bidirectional/backward_lstm/recurrent_kernel",
            "bidirectional/backward_lstm/bias",
        ]
    );
}

#[test]
fn merge_modes_set_the_output_width() {
    for (mode, width) in [
        (MergeMode::Concat, 8),
        (MergeMode::Sum, 4),
        (MergeMode::Mul, 4),
        (MergeMode::Ave, 4),
    ] {
        let layer = Bidirectional::new(lstm(4, true), mode).unwrap();
        let shape = layer.compute_output_shape(&[Some(7), Some(3)]).unwrap();
        assert_eq!(shape, vec![Some(7), Some(width)], "{}", mode.name());
    }
}

#[test]
fn config_round_trips_with_keras_argument_names() {
    let json = r#"{"type": "bidirectional", "merge_mode": "sum",
                   "layer": {"type": "gru", "units": 5, "return_sequences": true}}"#;
    let cfg: LayerConfig = serde_json::from_str(json).unwrap();
    let layer = cfg.to_layer().unwrap();
    assert_eq!(layer.class_name(), "Bidirectional");
    let back: LayerConfig = serde_json::from_value(layer.config()).unwrap();
    match back {
        LayerConfig::Bidirectional(c) => {
            assert_eq!(c.merge_mode, MergeMode::Sum);
            assert_eq!(c.name.as_deref(), Some("bidirectional"));
            assert!(matches!(*c.layer, LayerConfig::Gru(ref g) if g.units == 5));
        }
        other => panic!("expected a Bidirectional config, got {other:?}"),
    }
    // Default merge mode is Keras's `concat`.
    let cfg: LayerConfig =
        serde_json::from_str(r#"{"type": "bidirectional", "layer": {"type": "lstm", "units": 2}}"#)
            .unwrap();
    assert!(matches!(cfg, LayerConfig::Bidirectional(ref c) if c.merge_mode == MergeMode::Concat));
}

#[test]
fn rejects_non_recurrent_layers_and_bad_merge_modes() {
    let dense = LayerConfig::Dense(serde_json::from_str(r#"{"units": 3}"#).unwrap());
    let err = Bidirectional::new(dense, MergeMode::Concat)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("SimpleRNN, LSTM or GRU") && err.contains("Dense"),
        "{err}"
    );
    let bad = r#"{"type": "bidirectional", "merge_mode": "max",
                  "layer": {"type": "lstm", "units": 2}}"#;
    let err = serde_json::from_str::<LayerConfig>(bad)
        .unwrap_err()
        .to_string();
    assert!(err.contains("max"), "{err}");
}

#[test]
fn ave_merge_keeps_the_width_for_the_next_layer() {
    // Dense after an `ave` merge sees units (3) features, not 2 * units.
    let mut m = Sequential::new();
    m.add(Bidirectional::new(lstm(3, false), MergeMode::Ave).unwrap())
        .unwrap();
    m.add(Dense::new(2)).unwrap();
    m.build(&[Some(4), Some(5)]).unwrap();
    assert_eq!(m.count_params(), 2 * 4 * (5 * 3 + 3 * 3 + 3) + 3 * 2 + 2);
}
