//! `recurrent train CONFIG.toml`: data, model, fit with progress and callbacks,
//! test evaluation, then the model, history and plots in the output folder. Ctrl-C
//! finishes the running batch, saves a resumable model and the history, and exits 130.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use ndarray::ArrayD;

use super::EXIT_INTERRUPTED;
use super::dataset::{self, Prepared};
use crate::callbacks::interrupt::is_interrupt;
use crate::callbacks::{
    Callback, CsvLogger, EarlyStopping, Interrupt, ModelCheckpoint, ReduceLrOnPlateau,
    TerminateOnNan,
};
use crate::config::{CallbackConfig, RunConfig};
use crate::error::{Error, Result};
use crate::io::{
    SaveExtras, TrainingState, load_model, save_model, write_history_csv, write_history_json,
};
use crate::model::{FitOptions, History, SampleWeight, Sequential};
use crate::plot::plot_history_with;

pub struct TrainArgs {
    pub config: PathBuf,
    pub output: Option<PathBuf>,
    pub resume: Option<PathBuf>,
    pub epochs: Option<usize>,
    pub verbose: Option<u8>,
    /// `--log-y`: log-scale loss figures (or `[plot] log_y`).
    pub log_y: bool,
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
    model.compile_with_weighted_metrics(
        config.compile.optimizer.clone(),
        config.compile.loss,
        &config.compile.metrics,
        &config.compile.weighted_metrics,
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

/// Where a diverged run's last finite weights are saved (next to `model.safetensors`,
/// which it never replaces).
pub const LAST_FINITE_FILE: &str = "model.last-finite.safetensors";

/// `recurrent train`: returns the exit code (0, or 130 after Ctrl-C).
///
/// A run that fails (bad config or data, download error, a shape the model refuses)
/// leaves no empty output folder behind: the folders this run created are removed
/// again when the run fails with nothing written in them.
pub fn train(args: &TrainArgs) -> Result<i32> {
    let config = load_config(args)?;
    let output = args.output.clone().unwrap_or_else(|| {
        let stem = args
            .config
            .file_stem()
            .map_or("run".into(), |s| s.to_string_lossy().into_owned());
        PathBuf::from("runs").join(stem)
    });
    let created = missing_dirs(&output);
    let result = train_into(args, &config, &output);
    if result.is_err() {
        // Deepest first; `remove_dir` refuses a folder that holds anything.
        for dir in &created {
            if std::fs::remove_dir(dir).is_err() {
                break;
            }
        }
    }
    result
}

/// `dir` and its ancestors that do not exist yet, deepest first.
fn missing_dirs(dir: &Path) -> Vec<PathBuf> {
    dir.ancestors()
        .take_while(|d| !d.as_os_str().is_empty() && !d.exists())
        .map(Path::to_path_buf)
        .collect()
}

fn train_into(args: &TrainArgs, config: &RunConfig, output: &Path) -> Result<i32> {
    let (config, output) = (config.clone(), output.to_path_buf());
    std::fs::create_dir_all(&output).map_err(|e| Error::io(&output, e))?;
    // Every output is checked before the first epoch: a run must not train for hours
    // and then fail to write its results.
    check_writable_dir(&output)?;
    for file in [MODEL_FILE, HISTORY_JSON, HISTORY_CSV] {
        check_output_file(&output.join(file))?;
    }
    let flag = interrupt_flag()?;

    let prepared = dataset::prepare(&config.data, &args.config)?;
    let sample_weight = dataset::training_sample_weight(&config.data, &args.config)?;
    println!("{}", prepared.description);
    let run = Run {
        args,
        config: &config,
        prepared: &prepared,
        output: &output,
    };
    let (mut model, mut history, initial_epoch) = run.start_model()?;
    print!("{}", model.summary());
    let classes = output_units(&model);
    let loss = config.compile.loss;
    let y_train = dataset::targets_for_loss(
        &prepared.y_train,
        prepared.y_train_2d.as_ref(),
        loss,
        classes,
    )?;
    let y_test =
        dataset::targets_for_loss(&prepared.y_test, prepared.y_test_2d.as_ref(), loss, classes)?;

    // Progress is `fit`'s own (first in its list), user callbacks next, Ctrl-C last.
    let mut user = run.callbacks(initial_epoch, &history)?;
    let mut interrupt = Interrupt::new(flag);
    let mut callbacks: Vec<&mut dyn Callback> = Vec::new();
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
            validation_split: config.validation_split(),
            shuffle: config.fit.shuffle,
            verbose: config.fit.verbose,
            initial_epoch,
            callbacks,
            class_weight: config
                .fit
                .class_weights()
                .map_err(|r| Error::invalid_argument("[fit]", "class_weight", r))?,
            sample_weight: sample_weight.as_ref().map(SampleWeight::from),
            ..Default::default()
        },
    );
    match result {
        Err(e) if is_interrupt(&e) => {
            append_history(&mut history, interrupt.history());
            return run.save_interrupted(&model, &history, &interrupt, initial_epoch);
        }
        Err(e) => {
            // Keep what was learned so far before reporting the failure (nothing
            // when no epoch completed: the folder is then removed again).
            append_history(&mut history, interrupt.history());
            if !history.epoch.is_empty() {
                let _ = write_history_json(&history, &output.join(HISTORY_JSON));
            }
            if matches!(e, Error::Numerical(_)) {
                // Diverged: `fit` refused the bad step, so the model holds the last
                // finite weights. Keras's TerminateOnNaN leaves such a model to save;
                // here it is saved under its own name, never over a good model.
                let path = output.join(LAST_FINITE_FILE);
                let done = history.epoch.last().map_or(initial_epoch, |e| e + 1);
                save_model(&model, &path, &run.extras(done, &history))?;
                let _ = write_history_csv(&history, &output.join(HISTORY_CSV));
                eprintln!(
                    "Training diverged. Saved the last finite weights (from before the \
                     failing batch, after {done} complete epochs) to {}",
                    path.display()
                );
            }
            return Err(e);
        }
        Ok(h) => append_history(&mut history, &h),
    }
    run.finish(&mut model, &history, initial_epoch, &y_test)?;
    Ok(0)
}

