//! Loading a Keras 3 `.keras` archive (a zip of `config.json`, `metadata.json` and
//! `model.weights.h5`) of a Sequential model into our `Sequential`, weights included.
//!
//! Keras writes each layer's weights as HDF5 datasets `layers/<key>/vars/<i>` (recurrent
//! layers: `layers/<key>/cell/vars/<i>`; Bidirectional: `.../forward_layer/cell/vars/<i>`
//! then `backward_layer`), in the same order as our parameters. The key is not the
//! layer's name but its class in snake case, numbered within the model (`dense`,
//! `dense_1`, ...), as Keras's `saving_lib` addresses list members.

use std::io::Read;
use std::path::Path;

use hdf5_reader::Hdf5File;
use ndarray::{ArrayD, IxDyn};

use super::keras_config::parse_keras_config;
use crate::error::{Error, Result};
use crate::layers::Layer;
use crate::model::Sequential;

/// Reads `path` (a `.keras` file) into a built `Sequential` with Keras's weights.
pub fn load_keras_archive(path: impl AsRef<Path>) -> Result<Sequential> {
    let path = path.as_ref();
    let fail = |reason: String| Error::Format {
        path: path.to_path_buf(),
        reason,
    };
    let file = std::fs::File::open(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut zip =
        zip::ZipArchive::new(file).map_err(|e| fail(format!("not a .keras (zip) archive: {e}")))?;
    let mut member = |name: &str| -> Result<Vec<u8>> {
        let mut f = zip
            .by_name(name)
            .map_err(|e| fail(format!("archive has no {name}: {e}")))?;
        let mut bytes = Vec::new();
        f.read_to_end(&mut bytes)
            .map_err(|e| fail(format!("reading {name}: {e}")))?;
        Ok(bytes)
    };
    let config = String::from_utf8(member("config.json")?)
        .map_err(|e| fail(format!("config.json is not UTF-8: {e}")))?;
    let weights = member("model.weights.h5")?;
    let parsed = parse_keras_config(&config).map_err(|e| fail(e.to_string()))?;
    let input_shape = parsed.input_shape.ok_or_else(|| {
        fail("the model has no InputLayer, so its input shape is unknown".to_string())
    })?;
    let mut model = Sequential::from_configs(&parsed.layers)?;
    model.set_name(parsed.name);
    model.build(&input_shape)?;
    let h5 = Hdf5File::from_bytes(&weights)
        .map_err(|e| fail(format!("model.weights.h5 is not readable HDF5: {e}")))?;
    let mut all = Vec::new();
    let mut used = std::collections::HashMap::<&str, usize>::new();
    for layer in model.layers() {
        // Keras's `_get_unique_name`: the first keeps the bare name, then `_1`, `_2`, ...
        let class = layer.default_name();
        let key = match used.get_mut(class) {
            Some(n) => {
                *n += 1;
                format!("{class}_{n}")
            }
            None => {
                used.insert(class, 0);
                class.to_string()
            }
        };
        all.extend(layer_weights(&h5, layer.as_ref(), &key).map_err(&fail)?);
    }
    model.set_weights(&all)?;
    Ok(model)
}

/// The HDF5 groups holding `layer`'s variables (stored under `key`), in our parameter
/// order.
fn var_groups(layer: &dyn Layer, key: &str) -> Vec<String> {
    let base = format!("layers/{key}");
    match layer.class_name() {
        "Bidirectional" => vec![
            format!("{base}/forward_layer/cell/vars"),
            format!("{base}/backward_layer/cell/vars"),
        ],
        "SimpleRNN" | "LSTM" | "GRU" => vec![format!("{base}/cell/vars")],
        _ => vec![format!("{base}/vars")],
    }
}

/// Reads every weight of `layer` as `(model weight name, value)`.
fn layer_weights(
    h5: &Hdf5File,
    layer: &dyn Layer,
    key: &str,
) -> std::result::Result<Vec<(String, ArrayD<f32>)>, String> {
    let params = layer.params();
    if params.is_empty() {
        return Ok(Vec::new());
    }
    let groups = var_groups(layer, key);
    let per_group = params.len() / groups.len();
    let mut out = Vec::new();
    for (g, group) in groups.iter().enumerate() {
        for i in 0..per_group {
            let p = params[g * per_group + i];
            let at = format!("{group}/{i}");
            let ds = h5.dataset(&at).map_err(|e| {
                format!(
                    "model.weights.h5: no dataset {at} for weight `{}/{}`: {e}",
                    layer.name(),
                    p.name
                )
            })?;
            let shape: Vec<usize> = ds.shape().iter().map(|&d| d as usize).collect();
            if shape != p.value.shape() {
                return Err(format!(
                    "model.weights.h5: {at} has shape {shape:?}, but weight `{}/{}` is {:?}",
                    layer.name(),
                    p.name,
                    p.value.shape()
                ));
            }
            let mut data = vec![0.0f32; p.value.len()];
            ds.read_into(&mut data)
                .map_err(|e| format!("model.weights.h5: reading {at} as float32: {e}"))?;
            let value = ArrayD::from_shape_vec(IxDyn(&shape), data).expect("shape checked");
            out.push((format!("{}/{}", layer.name(), p.name), value));
        }
        // A dataset past the ones we expect means the layers do not line up.
        let extra = format!("{group}/{per_group}");
        if h5.dataset(&extra).is_ok() {
            return Err(format!(
                "model.weights.h5: {extra} is a weight that layer `{}` does not have",
                layer.name()
            ));
        }
    }
    Ok(out)
}
