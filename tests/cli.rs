//! End-to-end tests of the `recurrent` binary on generated data: train, predict from
//! raw text after loading, resume, Ctrl-C, and the messages of bad configs.
#![cfg(feature = "cli")]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_recurrent");

/// A small generated-sentiment config that learns in a few seconds.
fn small_config(epochs: usize, extra_fit: &str) -> String {
    format!(
        r#"
[data]
source = "generated"
task = "sentiment"
samples = 1500
num_words = 100
maxlen = 60
validation_split = 0.2
seed = 7

[model]
layers = [
  {{ type = "embedding", input_dim = 100, output_dim = 8 }},
  {{ type = "lstm", units = 8 }},
  {{ type = "dense", units = 1, activation = "sigmoid" }},
]

[compile]
optimizer = {{ type = "adam", learning_rate = 0.01 }}
loss = "binary_crossentropy"
metrics = ["accuracy"]

[fit]
epochs = {epochs}
batch_size = 16
{extra_fit}
"#
    )
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn run(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn history_len(out: &Path) -> usize {
    let h: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("history.json")).unwrap()).unwrap();
    h["epoch"].as_array().unwrap().len()
}

#[test]
fn train_writes_everything_and_predicts_raw_text_after_load() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write(
        dir.path(),
        "run.toml",
        &small_config(
            8,
            r#"callbacks = [
  { type = "model_checkpoint", filepath = "ckpt-{epoch:02d}", save_best_only = true },
  { type = "csv_logger", filename = "log.csv" },
]"#,
        ),
    );
    let out = dir.path().join("out");
    let o = run(&[
        "train",
        cfg.to_str().unwrap(),
        "--output",
        out.to_str().unwrap(),
    ]);
    let stdout = text(&o.stdout);
    assert!(o.status.success(), "{stdout}\n{}", text(&o.stderr));
    assert!(stdout.contains("Epoch 8/8"), "{stdout}");
    assert!(stdout.contains("Total params: 1,353"), "{stdout}");
    // Not a terminal: one line per epoch, Keras's format.
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("60/60 - ") && l.contains("s/step - accuracy: ")),
        "{stdout}"
    );
    assert!(stdout.contains("Test: accuracy: "), "{stdout}");
    for f in [
        "model.safetensors",
        "history.json",
        "history.csv",
        "log.csv",
        "test_metrics.json",
        "history_loss.png",
        "history_loss.svg",
        "history_accuracy.png",
        "history_accuracy.svg",
        "ckpt-01.safetensors",
    ] {
        assert!(out.join(f).is_file(), "missing {f}");
    }
    assert_eq!(history_len(&out), 8);
    let test: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("test_metrics.json")).unwrap())
            .unwrap();
    let acc = test["accuracy"].as_f64().unwrap();
    assert!(
        acc > 0.8,
        "the generated task should be learnt, test accuracy {acc}"
    );

    let model = out.join("model.safetensors");
    let o = run(&[
        "predict",
        model.to_str().unwrap(),
        "--json",
        "great wonderful excellent film, loved it",
        "awful boring terrible worst film, hated it",
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let preds: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(preds[0]["label"], "positive", "{preds}");
    assert_eq!(preds[1]["label"], "negative", "{preds}");

    // Plain output and stdin input.
    let mut child = Command::new(BIN)
        .args(["predict", model.to_str().unwrap()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"the best and most beautiful film\n")
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(
        text(&o.stdout).starts_with("positive\t"),
        "{}",
        text(&o.stdout)
    );

    let o = run(&["evaluate", model.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(text(&o.stdout).contains("test samples - accuracy: "));
    let o = run(&["summary", model.to_str().unwrap()]);
    assert!(text(&o.stdout).contains("lstm (LSTM)"));
    let o = run(&[
        "plot",
        out.join("history.json").to_str().unwrap(),
        "--output",
        dir.path().join("plots").to_str().unwrap(),
    ]);
    assert!(o.status.success());
    assert!(dir.path().join("plots/history_accuracy.png").is_file());
}

#[test]
fn resume_continues_epochs_and_optimizer() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write(dir.path(), "run.toml", &small_config(4, ""));
    let out = dir.path().join("out");
    let o = run(&[
        "train",
        cfg.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--epochs",
        "2",
        "--verbose",
        "0",
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(history_len(&out), 2);
    let model = out.join("model.safetensors");
    let o = run(&[
        "train",
        cfg.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--resume",
        model.to_str().unwrap(),
        "--verbose",
        "2",
    ]);
    let stdout = text(&o.stdout);
    assert!(o.status.success(), "{stdout}{}", text(&o.stderr));
    assert!(
        stdout.contains("after epoch 2") && stdout.contains("Epoch 3/4"),
        "{stdout}"
    );
    assert!(!stdout.contains("Epoch 1/4"), "{stdout}");
    assert_eq!(history_len(&out), 4);
    let o = run(&["summary", model.to_str().unwrap()]);
    // 1200 training texts, 960 after the validation split: 60 steps per epoch, 4 epochs.
    assert!(
        text(&o.stdout).contains("240 steps done"),
        "{}",
        text(&o.stdout)
    );
    // Nothing left to do.
    let o = run(&[
        "train",
        cfg.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--resume",
        model.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains("already completed 4 epochs"));
}

#[cfg(unix)]
#[test]
fn ctrl_c_saves_a_loadable_checkpoint_and_exits_130() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let cfg = write(dir.path(), "run.toml", &small_config(1000, ""));
    let out = dir.path().join("out");
    let mut child = Command::new(BIN)
        .args([
            "train",
            cfg.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
            "--verbose",
            "2",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until two epochs are done, then send SIGINT as a terminal's Ctrl-C would.
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut seen = String::new();
    let mut epochs = 0;
    while epochs < 2 {
        let mut line = String::new();
        assert!(
            reader.read_line(&mut line).unwrap() > 0,
            "training ended early: {seen}"
        );
        if line.starts_with("60/60") {
            epochs += 1;
        }
        seen.push_str(&line);
    }
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut reader, &mut rest).unwrap();
    let code = child.wait().unwrap().code();
    assert_eq!(code, Some(130), "{seen}{rest}");
    assert!(rest.contains("Interrupted during epoch"), "{rest}");
    let model = out.join("model.safetensors");
    let o = run(&["predict", model.to_str().unwrap(), "a great film"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(history_len(&out) >= 2);
    // And it resumes from there.
    let o = run(&["summary", model.to_str().unwrap()]);
    assert!(
        text(&o.stdout).contains("Trained epochs: "),
        "{}",
        text(&o.stdout)
    );
}

#[test]
fn bad_configs_give_one_line_errors() {
    let dir = tempfile::tempdir().unwrap();
    let good = small_config(2, "");
    let cases: &[(&str, &str, &str)] = &[
        (
            "num_words = 100",
            "num_wrds = 100",
            "unknown field `num_wrds`",
        ),
        (
            r#"source = "generated""#,
            r#"source = "imbd""#,
            "unknown variant `imbd`",
        ),
        (
            r#"type = "lstm""#,
            r#"type = "lstmm""#,
            "unknown variant `lstmm`",
        ),
        (
            "epochs = 2",
            "epochs = 0",
            "[fit] epochs: must be at least 1",
        ),
        ("batch_size = 16", "batch_size = -1", "batch_size"),
        (
            r#"loss = "binary_crossentropy""#,
            r#"loss = "hinge""#,
            "unknown variant `hinge`",
        ),
        (
            "validation_split = 0.2",
            "validation_split = 2.0",
            "[data] validation_split",
        ),
        ("epochs = 2", "epochs = 2\nverbose = 7", "0, 1, 2"),
        (
            "learning_rate = 0.01",
            "learning_rate = nan",
            "`compile.optimizer.learning_rate` is nan; numbers in the config must be finite",
        ),
    ];
    for (from, to, expect) in cases {
        let text_cfg = good.replacen(from, to, 1);
        assert_ne!(text_cfg, good, "case {to} did not apply");
        let cfg = write(dir.path(), "bad.toml", &text_cfg);
        let o = run(&[
            "train",
            cfg.to_str().unwrap(),
            "-o",
            dir.path().join("o").to_str().unwrap(),
        ]);
        assert_eq!(o.status.code(), Some(1), "{to}");
        let err = text(&o.stderr);
        assert!(err.starts_with("error: "), "{to}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{to}: {err}");
        assert!(err.contains("bad.toml"), "{to}: {err}");
        assert!(err.contains(expect), "{to}: expected `{expect}` in {err}");
    }
    // An output that is not a regular file is refused before training (it was found
    // when the CSV log was written, after the last epoch).
    #[cfg(unix)]
    {
        let fifo = dir.path().join("log.fifo");
        let made = Command::new("mkfifo").arg(&fifo).status();
        if made.is_ok_and(|s| s.success()) {
            let extra = format!(
                "callbacks = [{{ type = \"csv_logger\", filename = {:?} }}]",
                fifo.to_str().unwrap()
            );
            let cfg = write(dir.path(), "fifo.toml", &small_config(200, &extra));
            let out = dir.path().join("fifo-out");
            let o = run(&["train", cfg.to_str().unwrap(), "-o", out.to_str().unwrap()]);
            assert_eq!(o.status.code(), Some(1));
            let err = text(&o.stderr);
            assert!(err.contains("is not a regular file"), "{err}");
            assert!(!out.join("history.json").exists(), "{err}");
        }
        // A device as the model or the config: refused at once (reading /dev/zero as a
        // model never ended; a config is a stream read up to 64 MiB).
        let o = run(&["predict", "/dev/zero", "x"]);
        assert_eq!(o.status.code(), Some(1));
        assert!(text(&o.stderr).contains("/dev/zero: is not a regular file"));
        let o = run(&["train", "/dev/zero"]);
        assert_eq!(o.status.code(), Some(1));
        assert!(text(&o.stderr).contains("is a stream longer than 67108864 bytes"));
    }
    let o = run(&[
        "predict",
        dir.path().join("missing.safetensors").to_str().unwrap(),
        "x",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains("missing.safetensors"));
    let o = run(&["train", "--help"]);
    assert!(o.status.success() && text(&o.stdout).contains("--resume"));
}

/// `[fit] class_weight` with `[compile] weighted_metrics`: the weighted accuracy is
/// logged beside the unweighted one under Keras's name (`weighted_accuracy`, also for
/// validation) and comes back with the saved model.
#[test]
fn class_weight_and_weighted_metrics_from_the_config() {
    let dir = tempfile::tempdir().unwrap();
    let config = small_config(2, "class_weight = { \"0\" = 1.0, \"1\" = 4.0 }").replace(
        "metrics = [\"accuracy\"]",
        "metrics = [\"accuracy\"]\nweighted_metrics = [\"accuracy\"]",
    );
    let cfg = write(dir.path(), "w.toml", &config);
    let out = dir.path().join("out");
    let o = run(&[
        "train",
        cfg.to_str().unwrap(),
        "--output",
        out.to_str().unwrap(),
        "--verbose",
        "0",
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let h: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("history.json")).unwrap()).unwrap();
    for key in [
        "accuracy",
        "weighted_accuracy",
        "val_accuracy",
        "val_weighted_accuracy",
    ] {
        assert!(h["history"].get(key).is_some(), "{key} missing from {h}");
    }
    let model = recurrent::Sequential::load(out.join("model.safetensors")).unwrap();
    let names: Vec<&str> = model.weighted_metrics().iter().map(|m| m.name()).collect();
    assert_eq!(names, ["weighted_accuracy"]);
}
