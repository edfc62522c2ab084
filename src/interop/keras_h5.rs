//! Loading a legacy Keras HDF5 full-model file (`model.save("m.h5")`,
//! `ModelCheckpoint("best-lstm-model.h5")`, from Keras 2, tf.keras 2.x or Keras 3's
//! `keras.src.legacy.saving.legacy_h5_format`) into our `Sequential`, weights included.
//!
//! Layout: the root attribute `model_config` is the model's JSON config; group
//! `model_weights/<layer name>` has the attribute `weight_names` listing that layer's
//! weights in Keras's order (`lstm/lstm_cell/kernel:0` in Keras 2,
//! `sequential/lstm/lstm_cell/kernel` in Keras 3), each a dataset at
//! `model_weights/<layer name>/<weight name>`. Keras itself loads by that order, so do
//! we: the order matches our parameters, each name's last part must be the parameter's
//! (`kernel`, `recurrent_kernel`, `bias`, `embeddings`) and each shape must match.
//! Of a checkpoint's `training_config` the loss and metrics are kept (for evaluation);
//! `optimizer_weights` are not read.

use std::path::Path;

use hdf5_reader::Hdf5File;
use ndarray::ArrayD;

use super::hdf5_weights::{self, H5Result};
use super::keras_config::{check_param_bound, parse_keras_model_config};
use crate::error::{Error, Result};
use crate::layers::Layer;
use crate::model::Sequential;

/// What the loader learnt about the file besides the model, for summaries.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct KerasH5Info {
    /// The root `keras_version` attribute (`2.21.0`, `3.15.1`), when present.
    pub keras_version: Option<String>,
    /// The root `backend` attribute (`tensorflow`), when present.
    pub backend: Option<String>,
    /// The root `training_config` (loss, metrics, optimizer) of a compiled model.
    pub training_config: Option<serde_json::Value>,
}

/// Reads `path` (a Keras `.h5` full-model file) into a built `Sequential`.
pub fn load_keras_h5(path: impl AsRef<Path>) -> Result<Sequential> {
    let path = path.as_ref();
    let bytes = crate::io::read_input(path)?;
    load_keras_h5_bytes(&bytes, path).map(|(m, _)| m)
}

/// `load_keras_h5` on the file's bytes; `path` only names it in errors.
pub fn load_keras_h5_bytes(bytes: &[u8], path: &Path) -> Result<(Sequential, KerasH5Info)> {
    let fail = |reason: String| Error::format(path, reason);
    if !hdf5_weights::is_hdf5(bytes) {
        return Err(fail("not an HDF5 file (no HDF5 signature)".into()));
    }
    let h5 = hdf5_weights::open(bytes, "the file").map_err(&fail)?;
    let root = hdf5_weights::group(&h5, "/").map_err(&fail)?;
    let Some(config) = hdf5_weights::string_attribute(&root, "model_config").map_err(&fail)? else {
        return Err(fail(missing_config_reason(&h5)?));
    };
    let info = KerasH5Info {
        keras_version: hdf5_weights::string_attribute(&root, "keras_version")
            .ok()
            .flatten(),
        backend: hdf5_weights::string_attribute(&root, "backend")
            .ok()
            .flatten(),
        training_config: hdf5_weights::string_attribute(&root, "training_config")
            .ok()
            .flatten()
            .and_then(|t| serde_json::from_str(&t).ok()),
    };
    let parsed =
        parse_keras_model_config(&config, "model_config").map_err(|e| fail(e.to_string()))?;
    check_param_bound(&parsed, bytes.len()).map_err(|e| fail(e.to_string()))?;
    let mut model = parsed.to_model().map_err(|e| fail(e.to_string()))?;
    let weights = read_weights(&h5, &model).map_err(&fail)?;
    model
        .set_weights(&weights)
        .map_err(|e| fail(e.to_string()))?;
    Ok((model, info))
}

