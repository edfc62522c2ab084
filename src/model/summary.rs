//! `Sequential::summary()`: the table Keras 3 prints for a Sequential model (rich
//! box drawing, 76 columns as Keras lays it out when not writing to a terminal of known
//! width), with the parameter totals and, once trained, the optimizer's variables.

use std::collections::HashMap;

use super::sequential::Sequential;
use crate::error::{Error, Result};
use crate::layers::{LayerConfig, format_shape};

/// Cell widths inside the borders (including one space of padding on each side).
const WIDTHS: [usize; 3] = [33, 24, 15];

impl Sequential {
    /// The model summary as Keras 3 prints it.
    pub fn summary(&self) -> String {
        let rows = self
            .layers
            .iter()
            .enumerate()
            .map(|(i, layer)| {
                let name = format!("{} ({})", layer.name(), layer.class_name());
                if layer.is_built() {
                    let shape = self
                        .output_shapes
                        .get(i)
                        .map_or_else(|| "?".to_string(), |s| format_shape(s));
                    (name, shape, thousands(layer.param_count()))
                } else {
                    (name, "?".to_string(), "0 (unbuilt)".to_string())
                }
            })
            .collect();
        let trainable = self.count_params();
        let optimizer = match self.optimizer() {
            Some(o) if o.is_built() => Some(o.variable_count(trainable)),
            _ => None,
        };
        table(&self.name, rows, trainable, optimizer)
    }
}

/// The summary `Sequential::summary` prints once the model `configs` describe is built
/// for `input_shape` (no batch axis), computed from the configs alone: no weight is
/// created, so it is instant at any size (initialising a 4096-unit LSTM takes
/// seconds) and sizes over the parameter budget are still an error (see `budget`).
/// Layer names are Keras's defaults as `Sequential::add` gives them.
pub fn config_summary(
    name: &str,
    configs: &[LayerConfig],
    input_shape: &[Option<usize>],
) -> Result<String> {
    let total = crate::budget::check_model_params(configs, input_shape)?;
    let mut counts: HashMap<&'static str, usize> = HashMap::new();
    let mut names: Vec<String> = Vec::new();
    let mut rows = Vec::new();
    let mut current = input_shape.to_vec();
    for config in configs {
        let layer = config.to_layer()?;
        let default = layer.default_name();
        let mut lname = layer.name().to_string();
        if lname == default {
            let n = counts.entry(default).or_insert(0);
            lname = if *n == 0 {
                default.to_string()
            } else {
                format!("{default}_{n}")
            };
            *n += 1;
            while names.contains(&lname) {
                lname = format!("{default}_{n}");
                *n += 1;
            }
        }
        let out = layer.compute_output_shape(&current).map_err(|e| {
            Error::Shape(format!(
                "layer `{lname}` ({}) cannot take input of shape {}: {e}",
                layer.class_name(),
                format_shape(&current)
            ))
        })?;
        let params = crate::budget::layer_params(config, &current).unwrap_or(0);
        rows.push((
            format!("{lname} ({})", layer.class_name()),
            format_shape(&out),
            thousands(params as usize),
        ));
        names.push(lname);
        current = out;
    }
    Ok(table(name, rows, total as usize, None))
}

/// The table, totals and (when built) optimizer line of a summary.
fn table(
    name: &str,
    rows: Vec<(String, String, String)>,
    trainable: usize,
    optimizer: Option<(usize, usize)>,
) -> String {
    let mut out = format!("Model: \"{name}\"\n");
    out += &border('┏', '━', '┳', '┓');
    out += &row(["Layer (type)", "Output Shape", "Param #"]);
    out += &border('┡', '━', '╇', '┩');
    for (i, (name, shape, params)) in rows.iter().enumerate() {
        if i > 0 {
            out += &border('├', '─', '┼', '┤');
        }
        out += &row([name, shape, params]);
    }
    out += &border('└', '─', '┴', '┘');
    let (opt_count, opt_bytes) = optimizer.unwrap_or((0, 0));
    out += &format!(
        " Total params: {} ({})\n",
        thousands(trainable + opt_count),
        memory(trainable * 4 + opt_bytes)
    );
    out += &format!(
        " Trainable params: {} ({})\n",
        thousands(trainable),
        memory(trainable * 4)
    );
    out += " Non-trainable params: 0 (0.00 B)\n";
    if optimizer.is_some() {
        out += &format!(
            " Optimizer params: {} ({})\n",
            thousands(opt_count),
            memory(opt_bytes)
        );
    }
    out
}

