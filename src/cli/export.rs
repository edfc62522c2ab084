//! `recurrent export MODEL --onnx OUT.onnx` / `--output OUT [--format onnx|keras|h5]`:
//! write a saved model as an ONNX graph, a Keras 3 `.keras` archive or a legacy Keras
//! `.h5` file.

use std::path::Path;

use crate::error::{Error, Result};
use crate::interop::onnx::{IR_VERSION, OPSET_VERSION, export_onnx};
use crate::interop::{KERAS_VERSION, KerasFormat, keras_format_for_path, save_keras_as};

/// What `recurrent export` writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    /// ONNX graph (opset 17).
    Onnx,
    /// Keras 3 `.keras` archive (config.json, metadata.json, model.weights.h5).
    Keras,
    /// Legacy Keras HDF5 full-model file (`.h5`).
    H5,
}

/// `--onnx OUT` or `--output OUT [--format F]`; without `--format` the output's
/// extension names the format. `model_path` may also be a Keras `.keras` / `.h5` file
/// (imported on the fly).
pub fn export(
    model_path: &Path,
    onnx: Option<&Path>,
    output: Option<&Path>,
    format: Option<ExportFormat>,
) -> Result<()> {
    let (out, format) = match (onnx, output) {
        (Some(o), _) => (o, ExportFormat::Onnx),
        (None, Some(o)) => (o, format_of(o, format)?),
        (None, None) => {
            return Err(Error::Unsupported(
                "export: give --onnx OUT.onnx or --output OUT".into(),
            ));
        }
    };
    let loaded = super::import::load_any_model(model_path)?;
    let keras = match format {
        ExportFormat::Onnx => return write_onnx(model_path, &loaded, out),
        ExportFormat::Keras => KerasFormat::Archive,
        ExportFormat::H5 => KerasFormat::Hdf5,
    };
    save_keras_as(&loaded.model, out, keras)?;
    println!(
        "Exported {} to {} ({}, Keras {KERAS_VERSION} layout, {} layers, {} weights)",
        model_path.display(),
        out.display(),
        keras.describe(),
        loaded.model.layers().len(),
        loaded.model.count_params()
    );
    println!(
        "  load it in Python with keras.models.load_model(\"{}\")",
        out.display()
    );
    if loaded.extras.vectorizer.is_some() {
        println!(
            "  note: the model's text vectorizer is not part of the Keras file; feed it the \
             token ids the vectorizer produces (padded to the training length)"
        );
    }
    Ok(())
}

/// `--format`, or the format `out`'s extension names.
fn format_of(out: &Path, format: Option<ExportFormat>) -> Result<ExportFormat> {
    if let Some(f) = format {
        return Ok(f);
    }
    let by_ext = match keras_format_for_path(out) {
        Some(KerasFormat::Archive) => Some(ExportFormat::Keras),
        Some(KerasFormat::Hdf5) => Some(ExportFormat::H5),
        None => out
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("onnx"))
            .then_some(ExportFormat::Onnx),
    };
    by_ext.ok_or_else(|| {
        Error::Unsupported(format!(
            "export: cannot tell the format of {} from its extension; name it .onnx, .keras \
             or .h5, or pass --format onnx|keras|h5",
            out.display()
        ))
    })
}

fn write_onnx(model_path: &Path, loaded: &crate::io::LoadedModel, onnx: &Path) -> Result<()> {
    let s = export_onnx(&loaded.model, onnx)?;
    println!(
        "Exported {} to {} (ONNX opset {OPSET_VERSION}, IR version {IR_VERSION}, {} nodes)",
        model_path.display(),
        onnx.display(),
        s.nodes
    );
    println!(
        "  input  `{}` {} [{}]",
        s.input_name,
        s.input_type,
        s.input_shape.join(", ")
    );
    println!("  output `output` float32 [{}]", s.output_shape.join(", "));
    if loaded.extras.vectorizer.is_some() {
        // The graph starts at the Embedding; text must be turned into ids first.
        println!(
            "  note: the model's text vectorizer is not part of the ONNX graph; feed it the \
             token ids the vectorizer produces (padded to the training length)"
        );
    }
    Ok(())
}
