//! The `recurrent` side of the speed benchmarks (bench/driver.py runs it next to the
//! PyTorch and Keras scripts): one workload per process, on the data bench/gen_data.py
//! wrote, through the public API only (`Sequential`, `compile`, `fit` for one epoch with
//! verbose 0, `predict`).
//!
//! ```sh
//! cargo bench --bench workloads -- --workload W1 --data bench/.data/full --json
//! ```
//!
//! Measures, after warm-up: training samples/s over one full epoch (or as many as fit
//! in `--min-seconds`, as for inference), batch inference
//! samples/s (batch 256) over the whole data set, median single-sequence latency
//! (`predict` on one sample) and the process's peak RSS (VmHWM).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;
use ndarray::{Array2, s};
use serde::Deserialize;
use serde_json::json;

use recurrent::{FitOptions, Inputs, LayerConfig, Loss, OptimizerConfig, Sequential, Targets};

const INFER_BATCH: usize = 256;
const LATENCY_WARMUP: usize = 10;
const LATENCY_CALLS: usize = 200;
const LATENCY_CALLS_QUICK: usize = 20;

#[derive(Parser, Debug)]
#[command(about = "recurrent side of the speed benchmarks (see bench/driver.py)")]
struct Args {
    /// Workload name, e.g. W1 (its spec is read from <data>/<workload>.json).
    #[arg(long)]
    workload: String,
    /// Directory written by bench/gen_data.py.
    #[arg(long, default_value = "bench/.data/full")]
    data: PathBuf,
    /// Threads of the global rayon pool (default: RAYON_NUM_THREADS, else 2).
    #[arg(long)]
    threads: Option<usize>,
    /// Print one JSON line instead of a human-readable summary.
    #[arg(long)]
    json: bool,
    /// Time training only.
    #[arg(long)]
    skip_inference: bool,
    /// Keep training whole epochs, and then predicting the whole data set, until this
    /// many seconds have passed (at least one pass each); throughput is then over all
    /// of them. Default 0: one pass each.
    #[arg(long, default_value_t = 0.0)]
    min_seconds: f64,
    /// Time inference only (on the freshly initialised model).
    #[arg(long)]
    skip_training: bool,
    /// Single-sequence calls to time (default 200, 20 with quick data).
    #[arg(long)]
    latency_calls: Option<usize>,
    /// Skip the batch inference timing (latency only).
    #[arg(long)]
    skip_batch_inference: bool,
    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    bench: bool,
}

/// The part of gen_data.py's `<workload>.json` this benchmark needs.
#[derive(Deserialize, Debug)]
struct Spec {
    name: String,
    vocab: usize,
    embed_dim: usize,
    cell: String,
    units: usize,
    classes: usize,
    seq_len: usize,
    batch_size: usize,
    samples: usize,
    optimizer: String,
    lr: Option<f64>,
    loss: String,
    mask_zero: bool,
    #[serde(default)]
    quick: bool,
}

type BenchResult<T> = Result<T, String>;

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {} {}: {e}", args.workload, args.data.display());
            ExitCode::FAILURE
        }
    }
}

/// `--threads`, else `RAYON_NUM_THREADS`, else 2: the size given to rayon's global
/// pool, fixed before any work. This thread joins the pool, as the `recurrent`
/// command's does (see `recurrent::run_cli`).
fn size_pool(args: &Args) -> BenchResult<usize> {
    let threads = match args.threads {
        Some(t) => t,
        None => match std::env::var("RAYON_NUM_THREADS") {
            Ok(v) => v
                .parse()
                .map_err(|_| format!("RAYON_NUM_THREADS={v:?} is not a thread count"))?,
            Err(_) => 2,
        },
    };
    if threads == 0 {
        return Err("the thread count must be at least 1".to_string());
    }
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .use_current_thread()
        .build_global()
        .map_err(|e| format!("cannot size the rayon pool: {e}"))?;
    Ok(threads)
}

