//! Keras `return_state=True` and `initial_state=` for SimpleRNN, LSTM and GRU, as a
//! library call (Keras's `Sequential` cannot use them): `call_with_state(input,
//! initial_state, mask)` returns the layer's output and its final states, [h] for
//! SimpleRNN and GRU, [h, c] for LSTM.
//!
//! Keras semantics kept: a masked step keeps the states and repeats the previous
//! output (zeros before the first real step, even with a non-zero initial state), so
//! each final state is the state after the sample's last unmasked step (the initial
//! state if none); `go_backwards` reads the sequence and mask reversed and returns the
//! sequence output in that order. This is the inference computation (no dropout, no
//! backward pass): the training loops in the layers always start from zero states.

use ndarray::{Array2, ArrayD, ArrayView2, ArrayView3, IxDyn};

use super::recurrent as rec;
use super::{Activation, GRU, LSTM, Layer, Param, SimpleRNN};
use crate::error::{Error, Result};
use crate::kernels::fast_math as fm;
use crate::kernels::{
    MatMut, MatRef, gru_forward_row, gru_reset_before_gates_row, gru_reset_before_output_row,
    lstm_forward_row, matmul, rnn_forward_row,
};

/// Output and final states of `call_with_state`.
pub type StateOutput = (ArrayD<f32>, Vec<Array2<f32>>);

/// The per-step update of one of the three cells.
#[derive(Clone, Copy, Debug)]
enum Cell {
    Simple(Activation),
    Lstm,
    /// GRU, reset_after = true (bias rows: input, recurrent).
    GruAfter,
    /// GRU, reset_after = false (one bias, on the input side).
    GruBefore,
}

impl Cell {
    fn gates(self) -> usize {
        match self {
            Cell::Simple(_) => 1,
            Cell::Lstm => 4,
            Cell::GruAfter | Cell::GruBefore => 3,
        }
    }
    fn states(self) -> usize {
        if matches!(self, Cell::Lstm) { 2 } else { 1 }
    }
}

/// What the time loop needs from a layer.
struct Spec<'a> {
    layer: &'a str,
    class: &'static str,
    cell: Cell,
    units: usize,
    return_sequences: bool,
    go_backwards: bool,
    params: Vec<&'a Param>,
}

