//! The `recurrent` command line: argument parsing in `args`, one file per command.
//! The binary (src/bin/recurrent.rs) only calls `crate::run_cli`, which is `main`.

pub mod args;
pub mod dataset;
pub mod export;
pub mod import;
pub mod inspect;
pub mod predict;
pub mod train;

pub use args::{Cli, Command};

use crate::error::Result;

/// Exit code after Ctrl-C (128 + SIGINT), as shells report it.
pub const EXIT_INTERRUPTED: i32 = 130;

/// Parse the process's arguments, run the command and print an error; returns the
/// process exit code.
pub fn main() -> i32 {
    use clap::Parser;
    let cli = Cli::parse();
    // The engine parallelises through rayon's global pool. With this thread as one of
    // its workers, each parallel step of a batch runs here and on the other workers
    // directly, instead of being handed to the pool and waited for (two thread
    // wake-ups per step: 1.2x on small models). Size: RAYON_NUM_THREADS, else one per
    // core. Failure only means the pool exists already, which is fine.
    let _ = rayon::ThreadPoolBuilder::new()
        .use_current_thread()
        .build_global();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            // Errors are expected outcomes (bad config, missing file), not bugs: one
            // line, no backtrace. Panics still honour RUST_BACKTRACE.
            eprintln!("error: {e}");
            1
        }
    }
}

/// Run one command; returns the process exit code.
pub fn run(cli: Cli) -> Result<i32> {
    match cli.command {
        Command::Train {
            config,
            output,
            resume,
            epochs,
            verbose,
            log_y,
        } => train::train(&train::TrainArgs {
            config,
            output,
            resume,
            epochs,
            verbose,
            log_y,
        }),
        Command::Evaluate {
            model,
            data,
            batch_size,
            json,
        } => inspect::evaluate(&model, data.as_deref(), batch_size, json).map(|_| 0),
        Command::Predict {
            model,
            inputs,
            file,
            json,
        } => predict::predict(&model, &inputs, file.as_deref(), json).map(|_| 0),
        Command::Summary { path } => inspect::summary(&path).map(|_| 0),
        Command::Export {
            model,
            onnx,
            output,
            format,
        } => export::export(&model, onnx.as_deref(), output.as_deref(), format).map(|_| 0),
        Command::Import { model, output } => import::import(&model, &output).map(|_| 0),
        Command::Plot {
            history,
            output,
            log_y,
        } => inspect::plot(&history, output.as_deref(), log_y).map(|_| 0),
    }
}