/// Fails unless a file can be created in `dir` (a read-only folder is found before
/// training, not after).
fn check_writable_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    tempfile::Builder::new()
        .prefix(".recurrent-probe-")
        .tempfile_in(dir)
        .map(drop)
        .map_err(|e| {
            Error::io(
                dir,
                std::io::Error::new(e.kind(), format!("the output folder is not writable: {e}")),
            )
        })
}

/// Fails when `path` cannot become an output file: it is a folder, a device or
/// FIFO, a dangling link (`io::atomic::destination`), or its folder is not writable.
fn check_output_file(path: &Path) -> Result<()> {
    if path.is_dir() {
        return Err(Error::format(
            path,
            "is a folder; an output file is to be written here",
        ));
    }
    let path = crate::io::atomic::destination(path)?;
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => check_writable_dir(p),
        _ => check_writable_dir(Path::new(".")),
    }
}

/// `--resume` continues the saved model; a config whose `[model]` or `[compile]`
/// describes another model would otherwise be ignored silently. Layer names are
/// compared only where the config gives them (the model numbers the defaults).
fn check_resume_matches(model: &Sequential, config: &RunConfig, path: &Path) -> Result<()> {
    let strip = |mut v: serde_json::Value| {
        if let Some(o) = v.as_object_mut() {
            o.remove("name");
        }
        v
    };
    let saved: Vec<serde_json::Value> = model.layer_configs().into_iter().map(strip).collect();
    let wanted: Vec<serde_json::Value> = config
        .model
        .layers
        .iter()
        .map(|l| l.to_layer().map(|l| strip(l.config())))
        .collect::<Result<_>>()?;
    let refuse = |what: String| {
        Err(Error::invalid_argument(
            "train --resume",
            "config",
            format!(
                "{what}; the saved model {} is resumed as it is, so the config must describe \
                 it (or train without --resume)",
                path.display()
            ),
        ))
    };
    if saved.len() != wanted.len() {
        return refuse(format!(
            "[model] has {} layers but the saved model has {}",
            wanted.len(),
            saved.len()
        ));
    }
    // Shapes given only to the first layer (`input_shape`, `input_length`) are not
    // kept by every layer's saved config; compare the rest.
    for (i, (s, w)) in saved.iter().zip(&wanted).enumerate() {
        let differs = s.as_object().zip(w.as_object()).is_some_and(|(s, w)| {
            w.iter().any(|(k, v)| {
                k != "input_shape" && k != "input_length" && s.get(k).is_some_and(|sv| sv != v)
            })
        });
        if differs || s.get("type") != w.get("type") {
            return refuse(format!("[model] layer {i} differs from the saved model's"));
        }
    }
    if let Some(loss) = model.loss()
        && loss != config.compile.loss
    {
        return refuse(format!(
            "[compile] loss is {} but the saved model was compiled with {}",
            config.compile.loss.name(),
            loss.name()
        ));
    }
    if let Some(opt) = model.optimizer()
        && opt.config().name() != config.compile.optimizer.name()
    {
        return refuse(format!(
            "[compile] optimizer is {} but the saved model's is {}",
            config.compile.optimizer.name(),
            opt.config().name()
        ));
    }
    Ok(())
}

/// The config with the command line's overrides.
fn load_config(args: &TrainArgs) -> Result<RunConfig> {
    let mut config = RunConfig::load(&args.config)?;
    if let Some(e) = args.epochs {
        if e == 0 {
            return Err(Error::invalid_argument(
                "train",
                "--epochs",
                "must be at least 1",
            ));
        }
        config.fit.epochs = e;
    }
    if let Some(v) = args.verbose {
        config.fit.verbose = v;
    }
    config.plot.log_y |= args.log_y;
    Ok(config)
}

/// What one `train` run works with.
struct Run<'a> {
    args: &'a TrainArgs,
    config: &'a RunConfig,
    prepared: &'a Prepared,
    output: &'a Path,
}