impl SimpleRNN {
    /// Forward from `initial_state` ([h], each (batch, units); zeros when `None`) with
    /// an optional step mask (batch, steps); returns the output and the final [h].
    pub fn call_with_state(
        &self,
        input: ArrayView3<'_, f32>,
        initial_state: Option<&[ArrayView2<'_, f32>]>,
        mask: Option<&Array2<bool>>,
    ) -> Result<StateOutput> {
        let c = self.settings();
        let spec = Spec {
            layer: self.name(),
            class: "SimpleRNN",
            cell: Cell::Simple(c.activation),
            units: c.units,
            return_sequences: c.return_sequences,
            go_backwards: c.go_backwards,
            params: self.params(),
        };
        run(&spec, input, initial_state, mask)
    }
}

impl LSTM {
    /// Forward from `initial_state` ([h, c], each (batch, units); zeros when `None`)
    /// with an optional step mask (batch, steps); returns the output and the final
    /// [h, c].
    pub fn call_with_state(
        &self,
        input: ArrayView3<'_, f32>,
        initial_state: Option<&[ArrayView2<'_, f32>]>,
        mask: Option<&Array2<bool>>,
    ) -> Result<StateOutput> {
        let c = self.settings();
        let spec = Spec {
            layer: self.name(),
            class: "LSTM",
            cell: Cell::Lstm,
            units: c.units,
            return_sequences: c.return_sequences,
            go_backwards: c.go_backwards,
            params: self.params(),
        };
        run(&spec, input, initial_state, mask)
    }
}

impl GRU {
    /// Forward from `initial_state` ([h], (batch, units); zeros when `None`) with an
    /// optional step mask (batch, steps); returns the output and the final [h].
    pub fn call_with_state(
        &self,
        input: ArrayView3<'_, f32>,
        initial_state: Option<&[ArrayView2<'_, f32>]>,
        mask: Option<&Array2<bool>>,
    ) -> Result<StateOutput> {
        let c = self.settings();
        let spec = Spec {
            layer: self.name(),
            class: "GRU",
            cell: if c.reset_after {
                Cell::GruAfter
            } else {
                Cell::GruBefore
            },
            units: c.units,
            return_sequences: c.return_sequences,
            go_backwards: c.go_backwards,
            params: self.params(),
        };
        run(&spec, input, initial_state, mask)
    }
}

/// Checks the initial states: `n` arrays of (batch, units), finite.
fn initial_states(
    spec: &Spec<'_>,
    given: Option<&[ArrayView2<'_, f32>]>,
    batch: usize,
) -> Result<Vec<Vec<f32>>> {
    let (n, u) = (spec.cell.states(), spec.units);
    let Some(given) = given else {
        return Ok(vec![vec![0.0; batch * u]; n]);
    };
    let what = if n == 2 { "[h, c]" } else { "[h]" };
    if given.len() != n {
        return Err(Error::Shape(format!(
            "layer '{}' ({}): initial_state needs {n} array(s) {what}, got {}",
            spec.layer,
            spec.class,
            given.len()
        )));
    }
    given
        .iter()
        .enumerate()
        .map(|(i, s)| {
            if s.dim() != (batch, u) {
                return Err(Error::Shape(format!(
                    "layer '{}' ({}): initial state {i} has shape {:?}, expected ({batch}, {u})",
                    spec.layer,
                    spec.class,
                    s.dim()
                )));
            }
            if let Some(v) = s.iter().find(|v| !v.is_finite()) {
                return Err(Error::Data(format!(
                    "layer '{}' ({}): initial state {i} holds a non-finite value {v}",
                    spec.layer, spec.class
                )));
            }
            Ok(s.iter().copied().collect())
        })
        .collect()
}

/// The time loop over the whole batch, one step at a time.
fn run(
    spec: &Spec<'_>,
    input: ArrayView3<'_, f32>,
    initial_state: Option<&[ArrayView2<'_, f32>]>,
    mask: Option<&Array2<bool>>,
) -> Result<StateOutput> {
    if spec.params.is_empty() {
        return Err(rec::not_built(spec.layer));
    }
    let (u, w) = (spec.units, spec.cell.gates() * spec.units);
    let kernel = rec::values(spec.layer, spec.params[0])?;
    let recurrent = rec::values(spec.layer, spec.params[1])?;
    let bias = match spec.params.get(2) {
        Some(p) => Some(rec::values(spec.layer, p)?),
        None => None,
    };
    let f = kernel.len() / w;
    let mut x = Vec::new();
    let view = input.into_dyn();
    let (batch, steps) = rec::load_sequence(
        spec.layer,
        &super::LayerInput::Floats(view.view()),
        f,
        &mut x,
    )?;
    let mut smask = rec::step_mask(spec.layer, mask, batch, steps)?;
    if spec.go_backwards {
        rec::reverse_steps(&mut x, steps, f);
        rec::reverse_steps(&mut smask, steps, 1);
    }
    let mut states = initial_states(spec, initial_state, batch)?;
    // reset_after: bias row 0 on the input side, row 1 on the recurrent product.
    let zeros = vec![0.0f32; w];
    let (in_bias, rec_bias) = match (spec.cell, bias) {
        (Cell::GruAfter, Some(b)) => (Some(&b[..w]), &b[w..]),
        (_, b) => (b, &zeros[..]),
    };
    let mut proj = Vec::new();
    rec::project_inputs(&x, batch * steps, f, kernel, w, in_bias, &mut proj);

    let mut out = vec![
        0.0f32;
        if spec.return_sequences {
            batch * steps * u
        } else {
            0
        }
    ];
    let mut prev_out = vec![0.0f32; batch * u];
    let mut rec_prod = vec![0.0f32; batch * w];
    let mut gates = vec![0.0f32; w];
    let (mut h_new, mut c_new, mut scratch, mut cand) = (
        vec![0.0f32; u],
        vec![0.0f32; u],
        vec![0.0f32; u],
        vec![0.0f32; u],
    );
    fm::dispatch(|| {
        for t in 0..steps {
            matmul(
                MatRef::new(&states[0], batch, u),
                MatRef::new(recurrent, u, w),
                0.0,
                MatMut::new(&mut rec_prod, batch, w),
            );
            for b in 0..batch {
                let real = smask.is_empty() || smask[b * steps + t];
                let row = b * u..(b + 1) * u;
                if real {
                    gates.copy_from_slice(&proj[(b * steps + t) * w..][..w]);
                    let r = &rec_prod[b * w..(b + 1) * w];
                    let h_prev = &states[0][row.clone()];
                    match spec.cell {
                        Cell::Simple(act) => {
                            gates.iter_mut().zip(r).for_each(|(g, v)| *g += v);
                            rnn_forward_row(act, &mut gates);
                            h_new.copy_from_slice(&gates);
                        }
                        Cell::Lstm => {
                            gates.iter_mut().zip(r).for_each(|(g, v)| *g += v);
                            let c_prev = &states[1][row.clone()];
                            lstm_forward_row(
                                &mut gates,
                                c_prev,
                                &mut c_new,
                                &mut scratch,
                                &mut h_new,
                            );
                        }
                        Cell::GruAfter => {
                            gru_forward_row(
                                &mut gates,
                                r,
                                rec_bias,
                                h_prev,
                                &mut scratch,
                                &mut h_new,
                            );
                        }
                        Cell::GruBefore => {
                            gru_reset_before_gates_row(
                                &mut gates,
                                &r[..2 * u],
                                h_prev,
                                &mut scratch,
                            );
                            matmul(
                                MatRef::new(&scratch, 1, u),
                                MatRef::strided(&recurrent[2 * u..], u, u, w),
                                0.0,
                                MatMut::new(&mut cand, 1, u),
                            );
                            gru_reset_before_output_row(&mut gates, &cand, h_prev, &mut h_new);
                        }
                    }
                    states[0][row.clone()].copy_from_slice(&h_new);
                    if matches!(spec.cell, Cell::Lstm) {
                        states[1][row.clone()].copy_from_slice(&c_new);
                    }
                    prev_out[row.clone()].copy_from_slice(&h_new);
                }
                // A masked step repeats the previous output (Keras: zeros before any).
                if spec.return_sequences {
                    out[(b * steps + t) * u..][..u].copy_from_slice(&prev_out[row]);
                }
            }
        }
    });
    let output = if spec.return_sequences {
        ArrayD::from_shape_vec(IxDyn(&[batch, steps, u]), out)
    } else {
        ArrayD::from_shape_vec(IxDyn(&[batch, u]), prev_out)
    }
    .expect("output buffer matches its shape");
    let states = states
        .into_iter()
        .map(|s| Array2::from_shape_vec((batch, u), s).expect("batch * units"))
        .collect();
    Ok((output, states))
}
