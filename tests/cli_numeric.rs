//! The `recurrent` binary on numeric data (issue 24 parts 6 and 7): a time-series CSV
//! through train -> evaluate -> predict, float `.npz` arrays of each rank Keras takes,
//! the errors of bad numeric input, a declared input shape the data does not have,
//! and failed runs leaving no output folder behind.
#![cfg(feature = "cli")]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_recurrent");

fn run(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn write(dir: &Path, name: &str, body: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, body).unwrap();
    p
}

/// A noisy daily cycle with a second column that follows it: `rows` rows.
fn series_csv(rows: usize) -> String {
    let mut s = String::from("time,temp,other\n");
    let mut noise = 0.3f64;
    for t in 0..rows {
        noise = (noise * 3.7 * (1.0 - noise)).clamp(0.01, 0.99); // logistic map
        let temp = 10.0 + 5.0 * (t as f64 * std::f64::consts::TAU / 12.0).sin() + noise;
        s.push_str(&format!("{t},{temp:.3},{:.3}\n", 50.0 - temp));
    }
    s
}

fn series_config(extra: &str, layers: &str) -> String {
    format!(
        r#"
[data]
source = "csv"
path = "s.csv"
feature_columns = ["temp", "other"]
target_column = "temp"
sequence_length = 12
normalize = true
seed = 3
{extra}

[model]
layers = [
{layers}
]

[compile]
optimizer = {{ type = "adam", learning_rate = 0.01 }}
loss = "mse"

[fit]
epochs = 8
batch_size = 16
"#
    )
}

const LSTM_12X2: &str = r#"  { type = "lstm", units = 16, input_shape = [12, 2] },
  { type = "dense", units = 1 },"#;