impl Run<'_> {
    /// The model, the history so far and the epoch to start from: a new model, or
    /// the one `--resume` names with its saved training state.
    fn start_model(&self) -> Result<(Sequential, History, usize)> {
        let (model, history, initial_epoch) = match &self.args.resume {
            Some(p) => {
                let loaded = load_model(p)?;
                check_resume_matches(&loaded.model, self.config, p)?;
                let training = loaded.extras.training.unwrap_or_default();
                println!(
                    "Resuming from {} after epoch {}",
                    p.display(),
                    training.epoch
                );
                (loaded.model, training.history, training.epoch)
            }
            None => (
                build_model(self.config, &self.prepared.x_train.sample_shape())?,
                History::default(),
                self.config.fit.initial_epoch,
            ),
        };
        let epochs = self.config.fit.epochs;
        if initial_epoch >= epochs {
            return Err(Error::invalid_argument(
                "train",
                "epochs",
                format!(
                    "the model already completed {initial_epoch} epochs and epochs = {epochs}; \
                     raise [fit] epochs or pass --epochs"
                ),
            ));
        }
        Ok((model, history, initial_epoch))
    }

    /// What is saved next to the model after `epoch` epochs.
    fn extras(&self, epoch: usize, history: &History) -> SaveExtras {
        SaveExtras {
            vectorizer: self.prepared.vectorizer.clone(),
            training: Some(TrainingState {
                epoch,
                history: history.clone(),
            }),
            data_config: Some(data_config_json(
                self.config,
                &self.args.config,
                self.prepared,
            )),
        }
    }

    /// The config's `[fit] callbacks`, with paths inside the output folder.
    fn callbacks(&self, initial_epoch: usize, history: &History) -> Result<Vec<Box<dyn Callback>>> {
        let mut user: Vec<Box<dyn Callback>> = Vec::new();
        for cb in &self.config.fit.callbacks {
            user.push(match cb {
                CallbackConfig::EarlyStopping(c) => Box::new(EarlyStopping::from(c)),
                CallbackConfig::ModelCheckpoint(c) => {
                    let mut c = c.clone();
                    c.filepath = checkpoint_path(self.output, &c.filepath);
                    check_output_file(&c.filepath)?;
                    let extras = self.extras(initial_epoch, history);
                    Box::new(ModelCheckpoint::from(&c).with_extras(extras))
                }
                CallbackConfig::CsvLogger(c) => {
                    let mut c = c.clone();
                    if c.filename.is_relative() {
                        c.filename = self.output.join(&c.filename);
                    }
                    // A resumed run continues the log instead of replacing it.
                    c.append |= self.args.resume.is_some();
                    check_output_file(&c.filename)?;
                    Box::new(CsvLogger::try_from(&c)?)
                }
                CallbackConfig::TerminateOnNan(c) => Box::new(TerminateOnNan::from(c)),
                CallbackConfig::ReduceLrOnPlateau(c) => Box::new(ReduceLrOnPlateau::from(c)),
                CallbackConfig::LearningRateScheduler(c) => {
                    Box::new(crate::callbacks::LearningRateScheduler::from(c))
                }
            });
        }
        Ok(user)
    }

    /// After Ctrl-C: save a resumable model and the history, say how to go on.
    fn save_interrupted(
        &self,
        model: &Sequential,
        history: &History,
        interrupt: &Interrupt,
        initial_epoch: usize,
    ) -> Result<i32> {
        let model_path = self.output.join(MODEL_FILE);
        let done = interrupt.completed_epochs().max(initial_epoch);
        save_model(model, &model_path, &self.extras(done, history))?;
        write_history_json(history, &self.output.join(HISTORY_JSON))?;
        write_history_csv(history, &self.output.join(HISTORY_CSV))?;
        println!(
            "\nInterrupted during epoch {} after {} batches. Saved {} (resumes at epoch {}) \
             and the history.\nContinue with: recurrent train {} --output {} --resume {}",
            done + 1,
            interrupt.batches_in_epoch(),
            model_path.display(),
            done + 1,
            self.args.config.display(),
            self.output.display(),
            model_path.display()
        );
        Ok(EXIT_INTERRUPTED)
    }

    /// After training: evaluate on the test split, write the model, history, plots
    /// and test metrics, and list them.
    fn finish(
        &self,
        model: &mut Sequential,
        history: &History,
        initial_epoch: usize,
        y_test: &ArrayD<f32>,
    ) -> Result<()> {
        let (config, prepared, output) = (self.config, self.prepared, self.output);
        let done = history.epoch.last().map_or(initial_epoch, |e| e + 1);
        let test = model.evaluate(
            prepared.x_test.as_inputs(),
            y_test,
            Some(config.fit.batch_size),
        )?;
        let line: Vec<String> = test.iter().map(|(k, v)| format!("{k}: {v:.4}")).collect();
        println!("Test: {}", line.join(" - "));

        save_model(model, &output.join(MODEL_FILE), &self.extras(done, history))?;
        write_history_json(history, &output.join(HISTORY_JSON))?;
        write_history_csv(history, &output.join(HISTORY_CSV))?;
        let options = crate::plot::PlotOptions {
            log_y: self.config.plot.log_y,
        };
        let plots = plot_history_with(&history.history, output, "history", options)?;
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
        Ok(())
    }
}
