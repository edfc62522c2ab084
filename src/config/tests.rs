use std::path::Path;

use super::*;

const GOOD: &str = r#"
[data]
source = "imdb"        # imdb | reuters | text_dir | csv | npz | generated
num_words = 500
maxlen = 100
validation_split = 0.2
seed = 42
[model]
layers = [
  { type = "embedding", input_dim = 500, output_dim = 16 },
  { type = "lstm", units = 8, dropout = 0.3 },
  { type = "dense", units = 1, activation = "sigmoid" },
]
[compile]
optimizer = { type = "rmsprop", learning_rate = 1e-4 }
loss = "binary_crossentropy"
metrics = ["accuracy"]
[fit]
epochs = 100
batch_size = 64
callbacks = [
  { type = "early_stopping", patience = 3, restore_best_weights = true },
  { type = "model_checkpoint", filepath = "best-lstm-model", save_best_only = true },
]
"#;

fn parse(text: &str) -> Result<RunConfig> {
    RunConfig::parse(text, Path::new("run.toml"))
}

fn error_of(text: &str) -> String {
    parse(text).unwrap_err().to_string()
}

#[test]
fn the_issue_example_parses_with_keras_defaults() {
    let c = parse(GOOD).unwrap();
    assert_eq!(c.data.source, DataSource::Imdb);
    assert_eq!(c.validation_split(), 0.2);
    assert_eq!(c.model.layers.len(), 3);
    assert_eq!(c.compile.optimizer.learning_rate(), 1e-4);
    assert_eq!(c.fit.callbacks.len(), 2);
    match &c.fit.callbacks[0] {
        CallbackConfig::EarlyStopping(e) => {
            assert_eq!(e.monitor, "val_loss");
            assert_eq!(e.patience, 3);
            assert!(e.restore_best_weights);
            assert_eq!(e.min_delta, 0.0);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(c.fit.verbose, 1);
    assert!(c.fit.shuffle);
}

#[test]
fn optimizer_may_be_a_plain_name() {
    let text = GOOD.replace(
        r#"optimizer = { type = "rmsprop", learning_rate = 1e-4 }"#,
        r#"optimizer = "adam""#,
    );
    let c = parse(&text).unwrap();
    assert_eq!(c.compile.optimizer.name(), "Adam");
    assert_eq!(c.compile.optimizer.learning_rate(), 0.001);
}

#[test]
fn unknown_key_names_line_key_and_choices() {
    let e = error_of(&GOOD.replace("num_words = 500", "num_wrds = 500"));
    assert!(e.starts_with("run.toml: line 4: `num_wrds = 500`"), "{e}");
    assert!(
        e.contains("unknown field `num_wrds`") && e.contains("`num_words`"),
        "{e}"
    );
}

#[test]
fn bad_source_lists_sources() {
    let e = error_of(&GOOD.replace(r#"source = "imdb""#, r#"source = "imbd""#));
    assert!(e.contains("line 3") && e.contains("imbd"), "{e}");
    for s in ["imdb", "reuters", "text_dir", "csv", "npz", "generated"] {
        assert!(e.contains(s), "{e} lacks {s}");
    }
}

#[test]
fn bad_layer_type_and_argument() {
    let e = error_of(&GOOD.replace(r#"type = "lstm""#, r#"type = "lstmm""#));
    assert!(
        e.contains("lstmm") && e.contains("simple_rnn") && e.contains("gru"),
        "{e}"
    );
    let e = error_of(&GOOD.replace("units = 8,", "unitz = 8,"));
    assert!(e.contains("unitz"), "{e}");
    let e = error_of(&GOOD.replace("dropout = 0.3", "dropout = 1.5"));
    assert!(e.contains("dropout") && e.contains("[model] layers"), "{e}");
}

#[test]
fn bad_loss_optimizer_and_metric() {
    let e = error_of(&GOOD.replace("binary_crossentropy", "binary_crossentropyy"));
    assert!(
        e.contains("line 16") && e.contains("categorical_crossentropy"),
        "{e}"
    );
    // (adagrad and auc exist now; names we do not have are still refused, listed.)
    let e = error_of(&GOOD.replace(r#"type = "rmsprop""#, r#"type = "adadelta""#));
    assert!(e.contains("adadelta") && e.contains("adam"), "{e}");
    let e = error_of(&GOOD.replace(r#"["accuracy"]"#, r#"["aucc"]"#));
    assert!(e.contains("aucc") && e.contains("accuracy"), "{e}");
    let e = error_of(&GOOD.replace("learning_rate = 1e-4", "learning_rate = -1.0"));
    assert!(e.contains("learning_rate"), "{e}");
}

#[test]
fn range_errors_name_key_and_line() {
    let e = error_of(&GOOD.replace("validation_split = 0.2", "validation_split = 1.2"));
    assert!(e.contains("line 6: [data] validation_split"), "{e}");
    let e = error_of(&GOOD.replace("batch_size = 64", "batch_size = 0"));
    assert!(
        e.contains("[fit] batch_size") && e.contains("line 20"),
        "{e}"
    );
    let e = error_of(&GOOD.replace("epochs = 100", "epochs = 100\nverbose = 3"));
    assert!(e.contains("verbose") && e.contains("0, 1, 2"), "{e}");
    let e = error_of(&GOOD.replace("patience = 3", "patience = -3"));
    assert!(e.contains("patience") || e.contains("-3"), "{e}");
}

#[test]
fn monitor_must_be_logged() {
    let e = error_of(&GOOD.replace("patience = 3,", r#"patience = 3, monitor = "val_acc","#));
    assert!(e.contains("val_acc") && e.contains("val_accuracy"), "{e}");
    let e = error_of(&GOOD.replace("validation_split = 0.2\n", ""));
    assert!(e.contains("no validation data"), "{e}");
}

#[test]
fn paths_required_for_local_sources() {
    let e = error_of(&GOOD.replace(r#"source = "imdb""#, r#"source = "csv""#));
    assert!(e.contains("needs `path"), "{e}");
}

#[test]
fn validation_split_in_one_place_only() {
    let e = error_of(&GOOD.replace("epochs = 100", "epochs = 100\nvalidation_split = 0.1"));
    assert!(e.contains("both"), "{e}");
}

#[test]
fn missing_table_and_bad_toml() {
    let e = error_of("[data]\nsource = \"imdb\"\n");
    assert!(e.contains("model"), "{e}");
    let e = error_of("[data\nsource = 1");
    assert!(e.contains("line 1"), "{e}");
}

/// Every key of a callback table reaches the library callback: a table with every
/// key set converts to the same callback as the builder chain with those values,
/// and an empty table to the builder's (Keras's) defaults.
#[test]
fn callback_tables_convert_into_the_library_builders() {
    use crate::callbacks::{
        CsvLogger, EarlyStopping, ModelCheckpoint, ReduceLrOnPlateau, TerminateOnNan,
    };
    let dbg = |v: &dyn std::fmt::Debug| format!("{v:?}");
    let text = r#"
        callbacks = [
          { type = "early_stopping", monitor = "val_accuracy", min_delta = 0.01, patience = 4,
            verbose = 1, mode = "max", baseline = 0.5, restore_best_weights = true,
            start_from_epoch = 2 },
          { type = "model_checkpoint", filepath = "m-{epoch}", monitor = "loss", verbose = 1,
            save_best_only = true, save_weights_only = true, mode = "min",
            initial_value_threshold = 0.7 },
          { type = "csv_logger", filename = "log.csv", separator = ";", append = true },
          { type = "reduce_lr_on_plateau", monitor = "loss", factor = 0.5, patience = 2,
            verbose = 1, mode = "min", min_delta = 0.001, cooldown = 3, min_lr = 1e-5 },
          { type = "terminate_on_nan" },
        ]
    "#;
    #[derive(serde::Deserialize)]
    struct Table {
        callbacks: Vec<CallbackConfig>,
    }
    let t: Table = toml::from_str(text).unwrap();
    let [
        CallbackConfig::EarlyStopping(es),
        CallbackConfig::ModelCheckpoint(mc),
        CallbackConfig::CsvLogger(csv),
        CallbackConfig::ReduceLrOnPlateau(lr),
        CallbackConfig::TerminateOnNan(nan),
    ] = &t.callbacks[..]
    else {
        panic!("{:?}", t.callbacks)
    };
    assert_eq!(
        dbg(&EarlyStopping::from(es)),
        dbg(&EarlyStopping::new()
            .monitor("val_accuracy")
            .min_delta(0.01)
            .patience(4)
            .verbose(1)
            .mode(Mode::Max)
            .baseline(Some(0.5))
            .restore_best_weights(true)
            .start_from_epoch(2))
    );
    assert_eq!(
        dbg(&ModelCheckpoint::from(mc)),
        dbg(&ModelCheckpoint::new("m-{epoch}")
            .monitor("loss")
            .verbose(1)
            .save_best_only(true)
            .save_weights_only(true)
            .mode(Mode::Min)
            .initial_value_threshold(Some(0.7)))
    );
    assert_eq!(
        dbg(&CsvLogger::try_from(csv).unwrap()),
        dbg(&CsvLogger::new("log.csv").separator(';').append(true))
    );
    assert_eq!(
        dbg(&ReduceLrOnPlateau::from(lr)),
        dbg(&ReduceLrOnPlateau::new()
            .monitor("loss")
            .factor(0.5)
            .patience(2)
            .verbose(1)
            .mode(Mode::Min)
            .min_delta(0.001)
            .cooldown(3)
            .min_lr(1e-5))
    );
    assert_eq!(dbg(&TerminateOnNan::from(nan)), dbg(&TerminateOnNan::new()));

    // Defaults agree.
    assert_eq!(
        dbg(&EarlyStopping::from(&EarlyStoppingConfig::default())),
        dbg(&EarlyStopping::new())
    );
    assert_eq!(
        dbg(&ModelCheckpoint::from(&ModelCheckpointConfig::new("m"))),
        dbg(&ModelCheckpoint::new("m"))
    );
    assert_eq!(
        dbg(&ReduceLrOnPlateau::from(&ReduceLrOnPlateauConfig::default())),
        dbg(&ReduceLrOnPlateau::new())
    );
    let bad = CsvLoggerConfig {
        filename: "log.csv".into(),
        separator: ";;".into(),
        append: false,
    };
    let e = CsvLogger::try_from(&bad).unwrap_err().to_string();
    assert!(e.contains("separator") && e.contains(";;"), "{e}");
}

#[test]
fn stateful_layers_take_the_fit_batch_size() {
    let stateful = |b: &str| {
        GOOD.replace(
            "{ type = \"lstm\", units = 8, dropout = 0.3 }",
            &format!("{{ type = \"lstm\", units = 8, stateful = true{b} }}"),
        )
    };
    let c = parse(&stateful(", batch_size = 64")).unwrap();
    assert_eq!(c.model.layers[1].stateful_batch_size(), Some(64));
    let e = error_of(&stateful(", batch_size = 32"));
    assert!(
        e.contains("batch_size = 32") && e.contains("[fit] batch_size = 64"),
        "{e}"
    );
    let e = error_of(&stateful(""));
    assert!(e.contains("batch_size") && e.contains("stateful"), "{e}");
}

/// Keras's class names (and Keras's aliases of them) read as the snake_case types, and
/// the config written back uses the snake_case names: saved files are unchanged.
#[test]
fn keras_class_names_are_accepted_as_types() {
    let text = r#"
[data]
source = "generated"
task = "series"
maxlen = 12
[model]
layers = [
  { type = "Conv1D", filters = 4, kernel_size = 3, input_shape = [12, 1] },
  { type = "MaxPooling1D" },
  { type = "Bidirectional", layer = { type = "LSTM", units = 4, return_sequences = true } },
  { type = "GRU", units = 4, return_sequences = true },
  { type = "SimpleRNN", units = 4, return_sequences = true },
  { type = "TimeDistributed", layer = { type = "Dense", units = 2 } },
  { type = "Dropout", rate = 0.1 },
  { type = "GlobalMaxPooling1D" },
  { type = "Dense", units = 1 },
]
[compile]
optimizer = { type = "RMSprop" }
loss = "MeanSquaredError"
metrics = ["MeanAbsoluteError"]
[fit]
callbacks = [
  { type = "EarlyStopping", monitor = "loss" },
  { type = "ModelCheckpoint", filepath = "m", monitor = "loss" },
  { type = "CSVLogger", filename = "h.csv" },
  { type = "ReduceLROnPlateau", monitor = "loss" },
  { type = "TerminateOnNaN" },
  { type = "LearningRateScheduler", schedule = { type = "ExponentialDecay", initial_learning_rate = 0.01, decay_steps = 5, decay_rate = 0.5 } },
]
"#;
    let c = parse(text).unwrap();
    let layers = serde_json::to_value(&c.model.layers).unwrap();
    let types: Vec<&str> = layers
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "conv1d",
            "max_pooling1d",
            "bidirectional",
            "gru",
            "simple_rnn",
            "time_distributed",
            "dropout",
            "global_max_pooling1d",
            "dense"
        ]
    );
    assert_eq!(layers[2]["layer"]["type"], "lstm");
    assert_eq!(layers[5]["layer"]["type"], "dense");
    let callbacks = serde_json::to_value(&c.fit.callbacks).unwrap();
    let types: Vec<&str> = callbacks
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "early_stopping",
            "model_checkpoint",
            "csv_logger",
            "reduce_lr_on_plateau",
            "terminate_on_nan",
            "learning_rate_scheduler"
        ]
    );
    assert_eq!(c.compile.loss, Loss::MeanSquaredError);
    // Keras logs a metric string as written (compile_utils `get_metric`).
    assert_eq!(c.compile.metrics[0].name(), "MeanAbsoluteError");
    // Keras's other spellings of the same layers.
    for (keras, ours) in [
        ("GlobalAveragePooling1D", "global_average_pooling1d"),
        ("GlobalAvgPool1D", "global_average_pooling1d"),
        ("GlobalMaxPool1D", "global_max_pooling1d"),
        ("MaxPool1D", "max_pooling1d"),
        ("Convolution1D", "conv1d"),
    ] {
        let (from, to) = (
            r#"{ type = "GlobalMaxPooling1D" }"#,
            match keras {
                "MaxPool1D" => r#"{ type = "MaxPool1D" }"#.to_string(),
                "Convolution1D" => {
                    r#"{ type = "Convolution1D", filters = 2, kernel_size = 1 }"#.into()
                }
                k => format!(r#"{{ type = "{k}" }}"#),
            },
        );
        let c = parse(&text.replace(from, &to)).unwrap();
        let v = serde_json::to_value(&c.model.layers[7]).unwrap();
        assert_eq!(v["type"], ours, "{keras}");
    }
    let embedding = GOOD.replace(r#"type = "embedding""#, r#"type = "Embedding""#);
    let c = parse(&embedding).unwrap();
    assert_eq!(c.model.layers, parse(GOOD).unwrap().model.layers);
    for loss in [
        "BinaryCrossentropy",
        "CategoricalCrossentropy",
        "SparseCategoricalCrossentropy",
        "MeanAbsoluteError",
    ] {
        let l: Loss = loss.parse().unwrap();
        assert_eq!(serde_json::to_value(l).unwrap(), l.name(), "{loss}");
    }
}

#[test]
fn unknown_types_list_the_accepted_names() {
    let e = error_of(&GOOD.replace(r#"type = "lstm""#, r#"type = "Lstm2""#));
    for name in ["lstm", "LSTM", "gru", "GRU", "conv1d", "Conv1D", "dense"] {
        assert!(e.contains(&format!("`{name}`")), "{name} missing: {e}");
    }
    let e = error_of(&GOOD.replace(r#"type = "early_stopping""#, r#"type = "Early""#));
    for name in [
        "early_stopping",
        "EarlyStopping",
        "CSVLogger",
        "terminate_on_nan",
    ] {
        assert!(e.contains(&format!("`{name}`")), "{name} missing: {e}");
    }
    let e = error_of(&GOOD.replace("binary_crossentropy", "binary_ce"));
    assert!(
        e.contains("`binary_crossentropy`") && e.contains("`BinaryCrossentropy`"),
        "{e}"
    );
}

#[test]
fn verbose_auto_is_keras_3s_one() {
    let c = parse(&GOOD.replace("epochs = 100", "epochs = 100\nverbose = \"auto\"")).unwrap();
    assert_eq!(c.fit.verbose, 1);
    let c = parse(&GOOD.replace("epochs = 100", "epochs = 100\nverbose = 2")).unwrap();
    assert_eq!(c.fit.verbose, 2);
    let e = error_of(&GOOD.replace("epochs = 100", "epochs = 100\nverbose = \"loud\""));
    assert!(
        e.contains("line 20: `verbose = \"loud\"`") && e.contains("`loud`") && e.contains("auto"),
        "{e}"
    );
    let e = error_of(&GOOD.replace("epochs = 100", "epochs = 100\nverbose = 3"));
    assert!(e.contains("[fit] verbose") && e.contains("auto"), "{e}");
    assert_eq!(parse_verbose("auto"), Ok(1));
    assert_eq!(parse_verbose("0"), Ok(0));
    assert!(parse_verbose("3").unwrap_err().contains("0, 1, 2, auto"));
    use clap::Parser;
    let cli =
        crate::cli::Cli::try_parse_from(["recurrent", "train", "x.toml", "--verbose", "auto"])
            .unwrap();
    match cli.command {
        crate::cli::Command::Train { verbose, .. } => assert_eq!(verbose, Some(1)),
        other => panic!("{other:?}"),
    }
    assert!(
        crate::cli::Cli::try_parse_from(["recurrent", "train", "x.toml", "--verbose", "9"])
            .is_err()
    );
}

/// A bad key or value inside one layer is reported at that layer's table (inline or
/// `[[model.layers]]`), with its index, not at `layers = [`.
#[test]
fn layer_errors_point_at_the_layer() {
    // GOOD's layers are on lines 10, 11, 12 (line 1 is empty); the LSTM is layers[1].
    let e = error_of(&GOOD.replace("units = 8, dropout", "unitz = 8, dropout"));
    assert!(
        e.starts_with("run.toml: line 11, column 20: ")
            && e.contains("[model] layers[1] (layer 2)")
            && e.contains("unknown field `unitz`")
            && e.contains("`units`"),
        "{e}"
    );
    // A bad value: the table's own position.
    let e = error_of(&GOOD.replace(r#"activation = "sigmoid""#, r#"activation = "sigmoidal""#));
    assert!(
        e.starts_with("run.toml: line 12, column 3: ")
            && e.contains("layers[2] (layer 3)")
            && e.contains("sigmoidal"),
        "{e}"
    );
    // A value serde takes but the layer refuses (checked after parsing).
    let e = error_of(&GOOD.replace("dropout = 0.3", "dropout = 1.5"));
    assert!(
        e.starts_with("run.toml: line 11, column 3: [model] layers[1] (layer 2): "),
        "{e}"
    );
    // An array of tables: the key's own line inside the 3rd table.
    let tables = GOOD.replace(
        r#"layers = [
  { type = "embedding", input_dim = 500, output_dim = 16 },
  { type = "lstm", units = 8, dropout = 0.3 },
  { type = "dense", units = 1, activation = "sigmoid" },
]"#,
        r#"[[model.layers]]
type = "embedding"
input_dim = 500
output_dim = 16

[[model.layers]]
type = "lstm"
units = 8

[[model.layers]]
type = "dense"
units = 1
activaton = "sigmoid""#,
    );
    let lines: Vec<&str> = tables.lines().collect();
    let bad = lines
        .iter()
        .position(|l| l.starts_with("activaton"))
        .unwrap()
        + 1;
    let e = error_of(&tables);
    assert!(
        e.starts_with(&format!(
            "run.toml: line {bad}, column 1: `activaton = \"sigmoid\"`"
        )) && e.contains("layers[2] (layer 3)"),
        "{e}"
    );
    // A missing key: the 3rd table's header.
    let header = lines
        .iter()
        .rposition(|l| *l == "[[model.layers]]")
        .unwrap()
        + 1;
    let e = error_of(
        &tables
            .replace("units = 1\n", "")
            .replace("activaton", "activation"),
    );
    assert!(
        e.starts_with(&format!(
            "run.toml: line {header}, column 1: `[[model.layers]]`"
        )) && e.contains("layers[2] (layer 3)")
            && e.contains("units"),
        "{e}"
    );
    // Inside a wrapped layer: the inner key's line.
    let bi = GOOD.replace(
        r#"{ type = "lstm", units = 8, dropout = 0.3 },"#,
        "{ type = \"Bidirectional\", layer = {\n    type = \"LSTM\", unit = 8 } },",
    );
    let e = error_of(&bi);
    assert!(
        e.starts_with("run.toml: line 12, column 20: ") && e.contains("layers[1] (layer 2)"),
        "{e}"
    );
}

#[test]
fn weighted_metrics_are_read_and_left_out_when_empty() {
    let c = parse(&GOOD.replace(
        "metrics = [\"accuracy\"]",
        "metrics = [\"accuracy\"]\nweighted_metrics = [\"accuracy\", \"AUC\"]",
    ))
    .unwrap();
    assert_eq!(c.compile.weighted_metrics.len(), 2);
    let c = parse(GOOD).unwrap();
    assert!(c.compile.weighted_metrics.is_empty());
    let written = serde_json::to_string(&c.compile).unwrap();
    assert!(!written.contains("weighted_metrics"), "{written}");
}

#[test]
fn nan_and_inf_are_named_with_their_key_and_line() {
    let lr = GOOD.replace("learning_rate = 1e-4", "learning_rate = nan");
    assert_eq!(
        error_of(&lr),
        "run.toml: line 15: `compile.optimizer.learning_rate` is nan; numbers in the config \
         must be finite"
    );
    let dropout = GOOD.replace("dropout = 0.3", "dropout = inf");
    assert_eq!(
        error_of(&dropout),
        "run.toml: line 11: `model.layers[1].dropout` is inf; numbers in the config must be \
         finite"
    );
}