#[test]
fn series_csv_trains_beats_naive_evaluates_and_predicts_in_target_units() {
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), "s.csv", &series_csv(400));
    let cfg = write(tmp.path(), "c.toml", &series_config("", LSTM_12X2));
    let out = tmp.path().join("run");
    let o = train(&cfg, &out);
    let stdout = text(&o.stdout);
    assert!(o.status.success(), "{stdout}\n{}", text(&o.stderr));
    // 400 rows: 320 training rows -> 320 - 12 = 308 windows; 80 test rows -> 68.
    assert!(
        stdout.contains("308 training and 68 test windows of 12 steps x 2 features"),
        "{stdout}"
    );
    let naive: f64 = stdout
        .split("on the test windows: mse ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no baseline in {stdout}"));
    let metrics: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("test_metrics.json")).unwrap())
            .unwrap();
    let test_loss = metrics["loss"].as_f64().unwrap();
    assert!(test_loss < naive, "test mse {test_loss} vs naive {naive}");

    let model = out.join("model.safetensors");
    let o = run(&["evaluate", model.to_str().unwrap(), "--json"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let e: serde_json::Value = serde_json::from_str(&text(&o.stdout)).unwrap();
    assert!(
        (e["loss"].as_f64().unwrap() - test_loss).abs() < 1e-6,
        "{e}"
    );

    // Predict on a file of 20 rows: 20 - 12 + 1 = 9 windows, values in degrees
    // (the target's units, not standardised ones).
    let fresh: String = series_csv(400)
        .lines()
        .take(21)
        .collect::<Vec<_>>()
        .join("\n");
    let f = write(tmp.path(), "new.csv", &fresh);
    let o = run(&[
        "predict",
        model.to_str().unwrap(),
        "--file",
        f.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let lines: Vec<String> = text(&o.stdout).lines().map(str::to_string).collect();
    assert_eq!(lines.len(), 9, "{lines:?}");
    assert!(
        lines[0].starts_with("window ending at data row 12\t"),
        "{lines:?}"
    );
    for l in &lines {
        let v: f32 = l.split('\t').nth(1).unwrap().parse().unwrap();
        assert!((3.0..18.0).contains(&v), "{l}");
    }
    // Too few rows for one window: said so.
    let short: String = series_csv(5).to_string();
    let f = write(tmp.path(), "short.csv", &short);
    let o = run(&[
        "predict",
        model.to_str().unwrap(),
        "--file",
        f.to_str().unwrap(),
    ]);
    let err = text(&o.stderr);
    assert!(
        !o.status.success() && err.contains("5 rows, too few for one window"),
        "{err}"
    );
}

#[test]
fn bad_numeric_csv_input_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let good = series_csv(60);
    let mut lines: Vec<String> = good.lines().map(str::to_string).collect();
    let cases: Vec<(String, &str, &str)> = vec![
        (
            {
                lines[7] = "6,warm,40".into();
                lines.join("\n")
            },
            "",
            "line 8, column \"temp\": \"warm\" is not a number",
        ),
        (
            {
                lines[7] = "6,nan,40".into();
                lines.join("\n")
            },
            "",
            "line 8, column \"temp\": \"nan\" is not a finite number",
        ),
        (
            {
                lines[7] = "6,1".into();
                lines.join("\n")
            },
            "",
            "line 8: 2 fields, but the header has 3",
        ),
        (series_csv(10), "", "too short for one window"),
        (
            good.clone(),
            "sequence_stride = 0",
            "[data] sequence_stride: must be at least 1",
        ),
        (
            good.clone(),
            "target_column = \"nope\"",
            "no column named \"nope\"",
        ),
        (
            good.clone(),
            "text_column = \"temp\"",
            "[data] text_column: does not apply to a time-series CSV",
        ),
        (
            good.clone(),
            "sampling_rate = 99999999999",
            "[data] sampling_rate: 99999999999 is over the limit",
        ),
    ];
    for (i, (csv, extra, want)) in cases.into_iter().enumerate() {
        write(tmp.path(), "s.csv", &csv);
        // A second target_column replaces the default one.
        let mut cfg = series_config(extra, LSTM_12X2);
        if extra.starts_with("target_column") {
            cfg = cfg.replace("target_column = \"temp\"\n", "");
        }
        let c = write(tmp.path(), "c.toml", &cfg);
        let out = tmp.path().join(format!("out{i}"));
        let o = train(&c, &out);
        let err = text(&o.stderr);
        assert!(
            !o.status.success() && err.contains(want),
            "case {i}: want {want}\n{err}"
        );
        assert!(!err.contains("panicked"), "{err}");
        assert!(
            !out.exists(),
            "case {i}: a failed run left {}",
            out.display()
        );
    }
    // sequence_length = 0 and a huge one are config errors.
    write(tmp.path(), "s.csv", &good);
    for (len, want) in [
        ("0", "[data] sequence_length: must be at least 1"),
        (
            "99999999999",
            "[data] sequence_length: 99999999999 is over the limit",
        ),
    ] {
        let cfg = series_config("", LSTM_12X2)
            .replace("sequence_length = 12", &format!("sequence_length = {len}"));
        let c = write(tmp.path(), "c.toml", &cfg);
        let o = run(&[
            "train",
            c.to_str().unwrap(),
            "--output",
            tmp.path().join("o").to_str().unwrap(),
        ]);
        let err = text(&o.stderr);
        assert!(!o.status.success() && err.contains(want), "{err}");
    }
}

#[test]
fn declared_input_shape_must_match_the_windows_before_training() {
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), "s.csv", &series_csv(200));
    let layers = r#"  { type = "lstm", units = 4, input_shape = [20, 2] },
  { type = "dense", units = 1 },"#;
    let cfg = write(tmp.path(), "c.toml", &series_config("", layers));
    let out = tmp.path().join("nested/run");
    let o = train(&cfg, &out);
    let (stdout, err) = (text(&o.stdout), text(&o.stderr));
    assert!(!o.status.success());
    assert!(
        err.contains("(None, 12, 2)")
            && err.contains("layer `lstm` (LSTM) declares input_shape = [20, 2]"),
        "{err}"
    );
    assert!(
        !stdout.contains("Epoch 1/"),
        "trained before the check: {stdout}"
    );
    assert!(
        !tmp.path().join("nested").exists(),
        "left the output folder behind"
    );
}

