//! The command line, as clap definitions.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

pub use super::export::ExportFormat;

/// Train and run recurrent neural networks (SimpleRNN, LSTM, GRU) the Keras way.
#[derive(Debug, Parser)]
#[command(name = "recurrent", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Train a model from a TOML config, then evaluate and save it.
    ///
    /// Prints the model summary, trains with a progress bar, evaluates on the test
    /// split, and writes the model, the history (JSON, CSV) and the plots into the
    /// output folder. Ctrl-C finishes the batch, saves a resumable model and exits 130.
    Train {
        /// The run config (`[data]`, `[model]`, `[compile]`, `[fit]`).
        config: PathBuf,
        /// Output folder [default: runs/<config name>].
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// Continue training from a model saved by an earlier (possibly interrupted)
        /// run: weights, optimizer state and epoch counter carry on.
        #[arg(long)]
        resume: Option<PathBuf>,
        /// Override `[fit] epochs` (the total, counting epochs already done).
        #[arg(long)]
        epochs: Option<usize>,
        /// Override `[fit] verbose` (0 silent, 1 progress bar, 2 one line per epoch,
        /// auto = 1 as in Keras 3).
        #[arg(long, value_parser = crate::config::parse_verbose)]
        verbose: Option<u8>,
        /// Draw the loss figures on a log-scale value axis (as `[plot] log_y = true`).
        #[arg(long)]
        log_y: bool,
    },
    /// Evaluate a saved model on the test split of its data (or of another config's).
    ///
    /// Text is encoded with the model's own saved vocabulary.
    Evaluate {
        /// A model file written by `recurrent train` or `Sequential::save`, or a Keras
        /// `.keras` / `.h5` model file.
        model: PathBuf,
        /// A run config whose `[data]` gives the test split [default: the model's own].
        #[arg(long)]
        data: Option<PathBuf>,
        /// Batch size for evaluation.
        #[arg(long, default_value_t = 32)]
        batch_size: usize,
        /// Print the metrics as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Predict a label and probability per input (TEXT arguments, --file, or stdin).
    ///
    /// One input per TEXT argument, per line of --file, or per line of stdin. Raw
    /// text goes through the model's saved vectorizer; models trained on token ids
    /// take ids separated by spaces or commas; series models take comma-separated
    /// values.
    Predict {
        /// A model file written by `recurrent train` or `Sequential::save`, or a Keras
        /// `.keras` / `.h5` model file.
        model: PathBuf,
        /// Inputs (each one sample).
        inputs: Vec<String>,
        /// Read inputs from a file, one per line.
        #[arg(short, long)]
        file: Option<PathBuf>,
        /// Print a JSON array instead of one line per input.
        #[arg(long)]
        json: bool,
    },
    /// Print the layer table of a config (`.toml`) or a saved model.
    Summary {
        /// A run config, a model file, or a Keras `.keras` / `.h5` model file.
        path: PathBuf,
    },
    /// Export a saved model to another format: ONNX (opset 17), a Keras 3 `.keras`
    /// archive or a legacy Keras `.h5` file.
    ///
    /// The ONNX graph computes what `predict` computes on the model's input (token ids
    /// or floats); layers ONNX cannot express exactly are refused with an error. The
    /// Keras files load in Keras with `keras.models.load_model` (weights, architecture
    /// and, for a compiled model, its optimizer, loss and metrics; not the optimizer's
    /// state).
    Export {
        /// A model file written by `recurrent train` or `Sequential::save`, or a Keras
        /// `.keras` / `.h5` file.
        model: PathBuf,
        /// Write an ONNX file here (written atomically); short for `--format onnx
        /// --output OUT.onnx`.
        #[arg(long, value_name = "OUT.onnx", conflicts_with_all = ["output", "format"],
              required_unless_present = "output")]
        onnx: Option<PathBuf>,
        /// The file to write (atomically), in `--format`, or else the format its
        /// extension names (`.onnx`, `.keras`, `.h5` / `.hdf5`).
        #[arg(short, long, value_name = "OUT")]
        output: Option<PathBuf>,
        /// `onnx`, `keras` (Keras 3 `.keras` archive) or `h5` (legacy Keras HDF5).
        #[arg(long, value_enum, requires = "output")]
        format: Option<ExportFormat>,
    },
    /// Convert a Keras model file (`.keras`, or a legacy `.h5` full model such as a
    /// ModelCheckpoint file) into a recurrent model file.
    ///
    /// The format is told by content. Prints the model summary and what was written.
    /// `predict`, `evaluate` and `summary` also take Keras files directly.
    Import {
        /// A Keras 3 `.keras` archive, or an `.h5` file from Keras 2 / tf.keras / Keras 3.
        model: PathBuf,
        /// The recurrent model file to write (safetensors).
        #[arg(short, long)]
        output: PathBuf,
    },
    /// Plot a history JSON (loss and metrics against epoch) as PNG and SVG.
    Plot {
        /// A `history.json` written by `recurrent train`, or a Keras
        /// `json.dump(history.history)` file.
        history: PathBuf,
        /// Output folder [default: the history file's folder].
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// Draw the loss figures on a log-scale value axis; values <= 0 are left out
        /// with a warning.
        #[arg(long)]
        log_y: bool,
    },
}
