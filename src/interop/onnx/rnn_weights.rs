//! Keras recurrent weights in ONNX layout.
//!
//! Keras keeps `kernel` as (input_dim, gates * units) and `recurrent_kernel` as
//! (units, gates * units), gates side by side in its order (LSTM i, f, c, o; GRU z, r,
//! h). ONNX wants per direction W (gates * hidden, input) and R (gates * hidden, hidden),
//! i.e. transposed, in its own gate order (LSTM i, o, f, c; GRU z, r, h), and B =
//! [Wb, Rb] (2 * gates * hidden): the input-side bias then the recurrent-side one.

use ndarray::ArrayD;

use crate::error::{Error, Result};

/// For each ONNX gate, its index in the Keras layout.
pub(crate) const LSTM_GATES: [usize; 4] = [0, 3, 1, 2];
pub(crate) const GRU_GATES: [usize; 3] = [0, 1, 2];
pub(crate) const SIMPLE_RNN_GATES: [usize; 1] = [0];

/// One direction's weights in ONNX layout, flattened row-major.
pub(crate) struct OnnxRnnWeights {
    /// (gates * units, input_dim)
    pub w: Vec<f32>,
    /// (gates * units, units)
    pub r: Vec<f32>,
    /// (2 * gates * units): Wb then Rb.
    pub b: Vec<f32>,
}

/// A Keras (rows, gates * units) matrix as ONNX's (gates * units, rows), reordered.
fn gate_matrix(m: &ArrayD<f32>, units: usize, gates: &[usize]) -> Vec<f32> {
    let rows = m.shape()[0];
    let mut out = Vec::with_capacity(m.len());
    for &src in gates {
        for j in 0..units {
            out.extend((0..rows).map(|row| m[[row, src * units + j]]));
        }
    }
    out
}

/// A Keras (gates * units) bias row in ONNX gate order.
fn gate_vector(b: &[f32], units: usize, gates: &[usize]) -> Vec<f32> {
    gates
        .iter()
        .flat_map(|&src| b[src * units..(src + 1) * units].iter().copied())
        .collect()
}

/// Convert one direction. `bias` is Keras's: (gates * units) for the input side only
/// (LSTM, SimpleRNN, GRU reset_after=False), (2, gates * units) input and recurrent
/// rows (GRU reset_after=True), or absent (use_bias=False, all zeros).
pub(crate) fn convert(
    layer: &str,
    kernel: &ArrayD<f32>,
    recurrent_kernel: &ArrayD<f32>,
    bias: Option<&ArrayD<f32>>,
    units: usize,
    gates: &[usize],
) -> Result<OnnxRnnWeights> {
    let width = gates.len() * units;
    let bad = |what: &str, shape: &[usize]| {
        Error::Shape(format!(
            "ONNX export: layer `{layer}` has {what} of shape {shape:?}, expected a width of \
             {width} ({} gates x {units} units)",
            gates.len()
        ))
    };
    if kernel.ndim() != 2 || kernel.shape()[1] != width {
        return Err(bad("kernel", kernel.shape()));
    }
    if recurrent_kernel.shape() != [units, width] {
        return Err(bad("recurrent_kernel", recurrent_kernel.shape()));
    }
    let mut b = vec![0.0; 2 * width];
    if let Some(bias) = bias {
        let flat = bias.as_standard_layout();
        let flat = flat.as_slice().expect("standard layout");
        match bias.shape() {
            [n] if *n == width => b[..width].copy_from_slice(&gate_vector(flat, units, gates)),
            [2, n] if *n == width => {
                b[..width].copy_from_slice(&gate_vector(&flat[..width], units, gates));
                b[width..].copy_from_slice(&gate_vector(&flat[width..], units, gates));
            }
            other => return Err(bad("bias", other)),
        }
    }
    Ok(OnnxRnnWeights {
        w: gate_matrix(kernel, units, gates),
        r: gate_matrix(recurrent_kernel, units, gates),
        b,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array1, Array2};

    #[test]
    fn lstm_gates_are_transposed_and_reordered() {
        // 1 input feature, 1 unit: kernel columns are the Keras gates i, f, c, o.
        let k = Array2::from_shape_vec((1, 4), vec![1.0, 2.0, 3.0, 4.0])
            .unwrap()
            .into_dyn();
        let r = Array2::from_shape_vec((1, 4), vec![10.0, 20.0, 30.0, 40.0])
            .unwrap()
            .into_dyn();
        let b = Array1::from(vec![0.1, 0.2, 0.3, 0.4]).into_dyn();
        let w = convert("lstm", &k, &r, Some(&b), 1, &LSTM_GATES).unwrap();
        assert_eq!(w.w, vec![1.0, 4.0, 2.0, 3.0]);
        assert_eq!(w.r, vec![10.0, 40.0, 20.0, 30.0]);
        assert_eq!(w.b, vec![0.1, 0.4, 0.2, 0.3, 0.0, 0.0, 0.0, 0.0]);
    }

    #[test]
    fn kernel_is_transposed_per_gate() {
        // 2 features, 2 units, one gate: ONNX W[j, f] = Keras kernel[f, j].
        let k = Array2::from_shape_vec((2, 2), vec![1.0, 2.0, 3.0, 4.0])
            .unwrap()
            .into_dyn();
        let r = Array2::<f32>::zeros((2, 2)).into_dyn();
        let w = convert("rnn", &k, &r, None, 2, &SIMPLE_RNN_GATES).unwrap();
        assert_eq!(w.w, vec![1.0, 3.0, 2.0, 4.0]);
        assert_eq!(w.b, vec![0.0; 4]);
    }

    #[test]
    fn gru_reset_after_bias_rows_go_to_wb_and_rb() {
        let k = Array2::<f32>::zeros((1, 3)).into_dyn();
        let r = Array2::<f32>::zeros((1, 3)).into_dyn();
        let b = Array2::from_shape_vec((2, 3), vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
            .unwrap()
            .into_dyn();
        let w = convert("gru", &k, &r, Some(&b), 1, &GRU_GATES).unwrap();
        assert_eq!(w.b, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    }

    #[test]
    fn wrong_bias_shape_is_an_error_naming_the_layer() {
        let k = Array2::<f32>::zeros((1, 3)).into_dyn();
        let r = Array2::<f32>::zeros((1, 3)).into_dyn();
        let b = Array1::<f32>::zeros(4).into_dyn();
        let e = convert("gru_7", &k, &r, Some(&b), 1, &GRU_GATES)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("gru_7") && e.contains("bias"), "{e}");
    }
}
