//! The generator of hostile inputs for `tests/hostile.rs`: each function writes the
//! files of some cases into a folder and returns the command lines to run on them,
//! with what each must give. Every case is crafted here (no fixture is stored), in the
//! classes of issue 22: sizes taken on trust (huge declared layers, arrays, zip
//! members), deep nesting, truncated and foreign files, NaN and infinity, bad labels,
//! wrong shapes, out-of-range token ids, invalid UTF-8, huge lines.

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};

use ndarray::{ArrayD, IxDyn};
use recurrent::io::{SaveExtras, TensorFile, save_model};
use recurrent::{LayerConfig, Loss, Metric, OptimizerConfig, Sequential};

/// What a case must give.
#[derive(Clone, Debug)]
pub enum Expect {
    /// Exit 1 with an `error:` line containing each of these (case-insensitively).
    Error(Vec<&'static str>),
    /// Exit 0, with each of these somewhere in stdout or stderr.
    Success(Vec<&'static str>),
    /// Odd but possibly legal input: exit 0, or exit 1 with an `error:` line.
    Clean,
    /// A command-line usage error: exit 2 with an `error:` line naming these (clap's
    /// convention, as every command-line tool's).
    Usage(Vec<&'static str>),
}

#[derive(Clone, Debug)]
pub struct Case {
    pub name: String,
    pub args: Vec<OsString>,
    pub env: Vec<(&'static str, String)>,
    pub expect: Expect,
}

fn case(name: impl Into<String>, args: &[&dyn AsRefOs], expect: Expect) -> Case {
    Case {
        name: name.into(),
        args: args.iter().map(|a| a.os()).collect(),
        env: Vec::new(),
        expect,
    }
}

/// `&str` and paths alike as command-line arguments.
pub trait AsRefOs {
    fn os(&self) -> OsString;
}
impl AsRefOs for &str {
    fn os(&self) -> OsString {
        OsString::from(*self)
    }
}
impl AsRefOs for PathBuf {
    fn os(&self) -> OsString {
        self.clone().into_os_string()
    }
}

fn err(words: &[&'static str]) -> Expect {
    Expect::Error(words.to_vec())
}

fn write(dir: &Path, name: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

// ---------------------------------------------------------------------------
// Model files

/// A small real model file: embedding(100, 8) -> lstm(8) -> dense(1, sigmoid),
/// built for 20 time steps, compiled, with the CLI's data config.
fn base_model() -> TensorFile {
    let layers: Vec<LayerConfig> = serde_json::from_str(
        r#"[{"type": "embedding", "input_dim": 100, "output_dim": 8},
            {"type": "lstm", "units": 8},
            {"type": "dense", "units": 1, "activation": "sigmoid"}]"#,
    )
    .unwrap();
    let mut m = Sequential::from_configs(&layers).unwrap();
    m.build(&[Some(20)]).unwrap();
    m.compile(
        OptimizerConfig::Adam(Default::default()),
        Loss::BinaryCrossentropy,
        &[Metric::Accuracy],
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("m.safetensors");
    save_model(&m, &p, &SaveExtras::default()).unwrap();
    TensorFile::read(&p).unwrap()
}

/// `base` with its model_config's layer `layer` field `key` set to `value`.
fn with_layer_field(
    base: &TensorFile,
    layer: usize,
    key: &str,
    value: serde_json::Value,
) -> Vec<u8> {
    let mut f = base.clone();
    let mut cfg: serde_json::Value = serde_json::from_str(&f.metadata["model_config"]).unwrap();
    cfg["config"]["layers"][layer][key] = value;
    f.metadata
        .insert("model_config".into(), serde_json::to_string(&cfg).unwrap());
    f.to_bytes().unwrap()
}

pub fn model_files(dir: &Path) -> Vec<Case> {
    let base = base_model();
    let good = base.to_bytes().unwrap();
    let mut files: Vec<(&str, Vec<u8>, Vec<&'static str>)> = vec![
        (
            "lstm_4e9_units",
            with_layer_field(&base, 1, "units", 4_000_000_000u64.into()),
            vec!["lstm", "parameters"],
        ),
        (
            "embedding_1e12_rows",
            with_layer_field(&base, 0, "input_dim", 1_000_000_000_000u64.into()),
            vec!["embedding", "parameters"],
        ),
        (
            "dense_usize_max_units",
            with_layer_field(&base, 2, "units", u64::MAX.into()),
            vec!["dense"],
        ),
        (
            // Within the ceiling but more weights than the file stores.
            "lstm_bigger_than_file",
            with_layer_field(&base, 1, "units", 2000u64.into()),
            vec!["declares", "weights"],
        ),
        (
            "negative_units",
            with_layer_field(&base, 1, "units", (-5).into()),
            vec!["layer 1"],
        ),
        (
            "truncated",
            good[..good.len() * 2 / 3].to_vec(),
            vec!["safetensors"],
        ),
        ("empty", Vec::new(), vec!["safetensors"]),
        (
            "png_bytes",
            b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec(),
            vec![],
        ),
        (
            // A safetensors header length of 2^63.
            "huge_header_length",
            {
                let mut v = (1u64 << 63).to_le_bytes().to_vec();
                v.extend_from_slice(b"{}");
                v
            },
            vec![],
        ),
        ("random_bytes", pseudo_random(64 << 10, 7), vec![]),
    ];
    // Metadata that is not JSON, or JSON nested 100 000 deep.
    for (name, json) in [
        ("model_config_not_json", "{\"class_name\": ".to_string()),
        (
            "model_config_deep_json",
            "[".repeat(100_000) + &"]".repeat(100_000),
        ),
    ] {
        let mut f = base.clone();
        f.metadata.insert("model_config".into(), json);
        files.push((name, f.to_bytes().unwrap(), vec!["model_config"]));
    }
    // The CLI's saved data settings, forged: predict and evaluate size their inputs
    // from them.
    let spec = |maxlen: u64, one_hot: bool, num_words: u64| {
        serde_json::json!({
            "data": {"source": "generated", "task": "memory", "samples": 200u64,
                     "maxlen": maxlen, "num_words": num_words, "one_hot": one_hot, "seed": 1},
            "spec": {"source": "generated", "kind": "ids", "maxlen": maxlen,
                     "num_words": num_words, "one_hot": one_hot, "padding": "pre",
                     "truncating": "pre", "class_names": null}
        })
    };
    for (name, dc) in [
        (
            "data_config_maxlen_1e12",
            spec(1_000_000_000_000, false, 100),
        ),
        (
            "data_config_one_hot_1e12",
            spec(20, true, 1_000_000_000_000),
        ),
        ("data_config_samples_1e12", {
            let mut v = spec(20, false, 100);
            v["data"]["samples"] = 1_000_000_000_000u64.into();
            v
        }),
    ] {
        let mut f = base.clone();
        f.metadata
            .insert("data_config".into(), serde_json::to_string(&dc).unwrap());
        files.push((name, f.to_bytes().unwrap(), vec![]));
    }
    {
        let mut f = base.clone();
        f.tensors[0].1 = ArrayD::from_elem(IxDyn(&[3]), f32::NAN);
        files.push(("wrong_weight_shape", f.to_bytes().unwrap(), vec![]));
    }
    let mut cases = Vec::new();
    for (name, bytes, words) in files {
        let p = write(dir, &format!("{name}.safetensors"), &bytes);
        // Forged data settings matter only where data is encoded.
        let data_only = name.starts_with("data_config");
        let expect = |used: bool| {
            if used {
                Expect::Error(words.clone())
            } else {
                Expect::Clean
            }
        };
        cases.push(case(
            format!("summary model/{name}"),
            &[&"summary", &p],
            expect(!data_only),
        ));
        // `predict` does not regenerate data, so a forged sample count is unused.
        cases.push(case(
            format!("predict model/{name}"),
            &[&"predict", &p, &"1 2 3"],
            expect(!name.contains("samples")),
        ));
        if name.starts_with("lstm_4e9") || name == "truncated" || data_only {
            cases.push(case(
                format!("evaluate model/{name}"),
                &[&"evaluate", &p],
                expect(true),
            ));
            let out = dir.join(format!("{name}.onnx"));
            cases.push(case(
                format!("export model/{name}"),
                &[&"export", &p, &"--onnx", &out],
                expect(!data_only),
            ));
        }
    }
    cases.push(case(
        "summary model/a_directory",
        &[&"summary", &dir.to_path_buf()],
        err(&[]),
    ));
    cases.push(case(
        "summary model/missing_file",
        &[&"summary", &dir.join("nope.safetensors")],
        err(&["nope.safetensors"]),
    ));
    // A model file whose ceiling is lowered below its size: the env var is honoured.
    let p = write(dir, "good.safetensors", &good);
    let mut c = case(
        "summary model/over_RECURRENT_MAX_PARAMS",
        &[&"summary", &p],
        err(&["RECURRENT_MAX_PARAMS"]),
    );
    c.env.push(("RECURRENT_MAX_PARAMS", "100".into()));
    cases.push(c);
    cases
}

/// Deterministic bytes (xorshift), no dependency on a random source.
pub fn pseudo_random(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

// ---------------------------------------------------------------------------
// Configs

/// A small config: `data` is the `[data]` body, `layers` the layer list.
pub fn config(data: &str, layers: &str, extra: &str) -> String {
    format!(
        r#"[data]
{data}

[model]
layers = [
{layers}
]

[compile]
optimizer = {{ type = "adam", learning_rate = 0.01 }}
loss = "binary_crossentropy"
metrics = ["accuracy"]

[fit]
epochs = 1
batch_size = 16
verbose = 0
{extra}
"#
    )
}

const SMALL_LAYERS: &str = r#"{ type = "embedding", input_dim = 100, output_dim = 8 },
{ type = "lstm", units = 4 },
{ type = "dense", units = 1, activation = "sigmoid" },"#;

const GENERATED: &str = r#"source = "generated"
task = "sentiment"
samples = 200
num_words = 100
maxlen = 20"#;

pub fn configs(dir: &Path) -> Vec<Case> {
    let out = dir.join("out");
    let mut cases = Vec::new();
    let layer_cases: [(&str, String, Vec<&'static str>); 4] = [
        (
            "lstm_4096x1e6_units",
            SMALL_LAYERS.replace("units = 4", "units = 4000000000"),
            vec!["lstm", "parameters"],
        ),
        (
            "embedding_1e12",
            SMALL_LAYERS.replace("input_dim = 100", "input_dim = 1000000000000"),
            vec!["embedding", "parameters"],
        ),
        (
            "dense_1e10_units",
            SMALL_LAYERS.replace("units = 1, activation", "units = 10000000000, activation"),
            vec!["dense", "parameters"],
        ),
        (
            "bidirectional_gru_huge",
            SMALL_LAYERS.replace(
                r#"{ type = "lstm", units = 4 }"#,
                r#"{ type = "bidirectional", layer = { type = "gru", units = 3000000000 } }"#,
            ),
            vec!["bidirectional", "parameters"],
        ),
    ];
    for (name, layers, words) in layer_cases {
        let p = write(dir, &format!("{name}.toml"), config(GENERATED, &layers, ""));
        cases.push(case(
            format!("summary config/{name}"),
            &[&"summary", &p],
            Expect::Error(words.clone()),
        ));
        cases.push(case(
            format!("train config/{name}"),
            &[&"train", &p, &"-o", &out],
            Expect::Error(words),
        ));
    }
    let texts: [(&str, Vec<u8>, Vec<&'static str>); 6] = [
        ("empty", Vec::new(), vec![]),
        ("not_toml", b"[data\nsource = ".to_vec(), vec![]),
        (
            "invalid_utf8",
            b"[data]\nsource = \"gen\xff\xfe\"\n".to_vec(),
            vec![],
        ),
        (
            "deep_toml_arrays",
            format!("x = {}{}", "[".repeat(100_000), "]".repeat(100_000)).into_bytes(),
            vec![],
        ),
        (
            "huge_string_20mb",
            config(
                &format!("source = \"{}\"", "g".repeat(20 << 20)),
                SMALL_LAYERS,
                "",
            )
            .into_bytes(),
            vec![],
        ),
        (
            "unknown_layer_type",
            config(GENERATED, &SMALL_LAYERS.replace("lstm", "lstmm"), "").into_bytes(),
            vec!["lstmm"],
        ),
    ];
    // Training settings that used to panic, train silently wrong, or fail late.
    let csv_dir = dir.join("csv_log_is_a_folder");
    std::fs::create_dir_all(&csv_dir).unwrap();
    let fits: Vec<(&str, String, Vec<&'static str>)> = vec![
        (
            "checkpoint_width_999999999",
            config(
                GENERATED,
                SMALL_LAYERS,
                "callbacks = [{ type = \"model_checkpoint\", filepath = \"m-{epoch:999999999d}.safetensors\", monitor = \"loss\" }]",
            ),
            vec!["filepath", "255"],
        ),
        (
            "series_samples_1",
            config(
                "source = \"generated\"\ntask = \"series\"\nsamples = 1\nmaxlen = 10",
                r#"{ type = "lstm", units = 4 },
{ type = "dense", units = 1 },"#,
                "",
            )
            .replace("binary_crossentropy", "mean_squared_error")
            .replace("metrics = [\"accuracy\"]", "metrics = []"),
            vec!["samples"],
        ),
        (
            "softmax_one_unit",
            config(GENERATED, &SMALL_LAYERS.replace("sigmoid", "softmax"), ""),
            vec!["softmax", "sigmoid"],
        ),
        (
            "csv_logger_path_is_a_folder",
            config(
                GENERATED,
                SMALL_LAYERS,
                &format!(
                    "callbacks = [{{ type = \"csv_logger\", filename = {:?} }}]",
                    csv_dir.to_str().unwrap()
                ),
            ),
            vec!["folder"],
        ),
        (
            "maxlen_1e12",
            config(
                &GENERATED.replace("maxlen = 20", "maxlen = 1000000000000"),
                SMALL_LAYERS,
                "",
            ),
            vec!["maxlen"],
        ),
        (
            "samples_1e12",
            config(
                &GENERATED.replace("samples = 200", "samples = 1000000000000"),
                SMALL_LAYERS,
                "",
            ),
            vec!["samples"],
        ),
        (
            "one_hot_width_1e9",
            config(
                &GENERATED
                    .replace("num_words = 100", "num_words = 1000000000\none_hot = true")
                    .replace("sentiment", "memory"),
                r#"{ type = "lstm", units = 4 },
{ type = "dense", units = 1, activation = "sigmoid" },"#,
                "",
            ),
            vec!["one_hot"],
        ),
    ];
    for (name, text, words) in fits {
        let p = write(dir, &format!("{name}.toml"), text);
        cases.push(case(
            format!("train config/{name}"),
            &[&"train", &p, &"-o", &out.join(name)],
            Expect::Error(words),
        ));
    }
    let p = write(dir, "verbose.toml", config(GENERATED, SMALL_LAYERS, ""));
    cases.push(case(
        "train config/--verbose_9",
        &[&"train", &p, &"-o", &out, &"--verbose", &"9"],
        Expect::Usage(vec!["verbose"]),
    ));
    for (name, bytes, words) in texts {
        let p = write(dir, &format!("{name}.toml"), bytes);
        cases.push(case(
            format!("train config/{name}"),
            &[&"train", &p, &"-o", &out],
            Expect::Error(words),
        ));
    }
    cases
}

// ---------------------------------------------------------------------------
// npz archives

/// A `.npy` byte stream: version 1 header for `descr` and `shape`, then `payload`.
pub fn npy(descr: &str, shape: &str, payload: &[u8]) -> Vec<u8> {
    let mut header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut v = b"\x93NUMPY\x01\x00".to_vec();
    v.extend_from_slice(&(header.len() as u16).to_le_bytes());
    v.extend_from_slice(header.as_bytes());
    v.extend_from_slice(payload);
    v
}

/// `.npy` of an int32 (n, t) array.
pub fn npy_i32(rows: &[Vec<i32>]) -> Vec<u8> {
    let t = rows.first().map_or(0, Vec::len);
    let payload: Vec<u8> = rows
        .iter()
        .flatten()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    npy("<i4", &format!("({}, {t})", rows.len()), &payload)
}

/// `.npy` of int64 labels.
pub fn npy_labels(labels: &[i64]) -> Vec<u8> {
    let payload: Vec<u8> = labels.iter().flat_map(|v| v.to_le_bytes()).collect();
    npy("<i8", &format!("({},)", labels.len()), &payload)
}

/// A zip of `members` (deflated).
pub fn zip_of(members: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut buf = std::io::Cursor::new(Vec::new());
    {
        let mut z = zip::ZipWriter::new(&mut buf);
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .large_file(false);
        for (name, bytes) in members {
            z.start_file(*name, opts).unwrap();
            z.write_all(bytes).unwrap();
        }
        z.finish().unwrap();
    }
    buf.into_inner()
}

/// Rewrites every uncompressed-size field of a zip (local headers and central
/// directory) to `size`: an archive whose members inflate beyond what they declare.
pub fn forge_uncompressed_sizes(zip: &mut [u8], size: u32) {
    let mut i = 0;
    while i + 4 <= zip.len() {
        let sig = &zip[i..i + 4];
        if sig == b"PK\x03\x04" && i + 26 <= zip.len() {
            zip[i + 22..i + 26].copy_from_slice(&size.to_le_bytes());
        } else if sig == b"PK\x01\x02" && i + 28 <= zip.len() {
            zip[i + 24..i + 28].copy_from_slice(&size.to_le_bytes());
        }
        i += 1;
    }
}

fn ids(n: usize, t: usize, vocab: i32) -> Vec<Vec<i32>> {
    (0..n)
        .map(|i| {
            (0..t)
                .map(|j| ((i * 7 + j * 3) as i32 % (vocab - 1)) + 1)
                .collect()
        })
        .collect()
}

fn labels01(n: usize) -> Vec<i64> {
    (0..n).map(|i| (i % 2) as i64).collect()
}

/// The four Keras-layout members of a small valid dataset, with overrides.
fn npz_members(overrides: &[(&'static str, Vec<u8>)]) -> Vec<(&'static str, Vec<u8>)> {
    let mut m = vec![
        ("x_train.npy", npy_i32(&ids(64, 20, 100))),
        ("y_train.npy", npy_labels(&labels01(64))),
        ("x_test.npy", npy_i32(&ids(16, 20, 100))),
        ("y_test.npy", npy_labels(&labels01(16))),
    ];
    for (name, bytes) in overrides {
        match m.iter_mut().find(|(n, _)| n == name) {
            Some(slot) => slot.1 = bytes.clone(),
            None => m.push((name, bytes.clone())),
        }
    }
    m
}

/// A pickle stream of `depth` nested tuples (`)` then TUPLE1 repeated).
pub fn deep_pickle(depth: usize) -> Vec<u8> {
    let mut p = b"\x80\x02)".to_vec();
    p.extend(std::iter::repeat_n(0x85u8, depth));
    p.push(b'.');
    p
}

/// An npz case: name, bytes, words the error must hold, environment.
type Archive = (
    &'static str,
    Vec<u8>,
    Vec<&'static str>,
    Vec<(&'static str, String)>,
);

pub fn npz_files(dir: &Path) -> Vec<Case> {
    let out = dir.join("out");
    let model = dir.join("good.safetensors");
    base_model().write(&model).unwrap();
    let mut cases = Vec::new();
    let mut archives: Vec<Archive> = vec![
        (
            // 600 M uint8 zeros declared: 4.8 GB once widened; the data never comes.
            "header_claims_4_8_gb",
            zip_of(&npz_members(&[(
                "x_train.npy",
                npy("|u1", "(600000000,)", &[0; 64]),
            )])),
            vec!["x_train", "GB"],
            vec![],
        ),
        (
            // An honest 3 MB array over a lowered RECURRENT_MAX_BYTES.
            "honest_array_over_ceiling",
            zip_of(&npz_members(&[(
                "x_train.npy",
                npy("|u1", "(3000000,)", &vec![1; 3_000_000]),
            )])),
            vec!["x_train", "RECURRENT_MAX_BYTES"],
            vec![("RECURRENT_MAX_BYTES", "10000000".into())],
        ),
        (
            "member_inflates_beyond_declared",
            {
                let mut z = zip_of(&npz_members(&[(
                    "x_train.npy",
                    npy_i32(&vec![vec![1; 20]; 20_000]),
                )]));
                forge_uncompressed_sizes(&mut z, 1000);
                z
            },
            vec![],
            vec![],
        ),
        (
            "deep_pickle_300kb",
            zip_of(&npz_members(&[(
                "x_train.npy",
                npy("|O", "(64,)", &deep_pickle(300_000)),
            )])),
            vec!["nested"],
            vec![],
        ),
        (
            "missing_member",
            zip_of(
                &npz_members(&[])
                    .into_iter()
                    .filter(|(n, _)| *n != "x_test.npy")
                    .collect::<Vec<_>>(),
            ),
            vec!["x_test", "x_train.npy"],
            vec![],
        ),
        (
            "token_id_out_of_range",
            zip_of(&npz_members(&[(
                "x_train.npy",
                npy_i32(&ids(64, 20, 5000)),
            )])),
            vec!["token id"],
            vec![],
        ),
        (
            "negative_token_id",
            zip_of(&npz_members(&[(
                "x_train.npy",
                npy_i32(&vec![vec![-3; 20]; 64]),
            )])),
            vec!["-3"],
            vec![],
        ),
        (
            "labels_wrong_count",
            zip_of(&npz_members(&[("y_train.npy", npy_labels(&labels01(10)))])),
            vec![],
            vec![],
        ),
        (
            "labels_2d",
            zip_of(&npz_members(&[(
                "y_train.npy",
                npy("<i8", "(8, 8)", &[0; 512]),
            )])),
            vec![],
            vec![],
        ),
        (
            "x_train_zero_width",
            zip_of(&npz_members(&[("x_train.npy", npy("<i4", "(64, 0)", &[]))])),
            vec!["(64, 0)"],
            vec![],
        ),
        (
            "float_dtype",
            zip_of(&npz_members(&[(
                "x_train.npy",
                npy("<f8", "(64, 20)", &[0; 64 * 20 * 8]),
            )])),
            vec!["dtype"],
            vec![],
        ),
        (
            "truncated_array",
            zip_of(&npz_members(&[(
                "x_train.npy",
                npy("<i4", "(64, 20)", &[0; 100]),
            )])),
            vec!["truncated"],
            vec![],
        ),
        ("not_a_zip", pseudo_random(4096, 3), vec!["zip"], vec![]),
        ("empty_file", Vec::new(), vec![], vec![]),
        (
            "truncated_zip",
            {
                let z = zip_of(&npz_members(&[]));
                z[..z.len() / 2].to_vec()
            },
            vec![],
            vec![],
        ),
        (
            "pickle_executes_nothing",
            zip_of(&npz_members(&[(
                "x_train.npy",
                npy(
                    "|O",
                    "(64,)",
                    b"\x80\x02cos\nsystem\n(S'touch /tmp/pwned'\ntR.",
                ),
            )])),
            vec!["os.system"],
            vec![],
        ),
    ];
    for (name, bytes, words, env) in archives.drain(..) {
        let npz = write(dir, &format!("{name}.npz"), &bytes);
        let cfg = config(
            &format!(
                "source = \"npz\"\npath = {:?}\nmaxlen = 20",
                npz.to_str().unwrap()
            ),
            SMALL_LAYERS,
            "",
        );
        let p = write(dir, &format!("npz_{name}.toml"), cfg);
        let mut c = case(
            format!("train npz/{name}"),
            &[&"train", &p, &"-o", &out],
            Expect::Error(words.clone()),
        );
        c.env = env.clone();
        cases.push(c);
        // The same data read by `evaluate` for a saved model; it uses only the test
        // split, so bad training arrays may go unread.
        let train_only = [
            "token_id_out_of_range",
            "negative_token_id",
            "labels_wrong_count",
        ];
        let mut c = case(
            format!("evaluate npz/{name}"),
            &[&"evaluate", &model, &"--data", &p],
            if train_only.contains(&name) {
                Expect::Clean
            } else {
                Expect::Error(words)
            },
        );
        c.env = env;
        cases.push(c);
    }
    // `--resume` with a config describing another model (lstm 4 units, not 8).
    let p = write(
        dir,
        "resume_other_model.toml",
        config(GENERATED, SMALL_LAYERS, ""),
    );
    cases.push(case(
        "train npz/resume_with_another_model",
        &[&"train", &p, &"-o", &out, &"--resume", &model],
        err(&["resume", "layer 1"]),
    ));
    // Hostile inputs to `predict` on a good token-id model.
    let inputs: Vec<(&str, Vec<u8>, Expect)> = vec![
        ("token_id_5000", b"1 2 5000\n".to_vec(), err(&["5000"])),
        ("negative_token_id", b"1 -5 3\n".to_vec(), err(&["-5"])),
        ("not_numbers", b"one two\n".to_vec(), err(&[])),
        (
            "line_10mb",
            "7 ".repeat(5 << 20).into_bytes(),
            Expect::Clean,
        ),
        ("invalid_utf8", b"1 2 \xff\xfe 3\n".to_vec(), Expect::Clean),
        (
            "id_overflowing_i64",
            b"99999999999999999999999\n".to_vec(),
            err(&[]),
        ),
    ];
    for (name, bytes, expect) in inputs {
        let f = write(dir, &format!("predict_{name}.txt"), &bytes);
        cases.push(case(
            format!("predict input/{name}"),
            &[&"predict", &model, &"--file", &f],
            expect,
        ));
    }
    cases.push(case(
        "predict input/missing_file",
        &[&"predict", &model, &"--file", &dir.join("nope.txt")],
        err(&["nope.txt"]),
    ));
    cases
}

// ---------------------------------------------------------------------------
// CSV and text folders

pub fn text_files(dir: &Path) -> Vec<Case> {
    let out = dir.join("out");
    let mut cases = Vec::new();
    let rows = |extra: &[u8]| -> Vec<u8> {
        let mut v = b"text,label\n".to_vec();
        for i in 0..40 {
            v.extend_from_slice(
                format!(
                    "this movie was {} ,{}\n",
                    if i % 2 == 0 { "great" } else { "bad" },
                    if i % 2 == 0 { "pos" } else { "neg" }
                )
                .as_bytes(),
            );
        }
        v.extend_from_slice(extra);
        v
    };
    let csvs: Vec<(&str, Vec<u8>, Expect)> = vec![
        (
            "label_10mb",
            rows(format!("fine,{}\n", "x".repeat(10 << 20)).as_bytes()),
            // An explicit label list is not set, so a 10 MB label becomes a class;
            // the dense layer then has the wrong width: an error, quoting little.
            err(&[]),
        ),
        (
            "text_10mb_unclosed_quote",
            rows(format!("\"{}", "y".repeat(10 << 20)).as_bytes()),
            err(&[]),
        ),
        (
            "label_invalid_utf8",
            rows(b"nice film,pos\xff\n"),
            err(&["line 42", "UTF-8"]),
        ),
        (
            "no_label_column",
            b"text,lab\nhello,pos\n".to_vec(),
            err(&["label"]),
        ),
        (
            "header_only",
            b"text,label\n".to_vec(),
            err(&["no data rows"]),
        ),
        ("empty", Vec::new(), err(&["empty"])),
        ("ragged_rows", rows(b"a,b,c,d\n"), err(&["line 42"])),
        (
            "text_invalid_utf8_warns",
            rows(b"caf\xe9 ok,pos\n"),
            Expect::Success(vec!["warning:", "UTF-8"]),
        ),
    ];
    for (name, bytes, expect) in csvs {
        let csv = write(dir, &format!("{name}.csv"), &bytes);
        let cfg = config(
            &format!(
                "source = \"csv\"\npath = {:?}\nnum_words = 50\nmaxlen = 10\ntest_split = 0.25",
                csv.to_str().unwrap()
            ),
            &SMALL_LAYERS.replace("input_dim = 100", "input_dim = 50"),
            "",
        );
        let p = write(dir, &format!("csv_{name}.toml"), cfg);
        cases.push(case(
            format!("train csv/{name}"),
            &[&"train", &p, &"-o", &out.join(name)],
            expect,
        ));
    }
    // A text folder with one class empty and one file of invalid UTF-8.
    let tdir = dir.join("textdir");
    std::fs::create_dir_all(tdir.join("pos")).unwrap();
    std::fs::create_dir_all(tdir.join("neg")).unwrap();
    write(&tdir.join("pos"), "a.txt", b"good \xff\xfe film");
    let cfg = config(
        &format!(
            "source = \"text_dir\"\npath = {:?}\nnum_words = 50\nmaxlen = 10",
            tdir.to_str().unwrap()
        ),
        SMALL_LAYERS,
        "",
    );
    let p = write(dir, "textdir.toml", cfg);
    cases.push(case(
        "train text_dir/empty_class",
        &[&"train", &p, &"-o", &out],
        err(&["neg"]),
    ));
    cases
}

// ---------------------------------------------------------------------------
// Histories to plot, Keras files

pub fn histories(dir: &Path) -> Vec<Case> {
    let mut cases = Vec::new();
    let good = |loss: &str| {
        format!(
            r#"{{"epoch": [0, 1, 2], "history": {{"loss": [{loss}], "accuracy": [0.5, 0.6, 0.7]}}}}"#
        )
    };
    let plots: Vec<(&str, String, Expect)> = vec![
        (
            "loss_near_f64_max",
            good("0.7, 0.5, 1.7976931348623157e308"),
            Expect::Success(vec![]),
        ),
        (
            "loss_plus_minus_max",
            good("1.7e308, -1.7e308, 0.1"),
            Expect::Success(vec![]),
        ),
        (
            "loss_tiny",
            good("5e-324, 1e-320, 0"),
            Expect::Success(vec![]),
        ),
        ("not_json", "{\"epoch\": [".into(), err(&[])),
        (
            "deep_json",
            "[".repeat(100_000) + &"]".repeat(100_000),
            err(&[]),
        ),
        ("strings_as_values", good("\"a\", \"b\", \"c\""), err(&[])),
    ];
    for (name, text, expect) in plots {
        let sub = dir.join(format!("plot_{name}"));
        std::fs::create_dir_all(&sub).unwrap();
        let p = write(&sub, "history.json", text);
        cases.push(case(format!("plot history/{name}"), &[&"plot", &p], expect));
    }
    // Keras-looking files that are not what they claim.
    let h5 = write(
        dir,
        "fake.h5",
        b"\x89HDF\r\n\x1a\n\0\0\0\0\0\x08\x08\0\x04\0\x10\0",
    );
    cases.push(case("summary keras/fake_h5", &[&"summary", &h5], err(&[])));
    let keras = write(dir, "fake.keras", zip_of(&[("config.json", b"{\"class_name\": \"Sequential\", \"config\": {\"layers\": [{\"class_name\": \"LSTM\", \"config\": {\"units\": 4000000000}}]}}".to_vec())]));
    cases.push(case(
        "summary keras/huge_lstm",
        &[&"summary", &keras],
        err(&[]),
    ));
    let rnd = write(dir, "random.keras", pseudo_random(10_000, 11));
    cases.push(case("summary keras/random", &[&"summary", &rnd], err(&[])));
    cases
}