fn border(left: char, fill: char, mid: char, right: char) -> String {
    let parts: Vec<String> = WIDTHS.iter().map(|&w| fill.to_string().repeat(w)).collect();
    format!("{left}{}{right}\n", parts.join(&mid.to_string()))
}

/// One table row; cells too long for their column wrap onto more lines as rich does
/// (at spaces when possible). The header row uses heavy separators.
fn row(cells: [&str; 3]) -> String {
    let header = cells[0] == "Layer (type)";
    let sep = if header { '┃' } else { '│' };
    let wrapped: Vec<Vec<String>> = cells
        .iter()
        .zip(WIDTHS)
        .map(|(c, w)| wrap(c, w - 2))
        .collect();
    let lines = wrapped.iter().map(Vec::len).max().unwrap_or(1);
    let mut out = String::new();
    for l in 0..lines {
        out.push(sep);
        for (col, (cell, w)) in wrapped.iter().zip(WIDTHS).enumerate() {
            let text = cell.get(l).map_or("", String::as_str);
            let inner = w - 2;
            // The parameter column is right-aligned, header included.
            if col == 2 {
                out += &format!(" {text:>inner$} ");
            } else {
                out += &format!(" {text:<inner$} ");
            }
            out.push(sep);
        }
        out.push('\n');
    }
    out
}

fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut current = String::new();
    for word in text.split(' ') {
        let mut word: Vec<char> = word.chars().collect();
        let cur_len = current.chars().count();
        if cur_len > 0 && cur_len + 1 + word.len() <= width {
            current.push(' ');
            current.extend(word);
            continue;
        }
        if cur_len > 0 {
            lines.push(std::mem::take(&mut current));
        }
        while word.len() > width {
            let rest = word.split_off(width);
            lines.push(word.into_iter().collect());
            word = rest;
        }
        current = word.into_iter().collect();
    }
    lines.push(current);
    lines
}

/// `8809` -> `8,809`.
pub(crate) fn thousands(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Keras `readable_memory_size`: 1024-based units, two decimals.
fn memory(bytes: usize) -> String {
    let mut size = bytes as f64;
    for unit in ["B", "KB", "MB", "GB", "TB"] {
        if size / 1024.0 < 1.0 {
            return format!("{size:.2} {unit}");
        }
        size /= 1024.0;
    }
    format!("{size:.2} PB")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn number_formats() {
        assert_eq!(thousands(8809), "8,809");
        assert_eq!(thousands(1411713), "1,411,713");
        assert_eq!(thousands(0), "0");
        assert_eq!(memory(8809 * 4), "34.41 KB");
        assert_eq!(memory(244), "244.00 B");
        assert_eq!(memory(1543297 * 4), "5.89 MB");
    }

    #[test]
    fn long_cells_wrap() {
        assert_eq!(
            wrap("a_very_long_layer_name (Dense)", 10),
            ["a_very_lon", "g_layer_na", "me (Dense)"]
        );
    }

    #[test]
    fn config_summary_equals_the_built_models_and_needs_no_weights() {
        let configs: Vec<LayerConfig> = serde_json::from_str(
            r#"[{"type": "embedding", "input_dim": 1000, "output_dim": 16},
                {"type": "lstm", "units": 8, "return_sequences": true},
                {"type": "lstm", "units": 8},
                {"type": "dropout", "rate": 0.5},
                {"type": "dense", "units": 3, "activation": "softmax"}]"#,
        )
        .unwrap();
        let mut m = Sequential::from_configs(&configs).unwrap();
        m.build(&[Some(50)]).unwrap();
        assert_eq!(
            config_summary(m.name(), &configs, &[Some(50)]).unwrap(),
            m.summary()
        );
        // 4096 units: no orthogonal initialisation of a 4096 x 4096 matrix.
        let big: Vec<LayerConfig> = serde_json::from_str(
            r#"[{"type": "embedding", "input_dim": 1000, "output_dim": 16},
                {"type": "lstm", "units": 4096},
                {"type": "dense", "units": 1}]"#,
        )
        .unwrap();
        let start = std::time::Instant::now();
        let s = config_summary("big", &big, &[Some(50)]).unwrap();
        assert!(start.elapsed().as_millis() < 500, "{:?}", start.elapsed());
        assert!(s.contains("67,387,392"), "{s}");
    }
}
