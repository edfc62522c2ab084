//! The resource budget: every reader and builder checks a declared size here before
//! it allocates, so a small hostile file (a 16 KB model file whose header claims a
//! billion-unit layer, a 583 KB `.npz` that inflates to 4.8 GB) is refused with an
//! error naming the layer or member and the size, instead of aborting the process on
//! "memory allocation failed" or filling the machine.
//!
//! Two ceilings, both read from the environment so a user with a bigger machine can
//! raise them:
//! - `RECURRENT_MAX_PARAMS` (default 400 million): the parameter count of one model.
//!   Training holds about six f32 copies of every parameter (weights, gradients,
//!   Adam's two moments, and while saving or loading the file bytes plus the decoded
//!   tensors), 24 bytes a parameter: 400 M parameters are 9.6 GB, which fits a 16 GB
//!   machine with room for the data and the activations.
//! - `RECURRENT_MAX_BYTES` (default 4 GiB): the bytes one decompressed or decoded
//!   array may take in memory (an `.npz` member, a dataset array once widened to
//!   64-bit integers). Keras's IMDB archive inflates to about 100 MB.
//!
//! A ceiling only bounds honest sizes; sizes a file declares about itself are also
//! checked against what the file can hold (a model file must contain every weight its
//! config declares; a zip member is read through a limit because its declared size
//! can lie).

use crate::error::{Error, Result};
use crate::layers::{LayerConfig, Shape};

/// Default of `RECURRENT_MAX_PARAMS`.
pub const DEFAULT_MAX_PARAMS: u64 = 400_000_000;
/// Default of `RECURRENT_MAX_BYTES`.
pub const DEFAULT_MAX_BYTES: u64 = 4 << 30;

/// Name of the parameter-count ceiling's environment variable.
pub const MAX_PARAMS_VAR: &str = "RECURRENT_MAX_PARAMS";
/// Name of the array-bytes ceiling's environment variable.
pub const MAX_BYTES_VAR: &str = "RECURRENT_MAX_BYTES";

fn env_limit(var: &str, default: u64) -> Result<u64> {
    match std::env::var(var) {
        Err(std::env::VarError::NotPresent) => Ok(default),
        Err(std::env::VarError::NotUnicode(_)) => Err(Error::invalid_argument(
            "the environment",
            var,
            "is not valid UTF-8",
        )),
        Ok(s) => {
            let t = s.trim().replace('_', "");
            t.parse::<u64>().ok().filter(|&v| v > 0).ok_or_else(|| {
                Error::invalid_argument(
                    "the environment",
                    var,
                    format!(
                        "must be a positive integer, got {}",
                        crate::budget::quote(&s, 40)
                    ),
                )
            })
        }
    }
}

/// The parameter ceiling in force (`RECURRENT_MAX_PARAMS` or the default).
pub fn max_params() -> Result<u64> {
    env_limit(MAX_PARAMS_VAR, DEFAULT_MAX_PARAMS)
}

/// The per-array byte ceiling in force (`RECURRENT_MAX_BYTES` or the default).
pub fn max_bytes() -> Result<u64> {
    env_limit(MAX_BYTES_VAR, DEFAULT_MAX_BYTES)
}

/// Human-readable byte count (`4.8 GB`, `583 KB`): decimal units, as `ls -h --si`.
pub fn human_bytes(n: u128) -> String {
    let units = ["bytes", "KB", "MB", "GB", "TB", "PB", "EB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1000.0 && u + 1 < units.len() {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} bytes")
    } else {
        format!("{v:.1} {}", units[u])
    }
}

/// Refuses `bytes` of memory for `what` when over the byte ceiling. The message
/// names `what`, the size and how to raise the ceiling.
pub fn check_bytes(what: &str, bytes: u128) -> Result<(), String> {
    let max = max_bytes().map_err(|e| e.to_string())?;
    if bytes > u128::from(max) {
        return Err(format!(
            "{what} needs {} in memory, over the limit of {} (set {MAX_BYTES_VAR} to raise it)",
            human_bytes(bytes),
            human_bytes(u128::from(max))
        ));
    }
    Ok(())
}

