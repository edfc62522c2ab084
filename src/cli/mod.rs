//! The `recurrent` command line: argument parsing in `args`, one file per command.
//! The binary (src/bin/recurrent.rs) only calls `run` and prints errors.

pub mod args;
pub mod dataset;
pub mod export;
pub mod generated;
pub mod inspect;
pub mod predict;
pub mod train;

pub use args::{Cli, Command};

use crate::error::Result;

/// Exit code after Ctrl-C (128 + SIGINT), as shells report it.
pub const EXIT_INTERRUPTED: i32 = 130;

/// Run one command; returns the process exit code.
pub fn run(cli: Cli) -> Result<i32> {
    match cli.command {
        Command::Train {
            config,
            output,
            resume,
            epochs,
            verbose,
        } => train::train(&train::TrainArgs {
            config,
            output,
            resume,
            epochs,
            verbose,
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
        Command::Export { model, onnx } => export::export(&model, &onnx).map(|_| 0),
        Command::Plot { history, output } => inspect::plot(&history, output.as_deref()).map(|_| 0),
    }
}
