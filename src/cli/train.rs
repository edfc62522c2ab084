//! `recurrent train CONFIG.toml`: data, model, fit with progress and callbacks,
//! test evaluation, then the model, history and plots in the output folder. Ctrl-C
//! finishes the running batch, saves a resumable model and the history, and exits 130.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::EXIT_INTERRUPTED;
use super::dataset::{self, Prepared};
use crate::callbacks::interrupt::is_interrupt;
use crate::callbacks::{
    Callback, CsvLogger, EarlyStopping, Interrupt, ModelCheckpoint, ProgbarLogger,
    ReduceLrOnPlateau, TerminateOnNan,
};
use crate::config::{CallbackConfig, RunConfig};
use crate::error::{Error, Result};
use crate::io::{
    SaveExtras, TrainingState, load_model, save_model, write_history_csv, write_history_json,
};
use crate::model::{FitOptions, History, Sequential};
use crate::plot::plot_history;

pub struct TrainArgs {
    pub config: PathBuf,
    pub output: Option<PathBuf>,
    pub resume: Option<PathBuf>,
    pub epochs: Option<usize>,
    pub verbose: Option<u8>,
}

/// File names inside the output folder.
pub const MODEL_FILE: &str = "model.safetensors";
pub const HISTORY_JSON: &str = "history.json";
pub const HISTORY_CSV: &str = "history.csv";

/// The Ctrl-C flag; installed once per process. A second Ctrl-C exits at once.
fn interrupt_flag() -> Result<Arc<AtomicBool>> {
    static FLAG: std::sync::OnceLock<Arc<AtomicBool>> = std::sync::OnceLock::new();
    if let Some(f) = FLAG.get() {
        f.store(false, Ordering::SeqCst);
        return Ok(f.clone());
    }
    let flag = Arc::new(AtomicBool::new(false));
    let f = flag.clone();
    ctrlc::set_handler(move || {
        if f.swap(true, Ordering::SeqCst) {
            eprintln!("\nsecond interrupt: exiting without saving");
            std::process::exit(EXIT_INTERRUPTED);
        }
        eprintln!(
            "\ninterrupt: finishing the current batch, then saving (Ctrl-C again to quit now)"
        );
    })
    .map_err(|e| Error::State(format!("cannot install the Ctrl-C handler: {e}")))?;
    let _ = FLAG.set(flag.clone());
    Ok(flag)
}

/// The model a config describes, built for the prepared data and compiled.
pub fn build_model(config: &RunConfig, sample_shape: &[usize]) -> Result<Sequential> {
    let mut model = Sequential::from_configs_with_seed(&config.model.layers, config.data.seed)?;
    if let Some(name) = &config.model.name {
        model.set_name(name.clone());
    }
    if !model.is_built() {
        let shape: Vec<Option<usize>> = sample_shape.iter().map(|&d| Some(d)).collect();
        model.build(&shape)?;
    }
    model.compile(
        config.compile.optimizer.clone(),
        config.compile.loss,
        &config.compile.metrics,
    )?;
    Ok(model)
}

/// The number of output units of the model (classes for softmax).
pub fn output_units(model: &Sequential) -> usize {
    model
        .output_shape()
        .and_then(|s| s.last().copied().flatten())
        .unwrap_or(1)
}

fn append_history(into: &mut History, more: &History) {
    for (k, v) in &more.history {
        into.history.entry(k.clone()).or_default().extend(v);
    }
    into.epoch.extend(&more.epoch);
}

/// A checkpoint path from the config: relative to the output folder, `.safetensors`
/// added when there is no extension.
fn checkpoint_path(output: &Path, p: &Path) -> PathBuf {
    let mut full = if p.is_absolute() {
        p.to_path_buf()
    } else {
        output.join(p)
    };
    if full.extension().is_none() {
        let mut s = full.into_os_string();
        s.push(".safetensors");
        full = PathBuf::from(s);
    }
    full
}

/// What is stored as the model's `data_config`.
pub fn data_config_json(
    config: &RunConfig,
    config_path: &Path,
    prepared: &Prepared,
) -> serde_json::Value {
    let mut data = config.data.clone();
    data.path = data.path.map(|p| {
        let p = RunConfig::resolve_path(config_path, &p);
        std::fs::canonicalize(&p).unwrap_or(p)
    });
    serde_json::json!({ "spec": prepared.spec, "data": data })
}