/// Longest text an error quotes from user input.
pub const QUOTE_CHARS: usize = 200;
/// Most items an error lists.
pub const LIST_ITEMS: usize = 20;

/// Names as an error lists them: each quoted and capped at `QUOTE_CHARS`, at most
/// `LIST_ITEMS` of them, then the count.
pub fn quote_list<S: AsRef<str>>(items: &[S]) -> String {
    let shown: Vec<String> = items
        .iter()
        .take(LIST_ITEMS)
        .map(|s| quote(s.as_ref(), QUOTE_CHARS))
        .collect();
    if items.len() > LIST_ITEMS {
        format!("[{}, … ({} in all)]", shown.join(", "), items.len())
    } else {
        format!("[{}]", shown.join(", "))
    }
}

/// `s` as a quoted string of at most `max_chars` characters: longer text is cut
/// with "…" and its full length given, so an error never echoes a 10 MB line.
pub fn quote(s: &str, max_chars: usize) -> String {
    let mut chars = s.char_indices();
    match chars.nth(max_chars) {
        None => format!("{s:?}"),
        Some((cut, _)) => format!("{:?}… ({} characters in all)", &s[..cut], s.chars().count()),
    }
}

/// Parameters of one layer (as its config declares) for `input` (no batch axis), in
/// u128 so no declared size can overflow. `None` when the input shape does not give
/// the sizes the layer needs (the shape check reports that in its own words).
pub fn layer_params(config: &LayerConfig, input: &[Option<usize>]) -> Option<u128> {
    let last = || input.last().copied().flatten().map(|d| d as u128);
    let rnn = |units: usize, gates: u128, bias: u128| -> Option<u128> {
        let u = units as u128;
        let f = last()?;
        Some(gates * u * (f + u) + bias)
    };
    Some(match config {
        LayerConfig::Embedding(c) => c.input_dim as u128 * c.output_dim as u128,
        LayerConfig::SimpleRnn(c) => rnn(c.units, 1, if c.use_bias { c.units as u128 } else { 0 })?,
        LayerConfig::Lstm(c) => rnn(c.units, 4, if c.use_bias { 4 * c.units as u128 } else { 0 })?,
        LayerConfig::Gru(c) => {
            let bias = match (c.use_bias, c.reset_after) {
                (false, _) => 0,
                (true, true) => 6 * c.units as u128,
                (true, false) => 3 * c.units as u128,
            };
            rnn(c.units, 3, bias)?
        }
        LayerConfig::Dense(c) => {
            let u = c.units as u128;
            last()? * u + if c.use_bias { u } else { 0 }
        }
        LayerConfig::Conv1D(c) => {
            let channels = if c.data_format == "channels_first" {
                input.first().copied().flatten()? as u128
            } else {
                last()?
            };
            let f = c.filters as u128;
            c.kernel_size as u128 * channels * f + if c.use_bias { f } else { 0 }
        }
        LayerConfig::Bidirectional(c) => 2 * layer_params(&c.layer, input)?,
        LayerConfig::TimeDistributed(c) => layer_params(&c.layer, input.get(1..)?)?,
        LayerConfig::Dropout(_)
        | LayerConfig::GlobalAveragePooling1D(_)
        | LayerConfig::GlobalMaxPooling1D(_)
        | LayerConfig::MaxPooling1D(_) => 0,
    })
}

/// A layer for messages: its position, name and type.
fn layer_label(i: usize, layer: &dyn crate::layers::Layer) -> String {
    format!("layer {i} (`{}`, {})", layer.name(), layer.class_name())
}