#[test]
fn failed_runs_leave_no_empty_output_folder() {
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), "s.csv", &series_csv(200));
    let cfg = write(tmp.path(), "c.toml", &series_config("", LSTM_12X2));
    let out = tmp.path().join("a/b");
    let o = run(&[
        "train",
        cfg.to_str().unwrap(),
        "--output",
        out.to_str().unwrap(),
        "--epochs",
        "0",
    ]);
    let err = text(&o.stderr);
    assert!(
        !o.status.success() && err.contains("--epochs") && err.contains("at least 1"),
        "{err}"
    );
    assert!(!tmp.path().join("a").exists());
    // A missing data file fails after the folder checks: the folder goes again.
    let cfg = write(
        tmp.path(),
        "c.toml",
        &series_config("", LSTM_12X2).replace("s.csv", "missing.csv"),
    );
    let o = train(&cfg, &out);
    assert!(!o.status.success() && text(&o.stderr).contains("missing.csv"));
    assert!(!tmp.path().join("a").exists());
    // An existing folder is never removed, even when the run fails.
    std::fs::create_dir_all(&out).unwrap();
    let o = train(&cfg, &out);
    assert!(!o.status.success());
    assert!(out.is_dir());
}

/// A `.npy` member of float32 values.
fn npy_f32(shape: &[usize], values: &[f32]) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let shape = if dims.len() == 1 {
        format!("({},)", dims[0])
    } else {
        format!("({})", dims.join(", "))
    };
    let header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {shape}, }}\n");
    let mut v = b"\x93NUMPY\x01\x00".to_vec();
    v.extend_from_slice(&(header.len() as u16).to_le_bytes());
    v.extend_from_slice(header.as_bytes());
    for x in values {
        v.extend_from_slice(&x.to_le_bytes());
    }
    v
}

fn npy_i64(values: &[i64]) -> Vec<u8> {
    let header = format!(
        "{{'descr': '<i8', 'fortran_order': False, 'shape': ({},), }}\n",
        values.len()
    );
    let mut v = b"\x93NUMPY\x01\x00".to_vec();
    v.extend_from_slice(&(header.len() as u16).to_le_bytes());
    v.extend_from_slice(header.as_bytes());
    for x in values {
        v.extend_from_slice(&x.to_le_bytes());
    }
    v
}

/// `recurrent train CFG --output OUT`.
fn train(cfg: &Path, out: &Path) -> Output {
    run(&[
        "train",
        cfg.to_str().unwrap(),
        "--output",
        out.to_str().unwrap(),
    ])
}

fn write_npz(path: &Path, members: &[(&str, Vec<u8>)]) {
    let mut zip = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    let opts = zip::write::SimpleFileOptions::default();
    for (name, bytes) in members {
        zip.start_file(format!("{name}.npy"), opts).unwrap();
        zip.write_all(bytes).unwrap();
    }
    zip.finish().unwrap();
}

/// Deterministic values in [-1, 1).
fn values(n: usize, seed: u32) -> Vec<f32> {
    let mut s = seed.wrapping_mul(2_654_435_761).max(1);
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            (s as f32 / u32::MAX as f32) * 2.0 - 1.0
        })
        .collect()
}

fn npz_config(layers: &str, loss: &str, keys: &str) -> String {
    format!(
        r#"
[data]
source = "npz"
path = "d.npz"
{keys}

[model]
layers = [
{layers}
]

[compile]
optimizer = "adam"
loss = "{loss}"

[fit]
epochs = 2
batch_size = 8
"#
    )
}

