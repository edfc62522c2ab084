//! `recurrent export MODEL --onnx OUT.onnx`: write a saved model as an ONNX graph.

use std::path::Path;

use crate::error::Result;
use crate::interop::onnx::{IR_VERSION, OPSET_VERSION, export_onnx};
use crate::io::load_model;

pub fn export(model_path: &Path, onnx: &Path) -> Result<()> {
    let loaded = load_model(model_path)?;
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