/// Why an HDF5 file without `model_config` is not a model we can load.
fn missing_config_reason(h5: &Hdf5File) -> Result<String, Error> {
    let probe = || -> H5Result<String> {
        let root = hdf5_weights::group(h5, "/")?;
        // Keras 2 `save_weights("w.h5")`: the layer groups at the root.
        if hdf5_weights::has_attribute(&root, "layer_names")? {
            return Ok(
                "a weights-only Keras file (`save_weights`): it has layer weights \
                       but no `model_config`, so the architecture is unknown; save the \
                       whole model (`model.save(\"m.h5\")`, or ModelCheckpoint without \
                       save_weights_only) and import that"
                    .into(),
            );
        }
        // Keras 3 `save_weights("m.weights.h5")`.
        if hdf5_weights::has_member(&root, "layers")? || hdf5_weights::has_member(&root, "vars")? {
            return Ok(
                "a Keras 3 weights-only file (`.weights.h5`): it has no model \
                       config, so the architecture is unknown; import the `.keras` file \
                       saved with `model.save`"
                    .into(),
            );
        }
        Ok("an HDF5 file without a `model_config` attribute: not a Keras model file".into())
    };
    Ok(probe().unwrap_or_else(|e| e))
}

/// Every weight of `model` from `model_weights/`, as `(model weight name, value)`.
fn read_weights(h5: &Hdf5File, model: &Sequential) -> H5Result<Vec<(String, ArrayD<f32>)>> {
    let weights = hdf5_weights::group(h5, "model_weights")
        .map_err(|_| "the file has a model config but no `model_weights` group".to_string())?;
    let mut out = Vec::new();
    for layer in model.layers() {
        out.extend(layer_weights(h5, layer.as_ref())?);
    }
    // A layer in the file with weights but not in the model means they do not line up.
    if let Some(names) = hdf5_weights::string_list(&weights, "layer_names")? {
        for name in names {
            if name == "top_level_model_weights" || model.layer(&name).is_some() {
                continue;
            }
            let group = hdf5_weights::group(h5, &format!("model_weights/{name}"))?;
            let listed = hdf5_weights::string_list(&group, "weight_names")?.unwrap_or_default();
            if !listed.is_empty() {
                return Err(format!(
                    "model_weights/{name} holds {} weights of a layer `{name}` that the \
                     model config does not have",
                    listed.len()
                ));
            }
        }
    }
    if hdf5_weights::has_member(&weights, "top_level_model_weights")? {
        let top = hdf5_weights::group(h5, "model_weights/top_level_model_weights")?;
        let listed = hdf5_weights::string_list(&top, "weight_names")?.unwrap_or_default();
        if !listed.is_empty() {
            return Err(format!(
                "model_weights/top_level_model_weights holds weights outside any layer \
                 ({}); they are not supported",
                listed.join(", ")
            ));
        }
    }
    Ok(out)
}

/// The last part of a Keras weight name without TF's `:0` suffix (`kernel`).
fn base_name(name: &str) -> &str {
    let last = name.rsplit('/').next().unwrap_or(name);
    last.split(':').next().unwrap_or(last)
}

fn layer_weights(h5: &Hdf5File, layer: &dyn Layer) -> H5Result<Vec<(String, ArrayD<f32>)>> {
    let params = layer.params();
    if params.is_empty() {
        return Ok(Vec::new());
    }
    let lname = layer.name();
    let at = format!("model_weights/{lname}");
    let group = hdf5_weights::group(h5, &at).map_err(|_| {
        format!(
            "no weights for layer {} (`{lname}`): the file has no group {at}",
            layer.class_name()
        )
    })?;
    let names = hdf5_weights::string_list(&group, "weight_names")?
        .ok_or_else(|| format!("{at} has no `weight_names` attribute"))?;
    if names.len() != params.len() {
        return Err(format!(
            "{at} lists {} weights ({}), but layer {} (`{lname}`) has {} ({})",
            names.len(),
            names.join(", "),
            layer.class_name(),
            params.len(),
            params.iter().map(|p| p.name).collect::<Vec<_>>().join(", ")
        ));
    }
    let mut out = Vec::new();
    for (wname, p) in names.iter().zip(&params) {
        let owner = format!("{lname}/{}", p.name);
        if base_name(wname) != base_name(p.name) {
            return Err(format!(
                "{at}: weight `{wname}` is where layer {} (`{lname}`) has `{}`; the \
                 weights are not in Keras's order",
                layer.class_name(),
                p.name
            ));
        }
        let value =
            hdf5_weights::read_weight(h5, "", &format!("{at}/{wname}"), p.value.shape(), &owner)?;
        out.push((owner, value));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::base_name;

    #[test]
    fn weight_base_names() {
        assert_eq!(base_name("lstm/lstm_cell/kernel:0"), "kernel");
        assert_eq!(base_name("sequential/dense/bias"), "bias");
        assert_eq!(
            base_name("forward_lstm/recurrent_kernel"),
            "recurrent_kernel"
        );
        assert_eq!(base_name("embeddings"), "embeddings");
    }
}
