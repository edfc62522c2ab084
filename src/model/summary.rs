//! `Sequential::summary()`: the table Keras 3 prints for a Sequential model (rich
//! box drawing, 76 columns as Keras lays it out when not writing to a terminal of known
//! width), with the parameter totals and, once trained, the optimizer's variables.

use super::sequential::Sequential;
use crate::layers::format_shape;

/// Cell widths inside the borders (including one space of padding on each side).
const WIDTHS: [usize; 3] = [33, 24, 15];

impl Sequential {
    /// The model summary as Keras 3 prints it.
    pub fn summary(&self) -> String {
        let mut out = format!("Model: \"{}\"\n", self.name);
        out += &border('┏', '━', '┳', '┓');
        out += &row(["Layer (type)", "Output Shape", "Param #"]);
        out += &border('┡', '━', '╇', '┩');
        for (i, layer) in self.layers.iter().enumerate() {
            let name = format!("{} ({})", layer.name(), layer.class_name());
            let (shape, params) = if layer.is_built() {
                let shape = self
                    .output_shapes
                    .get(i)
                    .map_or_else(|| "?".to_string(), |s| format_shape(s));
                (shape, thousands(layer.param_count()))
            } else {
                ("?".to_string(), "0 (unbuilt)".to_string())
            };
            if i > 0 {
                out += &border('├', '─', '┼', '┤');
            }
            out += &row([&name, &shape, &params]);
        }
        out += &border('└', '─', '┴', '┘');
        let trainable = self.count_params();
        let (opt_count, opt_bytes) = match self.optimizer() {
            Some(o) if o.is_built() => o.variable_count(trainable),
            _ => (0, 0),
        };
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
        if self.optimizer().is_some_and(|o| o.is_built()) {
            out += &format!(
                " Optimizer params: {} ({})\n",
                thousands(opt_count),
                memory(opt_bytes)
            );
        }
        out
    }
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
}
