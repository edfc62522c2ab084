//! `recurrent import MODEL.keras|MODEL.h5 --output model.safetensors`: a Keras model file
//! converted to our model file; and `load_any_model`, which lets `predict`, `evaluate`
//! and `summary` take Keras files directly (told apart by content, not by name).

use std::collections::BTreeMap;
use std::path::Path;

use crate::error::{Error, Result};
use crate::interop::{KerasFormat, import_keras_model, keras_file_format};
use crate::io::{LoadedModel, SaveExtras, load_model, save_model};

/// Metadata key set on models read from a Keras file (its value describes the file).
pub const KERAS_SOURCE: &str = "keras_source";
/// Metadata key holding a Keras file's training config (JSON), for `evaluate`.
pub const KERAS_TRAINING_CONFIG: &str = "keras_training_config";

/// A model file of ours, or a Keras `.keras` / `.h5` file imported on the fly (no
/// compile settings, vectorizer or data settings then).
pub fn load_any_model(path: &Path) -> Result<LoadedModel> {
    let Some(format) = keras_file_format(path)? else {
        return load_model(path);
    };
    let imported = import_keras_model(path)?;
    debug_assert_eq!(imported.format, format);
    let mut metadata = BTreeMap::new();
    metadata.insert(
        KERAS_SOURCE.to_string(),
        describe(format, &imported.keras_version),
    );
    if let Some(t) = &imported.training_config {
        metadata.insert(KERAS_TRAINING_CONFIG.to_string(), t.to_string());
    }
    Ok(LoadedModel {
        model: imported.model,
        extras: SaveExtras::default(),
        metadata,
    })
}

fn describe(format: KerasFormat, version: &Option<String>) -> String {
    match version {
        Some(v) => format!("{} (Keras {v})", format.describe()),
        None => format.describe().to_string(),
    }
}

pub fn import(model_path: &Path, output: &Path) -> Result<()> {
    let is_keras_name = output.extension().is_some_and(|e| {
        e.eq_ignore_ascii_case("h5")
            || e.eq_ignore_ascii_case("keras")
            || e.eq_ignore_ascii_case("hdf5")
    });
    if is_keras_name {
        return Err(Error::invalid_argument(
            "import",
            "--output",
            format!(
                "{} would be a recurrent model file (safetensors), not a Keras file; name \
                 it .safetensors",
                output.display()
            ),
        ));
    }
    if keras_file_format(model_path)?.is_none() {
        return Err(Error::format(
            model_path,
            "not a Keras model file: neither a .keras archive (zip) nor an .h5 (HDF5) file",
        ));
    }
    let imported = import_keras_model(model_path)?;
    let model = &imported.model;
    print!("{}", model.summary());
    save_model(model, output, &SaveExtras::default())?;
    println!(
        "Imported {} from {}: {} weights ({} parameters) written to {}",
        model.name(),
        describe(imported.format, &imported.keras_version),
        model.weight_shapes().len(),
        model.count_params(),
        output.display()
    );
    println!(
        "The file has no compile settings or text vectorizer: `recurrent predict` takes \
         token ids (or comma-separated floats for float inputs)."
    );
    Ok(())
}