/// Walks `configs` from `input_shape` (no batch axis) without creating any weight and
/// returns the model's total parameter count; refuses a model over the
/// `RECURRENT_MAX_PARAMS` ceiling, or one layer whose weights alone are over it,
/// naming that layer and its size. Shape errors are left to the model's build, which
/// words them; the count then covers the layers before the mismatch.
pub fn check_model_params(configs: &[LayerConfig], input_shape: &[Option<usize>]) -> Result<u128> {
    let max = u128::from(max_params()?);
    let mut total: u128 = 0;
    let mut current: Shape = input_shape.to_vec();
    let mut largest: Option<(String, u128)> = None;
    for (i, config) in configs.iter().enumerate() {
        // An unbuilt layer holds only its config: creating one allocates no weights.
        let Ok(layer) = config.to_layer() else {
            break;
        };
        let Some(n) = layer_params(config, &current) else {
            break;
        };
        total = total.saturating_add(n);
        if largest.as_ref().is_none_or(|(_, m)| n > *m) {
            largest = Some((layer_label(i, layer.as_ref()), n));
        }
        if total > max {
            let (name, n) = largest.expect("set above");
            return Err(Error::invalid_argument(
                "the model",
                "size",
                format!(
                    "{name} declares {n} parameters ({} as f32); the model would hold at \
                     least {total} parameters, over the limit of {max} (set {MAX_PARAMS_VAR} \
                     to raise it)",
                    human_bytes(n.saturating_mul(4)),
                ),
            ));
        }
        match layer.compute_output_shape(&current) {
            Ok(out) => current = out,
            Err(_) => break,
        }
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layers(json: &str) -> Vec<LayerConfig> {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn counts_match_built_models() {
        let cases = [
            r#"[{"type": "embedding", "input_dim": 50, "output_dim": 8},
                {"type": "lstm", "units": 5, "return_sequences": true},
                {"type": "bidirectional", "layer": {"type": "gru", "units": 3}},
                {"type": "dense", "units": 2}]"#,
            r#"[{"type": "conv1d", "filters": 4, "kernel_size": 3},
                {"type": "max_pooling1d"},
                {"type": "simple_rnn", "units": 6, "return_sequences": true},
                {"type": "time_distributed", "layer": {"type": "dense", "units": 3}},
                {"type": "gru", "units": 2, "reset_after": false, "use_bias": true},
                {"type": "dropout", "rate": 0.5},
                {"type": "dense", "units": 1, "use_bias": false}]"#,
        ];
        let shapes: [Shape; 2] = [vec![Some(7)], vec![Some(12), Some(3)]];
        for (json, shape) in cases.iter().zip(&shapes) {
            let configs = layers(json);
            let counted = check_model_params(&configs, shape).unwrap();
            let mut m = crate::Sequential::from_configs(&configs).unwrap();
            m.build(shape).unwrap();
            assert_eq!(counted, m.count_params() as u128, "{json}");
        }
    }

    #[test]
    fn huge_layers_are_refused_by_name_without_allocating() {
        let configs = layers(
            r#"[{"type": "embedding", "input_dim": 100, "output_dim": 8},
                {"type": "lstm", "units": 4000000000},
                {"type": "dense", "units": 1}]"#,
        );
        let e = check_model_params(&configs, &[Some(5)])
            .unwrap_err()
            .to_string();
        assert!(e.contains("layer 1 (`lstm`, LSTM)"), "{e}");
        assert!(e.contains(MAX_PARAMS_VAR), "{e}");
        // Sizes beyond u64 do not overflow the count.
        let configs = layers(&format!(
            r#"[{{"type": "embedding", "input_dim": {m}, "output_dim": {m}}}]"#,
            m = usize::MAX
        ));
        assert!(check_model_params(&configs, &[None]).is_err());
    }

    #[test]
    fn quote_caps_long_text() {
        assert_eq!(quote("abc", 10), "\"abc\"");
        let long = "é".repeat(1000);
        let q = quote(&long, 200);
        assert!(q.len() < 500, "{q}");
        assert!(q.contains("…") && q.contains("1000 characters"), "{q}");
    }

    #[test]
    fn human_sizes() {
        assert_eq!(human_bytes(12), "12 bytes");
        assert_eq!(human_bytes(4_800_000_000), "4.8 GB");
    }
}