fn run(args: &Args) -> BenchResult<()> {
    let threads = size_pool(args)?;
    let spec = read_spec(&args.data, &args.workload)?;
    let (x, y) = read_data(&args.data, &spec)?;
    let mut model = build_model(&spec)?;
    let (n, b) = (spec.samples, spec.batch_size);

    let mut result = json!({
        "framework": "recurrent",
        "version": env!("CARGO_PKG_VERSION"),
        "workload": args.workload,
        "threads": threads,
        "samples": n,
    });
    if !args.skip_training {
        // Warm-up: two full batches and the epoch's partial last batch, as the Python side.
        let w = (2 * b + n % b).min(n);
        fit_epoch(
            &mut model,
            x.slice(s![..w, ..]).into(),
            y.slice(s![..w, ..]).into_dyn().into(),
            b,
        )?;
        let t0 = Instant::now();
        let mut epochs = 0usize;
        let (loss, train_s) = loop {
            let loss = fit_epoch(&mut model, (&x).into(), (&y).into(), b)?;
            epochs += 1;
            let train_s = t0.elapsed().as_secs_f64();
            if train_s >= args.min_seconds {
                break (loss, train_s);
            }
        };
        result["train_epochs"] = json!(epochs);
        result["train_epoch_s"] = json!(train_s / epochs as f64);
        result["train_samples_per_s"] = json!((epochs * n) as f64 / train_s);
        result["loss"] = json!(loss);
    }

    if !args.skip_inference {
        if !args.skip_batch_inference {
            let warm = (INFER_BATCH + n % INFER_BATCH).min(n);
            model
                .predict(x.slice(s![..warm, ..]), Some(INFER_BATCH))
                .map_err(|e| format!("predict: {e}"))?;
            let t0 = Instant::now();
            let mut passes = 0usize;
            let (out, infer_s) = loop {
                let out = model
                    .predict(&x, Some(INFER_BATCH))
                    .map_err(|e| format!("predict: {e}"))?;
                passes += 1;
                let infer_s = t0.elapsed().as_secs_f64();
                if infer_s >= args.min_seconds {
                    break (out, infer_s);
                }
            };
            if out.shape() != [n, spec.classes] {
                return Err(format!(
                    "predict returned shape {:?}, expected [{n}, {}]",
                    out.shape(),
                    spec.classes
                ));
            }
            result["infer_passes"] = json!(passes);
            result["infer_s"] = json!(infer_s / passes as f64);
            result["infer_samples_per_s"] = json!((passes * n) as f64 / infer_s);
        }

        let one = x.slice(s![..1, ..]).to_owned();
        let calls = args.latency_calls.unwrap_or(if spec.quick {
            LATENCY_CALLS_QUICK
        } else {
            LATENCY_CALLS
        });
        let mut times = Vec::with_capacity(calls);
        for i in 0..LATENCY_WARMUP + calls {
            let t0 = Instant::now();
            model
                .predict(&one, Some(1))
                .map_err(|e| format!("predict (one sequence): {e}"))?;
            if i >= LATENCY_WARMUP {
                times.push(t0.elapsed().as_secs_f64());
            }
        }
        result["latency_ms"] = json!(median(&mut times) * 1e3);
    }
    result["peak_rss_mb"] = json!(peak_rss_mb());

    if args.json {
        println!("{result}");
    } else {
        println!(
            "{} {}: {}",
            args.workload,
            spec.name,
            serde_json::to_string_pretty(&result).map_err(|e| e.to_string())?
        );
    }
    Ok(())
}

fn read_spec(dir: &Path, workload: &str) -> BenchResult<Spec> {
    let path = dir.join(format!("{workload}.json"));
    let text = std::fs::read_to_string(&path).map_err(|e| {
        format!(
            "cannot read {} ({e}); generate it with bench/gen_data.py",
            path.display()
        )
    })?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// Little-endian 4-byte values from `path`, exactly `count` of them.
fn read_words(path: &Path, count: usize) -> BenchResult<Vec<[u8; 4]>> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if bytes.len() != count * 4 {
        return Err(format!(
            "{} has {} bytes, expected {} ({count} 4-byte values)",
            path.display(),
            bytes.len(),
            count * 4
        ));
    }
    Ok(bytes
        .chunks_exact(4)
        .map(|c| [c[0], c[1], c[2], c[3]])
        .collect())
}

fn read_data(dir: &Path, spec: &Spec) -> BenchResult<(Array2<i32>, Array2<f32>)> {
    let (n, seq, classes) = (spec.samples, spec.seq_len, spec.classes);
    let ids: Vec<i32> = read_words(&dir.join(format!("{}.x.i32", spec.name)), n * seq)?
        .into_iter()
        .map(i32::from_le_bytes)
        .collect();
    let labels: Vec<f32> = read_words(&dir.join(format!("{}.y.f32", spec.name)), n * classes)?
        .into_iter()
        .map(f32::from_le_bytes)
        .collect();
    let x = Array2::from_shape_vec((n, seq), ids).map_err(|e| e.to_string())?;
    let y = Array2::from_shape_vec((n, classes), labels).map_err(|e| e.to_string())?;
    Ok((x, y))
}

/// Embedding -> LSTM/GRU -> Dense(sigmoid or softmax), compiled as the spec says.
fn build_model(spec: &Spec) -> BenchResult<Sequential> {
    let activation = if spec.classes == 1 {
        "sigmoid"
    } else {
        "softmax"
    };
    let layers = json!([
        {"type": "embedding", "input_dim": spec.vocab, "output_dim": spec.embed_dim,
         "mask_zero": spec.mask_zero},
        {"type": spec.cell, "units": spec.units},
        {"type": "dense", "units": spec.classes, "activation": activation},
    ]);
    let configs: Vec<LayerConfig> =
        serde_json::from_value(layers).map_err(|e| format!("layer configs: {e}"))?;
    let mut model = Sequential::from_configs_with_seed(&configs, 0).map_err(|e| e.to_string())?;
    let mut optimizer: OptimizerConfig = spec.optimizer.parse().map_err(|e| format!("{e}"))?;
    if let Some(lr) = spec.lr {
        optimizer.set_learning_rate(lr);
    }
    let loss: Loss = spec.loss.parse().map_err(|e| format!("{e}"))?;
    model
        .compile(optimizer, loss, &[])
        .map_err(|e| format!("compile: {e}"))?;
    Ok(model)
}

/// One silent epoch of `fit`; returns its loss.
fn fit_epoch(
    model: &mut Sequential,
    x: Inputs<'_>,
    y: Targets<'_>,
    batch_size: usize,
) -> BenchResult<f64> {
    let history = model
        .fit(
            x,
            y,
            FitOptions {
                epochs: 1,
                batch_size: Some(batch_size),
                verbose: 0,
                ..FitOptions::default()
            },
        )
        .map_err(|e| format!("fit: {e}"))?;
    history
        .loss()
        .last()
        .copied()
        .ok_or_else(|| "fit returned no loss".to_string())
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    if v.len().is_multiple_of(2) {
        (v[m - 1] + v[m]) / 2.0
    } else {
        v[m]
    }
}

/// VmHWM from /proc/self/status: this process's peak resident set, in MiB.
fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}