#[test]
fn float_npz_of_each_rank_trains_and_predicts() {
    let tmp = tempfile::tempdir().unwrap();
    let npz = tmp.path().join("d.npz");
    // (N, steps, features) -> (N, 2) float targets, custom keys.
    let (n, m) = (40, 10);
    let x = values(n * 5 * 3, 1);
    let y: Vec<f32> = (0..n).flat_map(|i| [x[i * 15], x[i * 15 + 14]]).collect();
    let xt = values(m * 5 * 3, 2);
    let yt: Vec<f32> = (0..m).flat_map(|i| [xt[i * 15], xt[i * 15 + 14]]).collect();
    write_npz(
        &npz,
        &[
            ("X", npy_f32(&[n, 5, 3], &x)),
            ("Y", npy_f32(&[n, 2], &y)),
            ("Xt", npy_f32(&[m, 5, 3], &xt)),
            ("Yt", npy_f32(&[m, 2], &yt)),
        ],
    );
    let layers = r#"  { type = "gru", units = 8, input_shape = [5, 3] },
  { type = "dense", units = 2 },"#;
    let keys = r#"npz_keys = { x_train = "X", y_train = "Y", x_test = "Xt", y_test = "Yt" }"#;
    let cfg = write(tmp.path(), "c.toml", &npz_config(layers, "mse", keys));
    let out = tmp.path().join("r3");
    let o = train(&cfg, &out);
    let stdout = text(&o.stdout);
    assert!(o.status.success(), "{stdout}\n{}", text(&o.stderr));
    assert!(
        stdout.contains(
            "40 training and 10 test samples of shape [5, 3] (floats), targets floats of shape [2]"
        ),
        "{stdout}"
    );
    let model = out.join("model.safetensors");
    let o = run(&[
        "predict",
        model.to_str().unwrap(),
        "--file",
        npz.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(text(&o.stdout).lines().count(), m);

    // (N, features) with integer labels for a softmax Dense classifier.
    let x = values(n * 4, 3);
    let labels: Vec<i64> = (0..n).map(|i| i64::from(x[i * 4] > 0.0)).collect();
    let xt = values(m * 4, 4);
    let lt: Vec<i64> = (0..m).map(|i| i64::from(xt[i * 4] > 0.0)).collect();
    write_npz(
        &npz,
        &[
            ("x_train", npy_f32(&[n, 4], &x)),
            ("y_train", npy_i64(&labels)),
            ("x_test", npy_f32(&[m, 4], &xt)),
            ("y_test", npy_i64(&lt)),
        ],
    );
    let layers = r#"  { type = "dense", units = 2, activation = "softmax", input_shape = [4] },"#;
    let cfg = write(
        tmp.path(),
        "c.toml",
        &npz_config(layers, "sparse_categorical_crossentropy", ""),
    );
    let out = tmp.path().join("r2");
    let o = train(&cfg, &out);
    let stdout = text(&o.stdout);
    assert!(o.status.success(), "{stdout}\n{}", text(&o.stderr));
    assert!(
        stdout.contains("samples of shape [4] (floats), targets integer labels"),
        "{stdout}"
    );

    // Bad arrays: NaN, mismatched lengths, a missing key.
    let mut bad = x.clone();
    bad[9] = f32::NAN;
    for (members, want) in [
        (
            vec![
                ("x_train", npy_f32(&[n, 4], &bad)),
                ("y_train", npy_i64(&labels)),
                ("x_test", npy_f32(&[m, 4], &xt)),
                ("y_test", npy_i64(&lt)),
            ],
            "`x_train`: element 9 (flat index) is NaN",
        ),
        (
            vec![
                ("x_train", npy_f32(&[n, 4], &x)),
                ("y_train", npy_i64(&labels[..n - 1])),
                ("x_test", npy_f32(&[m, 4], &xt)),
                ("y_test", npy_i64(&lt)),
            ],
            "`x_train` holds 40 samples but `y_train` holds 39 targets",
        ),
        (
            vec![
                ("x_train", npy_f32(&[n, 4], &x)),
                ("y_train", npy_i64(&labels)),
                ("x_test", npy_f32(&[m, 4], &xt)),
            ],
            "no array `y_test`",
        ),
        (
            vec![
                ("x_train", npy_f32(&[n * 4], &x)),
                ("y_train", npy_i64(&labels)),
                ("x_test", npy_f32(&[m, 4], &xt)),
                ("y_test", npy_i64(&lt)),
            ],
            "float inputs need a sample axis and at least one more",
        ),
    ] {
        write_npz(&npz, &members);
        let o = train(&cfg, &out);
        let err = text(&o.stderr);
        assert!(
            !o.status.success() && err.contains(want),
            "want {want}\n{err}"
        );
    }
    // A forged header declaring a huge array is refused before allocating.
    let mut huge = npy_f32(&[n, 4], &x);
    let from = b"(40, 4)";
    let at = huge.windows(from.len()).position(|w| w == from).unwrap();
    huge.splice(
        at..at + from.len(),
        b"(4000000000, 4000000)".iter().copied(),
    );
    write_npz(
        &npz,
        &[
            ("x_train", huge),
            ("y_train", npy_i64(&labels)),
            ("x_test", npy_f32(&[m, 4], &xt)),
            ("y_test", npy_i64(&lt)),
        ],
    );
    let o = train(&cfg, &out);
    let err = text(&o.stderr);
    assert!(!o.status.success() && err.contains("x_train.npy"), "{err}");
    assert!(
        !err.contains("panicked") && !err.contains("memory allocation"),
        "{err}"
    );
}

#[test]
fn id_settings_on_float_npz_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let npz = tmp.path().join("d.npz");
    write_npz(
        &npz,
        &[
            ("x_train", npy_f32(&[4, 3], &values(12, 5))),
            ("y_train", npy_i64(&[0, 1, 0, 1])),
            ("x_test", npy_f32(&[2, 3], &values(6, 6))),
            ("y_test", npy_i64(&[1, 0])),
        ],
    );
    let layers = r#"  { type = "dense", units = 1, activation = "sigmoid", input_shape = [3] },"#;
    let cfg = write(
        tmp.path(),
        "c.toml",
        &npz_config(layers, "binary_crossentropy", "maxlen = 20"),
    );
    let out = tmp.path().join("o");
    let o = train(&cfg, &out);
    let err = text(&o.stderr);
    assert!(
        !o.status.success() && err.contains("`x_train` has a float dtype, but [data] maxlen"),
        "{err}"
    );
    assert!(!out.exists());
}

/// `npz_keys.sample_weight` names the member with one weight per training sample
/// (Keras's `fit(sample_weight=...)`): weights of 1 train exactly as no weights, zero
/// weights change the result, and a member of the wrong length is an error naming it.
#[test]
fn npz_sample_weights_weigh_training() {
    let tmp = tempfile::tempdir().unwrap();
    let npz = tmp.path().join("d.npz");
    let (n, m) = (40, 10);
    let x = values(n * 4, 3);
    let labels: Vec<i64> = (0..n).map(|i| i64::from(x[i * 4] > 0.0)).collect();
    let xt = values(m * 4, 4);
    let lt: Vec<i64> = (0..m).map(|i| i64::from(xt[i * 4] > 0.0)).collect();
    let ones = vec![1.0f32; n];
    let halves: Vec<f32> = (0..n).map(|i| (i % 2) as f32).collect();
    write_npz(
        &npz,
        &[
            ("x_train", npy_f32(&[n, 4], &x)),
            ("y_train", npy_i64(&labels)),
            ("x_test", npy_f32(&[m, 4], &xt)),
            ("y_test", npy_i64(&lt)),
            ("ones", npy_f32(&[n], &ones)),
            ("halves", npy_f32(&[n], &halves)),
            ("short", npy_f32(&[n - 1], &ones[1..])),
        ],
    );
    let layers = r#"  { type = "dense", units = 4, activation = "relu", input_shape = [4] },
  { type = "dense", units = 1, activation = "sigmoid" },"#;
    let train_with = |keys: &str, name: &str| {
        let cfg = write(
            tmp.path(),
            &format!("{name}.toml"),
            &npz_config(layers, "binary_crossentropy", keys)
                .replace("[fit]", "[fit]\nshuffle = false"),
        );
        let out = tmp.path().join(name);
        let o = train(&cfg, &out);
        (o, out)
    };
    let loss_of = |out: &Path| -> Vec<f64> {
        let h: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("history.json")).unwrap())
                .unwrap();
        h["history"]["loss"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect()
    };
    let (o, plain) = train_with("", "plain");
    assert!(o.status.success(), "{}", text(&o.stderr));
    let (o, ones) = train_with(r#"npz_keys = { sample_weight = "ones" }"#, "ones");
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(
        loss_of(&plain),
        loss_of(&ones),
        "weights of 1 are no weights"
    );
    let (o, halves) = train_with(r#"npz_keys = { sample_weight = "halves" }"#, "halves");
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_ne!(loss_of(&plain), loss_of(&halves));
    let (o, _) = train_with(r#"npz_keys = { sample_weight = "short" }"#, "short");
    assert!(!o.status.success());
    let e = text(&o.stderr);
    assert!(e.contains("39 weights for 40 samples"), "{e}");
}
