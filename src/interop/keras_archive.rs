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
use ndarray::ArrayD;

use super::hdf5_weights::{self, H5Result};
use super::keras_config::{check_param_bound, parse_keras_config};
use crate::error::{Error, Result};
use crate::layers::Layer;
use crate::model::Sequential;

/// Most bytes read of an archive's `config.json`.
const MAX_CONFIG_BYTES: u64 = 64 << 20;

/// Reads `path` (a `.keras` file) into a built `Sequential` with Keras's weights.
pub fn load_keras_archive(path: impl AsRef<Path>) -> Result<Sequential> {
    let path = path.as_ref();
    let bytes = crate::io::read_input(path)?;
    load_keras_archive_bytes(&bytes, path)
}

/// `load_keras_archive` on the file's bytes; `path` only names it in errors.
pub fn load_keras_archive_bytes(bytes: &[u8], path: &Path) -> Result<Sequential> {
    read_archive(bytes, path).map(|(m, _)| m)
}

/// The model and the `compile_config` of config.json (loss, metrics), if compiled.
pub(crate) fn read_archive(
    bytes: &[u8],
    path: &Path,
) -> Result<(Sequential, Option<serde_json::Value>)> {
    let fail = |reason: String| Error::Format {
        path: path.to_path_buf(),
        reason,
    };
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes))
        .map_err(|e| fail(format!("not a .keras (zip) archive: {e}")))?;
    // The declared sizes come from the file: what is read is capped by what a zip of
    // this size can hold (deflate expands at most ~1032x) and by what the member can
    // need: a config is text of kilobytes (64 MiB is far beyond any model's), the
    // weights stay under the byte ceiling. A 6 MB archive inflating to a 6 GB config
    // was read whole before this.
    let zip_cap = (bytes.len() as u64).saturating_mul(1100).max(1 << 20);
    let mut member = |name: &str, limit: u64| -> Result<Vec<u8>> {
        let mut f = zip
            .by_name(name)
            .map_err(|e| fail(format!("archive has no {name}: {e}")))?;
        let cap = zip_cap.min(limit);
        if f.size() > cap {
            return Err(fail(format!(
                "{name} declares {} bytes, over the {cap} this archive's {name} can hold",
                f.size()
            )));
        }
        let mut out = Vec::new();
        f.by_ref()
            .take(cap + 1)
            .read_to_end(&mut out)
            .map_err(|e| fail(format!("reading {name}: {e}")))?;
        if out.len() as u64 > cap {
            return Err(fail(format!(
                "{name} inflates past {cap} bytes (its declared size was {})",
                f.size()
            )));
        }
        Ok(out)
    };
    let config = String::from_utf8(member("config.json", MAX_CONFIG_BYTES)?)
        .map_err(|e| fail(format!("config.json is not UTF-8: {e}")))?;
    let parsed = parse_keras_config(&config).map_err(|e| fail(e.to_string()))?;
    let weights = member("model.weights.h5", crate::budget::max_bytes()?)?;
    let compile = serde_json::from_str::<serde_json::Value>(&config)
        .ok()
        .map(|root| root["compile_config"].clone())
        .filter(|c| !c.is_null())
        .map(|c| {
            if c["config"].is_object() {
                c["config"].clone()
            } else {
                c
            }
        });
    check_param_bound(&parsed, weights.len()).map_err(|e| fail(e.to_string()))?;
    let mut model = parsed.to_model().map_err(|e| fail(e.to_string()))?;
    let h5 = hdf5_weights::open(&weights, "model.weights.h5").map_err(&fail)?;
    let mut all = Vec::new();
    for (layer, key) in model.layers().iter().zip(layer_keys(&model)) {
        all.extend(layer_weights(&h5, layer.as_ref(), &key).map_err(&fail)?);
    }
    model.set_weights(&all).map_err(|e| fail(e.to_string()))?;
    Ok((model, compile))
}

/// Each layer's key in `model.weights.h5` (`layers/<key>`), in model order: Keras's
/// `_get_unique_name` on the class in snake case, the first keeping the bare name, then
/// `_1`, `_2`, ...
pub(crate) fn layer_keys(model: &Sequential) -> Vec<String> {
    let mut used = std::collections::HashMap::<&str, usize>::new();
    model
        .layers()
        .iter()
        .map(|layer| {
            let class = layer.default_name();
            match used.get_mut(class) {
                Some(n) => {
                    *n += 1;
                    format!("{class}_{n}")
                }
                None => {
                    used.insert(class, 0);
                    class.to_string()
                }
            }
        })
        .collect()
}

/// The HDF5 groups holding `layer`'s variables (stored under `key`), in our parameter
/// order.
pub(crate) fn var_groups(layer: &dyn Layer, key: &str) -> Vec<String> {
    let base = format!("layers/{key}");
    match layer.class_name() {
        "Bidirectional" => vec![
            format!("{base}/forward_layer/cell/vars"),
            format!("{base}/backward_layer/cell/vars"),
        ],
        "SimpleRNN" | "LSTM" | "GRU" => vec![format!("{base}/cell/vars")],
        // The wrapped layer's weights (TimeDistributed wraps Dense or Dropout here).
        "TimeDistributed" => vec![format!("{base}/layer/vars")],
        _ => vec![format!("{base}/vars")],
    }
}

/// Reads every weight of `layer` as `(model weight name, value)`.
fn layer_weights(
    h5: &Hdf5File,
    layer: &dyn Layer,
    key: &str,
) -> H5Result<Vec<(String, ArrayD<f32>)>> {
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
            let owner = format!("{}/{}", layer.name(), p.name);
            let value =
                hdf5_weights::read_weight(h5, "model.weights.h5", &at, p.value.shape(), &owner)?;
            out.push((owner, value));
        }
        // A dataset past the ones we expect means the layers do not line up.
        let extra = format!("{group}/{per_group}");
        if hdf5_weights::guarded(&extra, || Ok(h5.dataset(&extra).is_ok()))? {
            return Err(format!(
                "model.weights.h5: {extra} is a weight that layer `{}` does not have",
                layer.name()
            ));
        }
    }
    Ok(out)
}