pub fn train(args: &TrainArgs) -> Result<i32> {
    let mut config = RunConfig::load(&args.config)?;
    if let Some(e) = args.epochs {
        config.fit.epochs = e;
    }
    if let Some(v) = args.verbose {
        config.fit.verbose = v;
    }
    let output = args.output.clone().unwrap_or_else(|| {
        let stem = args
            .config
            .file_stem()
            .map_or("run".into(), |s| s.to_string_lossy().into_owned());
        PathBuf::from("runs").join(stem)
    });
    std::fs::create_dir_all(&output).map_err(|e| Error::io(&output, e))?;
    let flag = interrupt_flag()?;

    let prepared = dataset::prepare(&config.data, &args.config)?;
    println!("{}", prepared.description);
    let (mut model, mut history, initial_epoch) = match &args.resume {
        Some(p) => {
            let loaded = load_model(p)?;
            let training = loaded.extras.training.unwrap_or_default();
            println!(
                "Resuming from {} after epoch {}",
                p.display(),
                training.epoch
            );
            (loaded.model, training.history, training.epoch)
        }
        None => (
            build_model(&config, &prepared.x_train.sample_shape())?,
            History::default(),
            config.fit.initial_epoch,
        ),
    };
    if initial_epoch >= config.fit.epochs {
        return Err(Error::invalid_argument(
            "train",
            "epochs",
            format!(
                "the model already completed {initial_epoch} epochs and epochs = {}; raise \
                 [fit] epochs or pass --epochs",
                config.fit.epochs
            ),
        ));
    }
    print!("{}", model.summary());

    let loss = config.compile.loss;
    let classes = output_units(&model);
    let y_train = dataset::targets_for_loss(
        &prepared.y_train,
        prepared.y_train_2d.as_ref(),
        loss,
        classes,
    )?;
    let y_test =
        dataset::targets_for_loss(&prepared.y_test, prepared.y_test_2d.as_ref(), loss, classes)?;

    let extras = |epoch: usize, history: &History| SaveExtras {
        vectorizer: prepared.vectorizer.clone(),
        training: Some(TrainingState {
            epoch,
            history: history.clone(),
        }),
        data_config: Some(data_config_json(&config, &args.config, &prepared)),
    };

    // Callbacks: progress first (so its line precedes callback messages), Ctrl-C last.
    let vs = config.validation_split();
    let n = prepared.x_train.len();
    let train_len = if vs > 0.0 {
        (n as f64 * (1.0 - vs)).floor() as usize
    } else {
        n
    };
    let steps = train_len.div_ceil(config.fit.batch_size.max(1));
    let mut progress = ProgbarLogger::new(config.fit.epochs, steps, config.fit.verbose);
    let mut user: Vec<Box<dyn Callback>> = Vec::new();
    for cb in &config.fit.callbacks {
        user.push(match cb {
            CallbackConfig::EarlyStopping(c) => Box::new(EarlyStopping::new(c.clone())),
            CallbackConfig::ModelCheckpoint(c) => {
                let mut c = c.clone();
                c.filepath = checkpoint_path(&output, &c.filepath);
                Box::new(ModelCheckpoint::new(c).with_extras(extras(initial_epoch, &history)))
            }
            CallbackConfig::CsvLogger(c) => {
                let mut c = c.clone();
                if c.filename.is_relative() {
                    c.filename = output.join(&c.filename);
                }
                // A resumed run continues the log instead of replacing it.
                c.append |= args.resume.is_some();
                Box::new(CsvLogger::new(c)?)
            }
            CallbackConfig::TerminateOnNan(_) => Box::new(TerminateOnNan::new()),
            CallbackConfig::ReduceLrOnPlateau(c) => Box::new(ReduceLrOnPlateau::new(c.clone())?),
        });
    }
    let mut interrupt = Interrupt::new(flag.clone());
    let mut callbacks: Vec<&mut dyn Callback> = vec![&mut progress];
    for cb in user.iter_mut() {
        callbacks.push(cb.as_mut());
    }
    callbacks.push(&mut interrupt);

    let result = model.fit(
        prepared.x_train.as_inputs(),
        &y_train,
        FitOptions {
            epochs: config.fit.epochs,
            batch_size: Some(config.fit.batch_size),
            validation_split: vs,
            shuffle: config.fit.shuffle,
            verbose: 0,
            initial_epoch,
            callbacks,
            ..Default::default()
        },
    );
    let model_path = output.join(MODEL_FILE);
    match result {
        Err(e) if is_interrupt(&e) => {
            append_history(&mut history, interrupt.history());
            let done = interrupt.completed_epochs().max(initial_epoch);
            save_model(&model, &model_path, &extras(done, &history))?;
            write_history_json(&history, &output.join(HISTORY_JSON))?;
            write_history_csv(&history, &output.join(HISTORY_CSV))?;
            println!(
                "\nInterrupted during epoch {} after {} batches. Saved {} (resumes at epoch {}) \
                 and the history.\nContinue with: recurrent train {} --output {} --resume {}",
                done + 1,
                interrupt.batches_in_epoch(),
                model_path.display(),
                done + 1,
                args.config.display(),
                output.display(),
                model_path.display()
            );
            return Ok(EXIT_INTERRUPTED);
        }
        Err(e) => {
            // Keep what was learned so far before reporting the failure.
            append_history(&mut history, interrupt.history());
            let _ = write_history_json(&history, &output.join(HISTORY_JSON));
            return Err(e);
        }
        Ok(h) => append_history(&mut history, &h),
    }
    let done = history.epoch.last().map_or(initial_epoch, |e| e + 1);

    let test = model.evaluate(
        prepared.x_test.as_inputs(),
        &y_test,
        Some(config.fit.batch_size),
    )?;
    let line: Vec<String> = test.iter().map(|(k, v)| format!("{k}: {v:.4}")).collect();
    println!("Test: {}", line.join(" - "));

    save_model(&model, &model_path, &extras(done, &history))?;
    write_history_json(&history, &output.join(HISTORY_JSON))?;
    write_history_csv(&history, &output.join(HISTORY_CSV))?;
    let plots = plot_history(&history.history, &output, "history")?;
    let test_json = serde_json::to_string_pretty(&test)
        .map_err(|e| Error::State(format!("cannot serialise test metrics: {e}")))?;
    crate::io::write_atomic(&output.join("test_metrics.json"), test_json.as_bytes())?;
    println!("Wrote {}:", output.display());
    let mut files = vec![
        MODEL_FILE.to_string(),
        HISTORY_JSON.into(),
        HISTORY_CSV.into(),
        "test_metrics.json".into(),
    ];
    files.extend(
        plots
            .iter()
            .filter_map(|p| p.file_name().map(|f| f.to_string_lossy().into_owned())),
    );
    for f in files {
        println!("  {f}");
    }
    Ok(0)
}
