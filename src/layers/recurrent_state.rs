//! Keras `return_state=True` and `initial_state=` for SimpleRNN, LSTM and GRU, as a
//! library call (Keras's `Sequential` cannot use them): `call_with_state(input,
//! initial_state, mask)` returns the layer's output and its final states, [h] for
//! SimpleRNN and GRU, [h, c] for LSTM.
//!
//! Keras semantics kept: a masked step keeps the states and repeats the previous
//! output (zeros before the first real step, even with a non-zero initial state), so
//! each final state is the state after the sample's last unmasked step (the initial
//! state if none); `go_backwards` reads the sequence and mask reversed and returns the
//! sequence output in that order. This is the inference computation (no dropout);
//! `call_with_state_gradients` runs it with a tape and back through time, giving the
//! gradients w.r.t. the input, the initial states and the weights (e.g. to train an
//! encoder-decoder). The layers' own training loops always start from zero states.

use ndarray::{Array2, ArrayD, ArrayView2, ArrayView3, ArrayViewD, IxDyn};

use super::recurrent as rec;
use super::{Activation, GRU, LSTM, Layer, Param, SimpleRNN};
use crate::error::{Error, Result};
use crate::kernels::{
    MatMut, MatRef, column_sums, gru_backward_row, gru_forward_row,
    gru_reset_before_backward_output_row, gru_reset_before_backward_reset_row,
    gru_reset_before_gates_row, gru_reset_before_output_row, lstm_backward_row, lstm_forward_row,
    matmul, rnn_backward_row, rnn_forward_row,
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
    fn state_spec(&self) -> Spec<'_> {
        let c = self.settings();
        Spec {
            layer: self.name(),
            class: "SimpleRNN",
            cell: Cell::Simple(c.activation),
            units: c.units,
            return_sequences: c.return_sequences,
            go_backwards: c.go_backwards,
            params: self.params(),
        }
    }

    /// Forward from `initial_state` ([h], each (batch, units); zeros when `None`) with
    /// an optional step mask (batch, steps); returns the output and the final [h].
    pub fn call_with_state(
        &self,
        input: ArrayView3<'_, f32>,
        initial_state: Option<&[ArrayView2<'_, f32>]>,
        mask: Option<&Array2<bool>>,
    ) -> Result<StateOutput> {
        run(&self.state_spec(), input, initial_state, mask, None)
    }

    /// The gradients of a loss through `call_with_state`, given dL/d(output) and
    /// dL/d(final states) (`None`: zero): w.r.t. the input, the initial states and
    /// every weight.
    pub fn call_with_state_gradients(
        &self,
        input: ArrayView3<'_, f32>,
        initial_state: Option<&[ArrayView2<'_, f32>]>,
        mask: Option<&Array2<bool>>,
        grad_output: ArrayViewD<'_, f32>,
        grad_states: Option<&[ArrayView2<'_, f32>]>,
    ) -> Result<StateGradients> {
        gradients(
            &self.state_spec(),
            input,
            initial_state,
            mask,
            grad_output,
            grad_states,
        )
    }
}

impl LSTM {
    fn state_spec(&self) -> Spec<'_> {
        let c = self.settings();
        Spec {
            layer: self.name(),
            class: "LSTM",
            cell: Cell::Lstm,
            units: c.units,
            return_sequences: c.return_sequences,
            go_backwards: c.go_backwards,
            params: self.params(),
        }
    }

    /// Forward from `initial_state` ([h, c], each (batch, units); zeros when `None`)
    /// with an optional step mask (batch, steps); returns the output and the final
    /// [h, c].
    pub fn call_with_state(
        &self,
        input: ArrayView3<'_, f32>,
        initial_state: Option<&[ArrayView2<'_, f32>]>,
        mask: Option<&Array2<bool>>,
    ) -> Result<StateOutput> {
        run(&self.state_spec(), input, initial_state, mask, None)
    }

    /// As `SimpleRNN::call_with_state_gradients`, with states [h, c].
    pub fn call_with_state_gradients(
        &self,
        input: ArrayView3<'_, f32>,
        initial_state: Option<&[ArrayView2<'_, f32>]>,
        mask: Option<&Array2<bool>>,
        grad_output: ArrayViewD<'_, f32>,
        grad_states: Option<&[ArrayView2<'_, f32>]>,
    ) -> Result<StateGradients> {
        gradients(
            &self.state_spec(),
            input,
            initial_state,
            mask,
            grad_output,
            grad_states,
        )
    }
}

impl GRU {
    fn state_spec(&self) -> Spec<'_> {
        let c = self.settings();
        Spec {
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
        }
    }

    /// Forward from `initial_state` ([h], (batch, units); zeros when `None`) with an
    /// optional step mask (batch, steps); returns the output and the final [h].
    pub fn call_with_state(
        &self,
        input: ArrayView3<'_, f32>,
        initial_state: Option<&[ArrayView2<'_, f32>]>,
        mask: Option<&Array2<bool>>,
    ) -> Result<StateOutput> {
        run(&self.state_spec(), input, initial_state, mask, None)
    }

    /// As `SimpleRNN::call_with_state_gradients`.
    pub fn call_with_state_gradients(
        &self,
        input: ArrayView3<'_, f32>,
        initial_state: Option<&[ArrayView2<'_, f32>]>,
        mask: Option<&Array2<bool>>,
        grad_output: ArrayViewD<'_, f32>,
        grad_states: Option<&[ArrayView2<'_, f32>]>,
    ) -> Result<StateGradients> {
        gradients(
            &self.state_spec(),
            input,
            initial_state,
            mask,
            grad_output,
            grad_states,
        )
    }
}

/// Gradients of a loss through one `call_with_state`.
#[derive(Clone, Debug)]
pub struct StateGradients {
    /// dL/d(input), (batch, steps, features), in input order.
    pub input: ArrayD<f32>,
    /// dL/d(initial states), as `initial_state` ([h] or [h, c]).
    pub initial_state: Vec<Array2<f32>>,
    /// dL/d(each weight), in `params()` order and shapes.
    pub weights: Vec<ArrayD<f32>>,
}

/// What the forward records for the backward pass, in processed (possibly reversed)
/// order: per step, the states before it and the cell's activations.
#[derive(Default)]
struct Tape {
    batch: usize,
    steps: usize,
    features: usize,
    x: Vec<f32>,
    step_mask: Vec<bool>,
    /// (steps, batch, u) each; `c_prev` only for LSTM.
    h_prev: Vec<f32>,
    c_prev: Vec<f32>,
    /// (steps, batch, gates * u): activations after the cell's pass (real rows only).
    gates: Vec<f32>,
    /// (steps, batch, u): tanh(c) (LSTM), h U_h + b (GRU reset_after), r * h_{t-1} (GRU
    /// reset_before).
    aux: Vec<f32>,
}

/// Checks `arg` (the initial states, or their gradients): `n` arrays of (batch, units),
/// finite; zeros when not given.
fn initial_states(
    spec: &Spec<'_>,
    arg: &str,
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
            "layer '{}' ({}): {arg} needs {n} array(s) {what}, got {}",
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
                    "layer '{}' ({}): {arg}[{i}] has shape {:?}, expected ({batch}, {u})",
                    spec.layer,
                    spec.class,
                    s.dim()
                )));
            }
            if let Some(v) = s.iter().find(|v| !v.is_finite()) {
                return Err(Error::Data(format!(
                    "layer '{}' ({}): {arg}[{i}] holds a non-finite value {v}",
                    spec.layer, spec.class
                )));
            }
            Ok(s.iter().copied().collect())
        })
        .collect()
}

// Compiled for the CPU's widest vectors: the gate passes inlined into the loop use the
// fast activations, which vectorise only there (see `simd_fn!`).
crate::simd_fn! {
    fn run(
        spec: &Spec<'_>,
        input: ArrayView3<'_, f32>,
        initial_state: Option<&[ArrayView2<'_, f32>]>,
        mask: Option<&Array2<bool>>,
        tape: Option<&mut Tape>,
    ) -> Result<StateOutput> {
        run_loop(spec, input, initial_state, mask, tape)
    }
}

/// The time loop over the whole batch, one step at a time.
#[inline(always)]
fn run_loop(
    spec: &Spec<'_>,
    input: ArrayView3<'_, f32>,
    initial_state: Option<&[ArrayView2<'_, f32>]>,
    mask: Option<&Array2<bool>>,
    mut tape: Option<&mut Tape>,
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
    let mut states = initial_states(spec, "initial_state", initial_state, batch)?;
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
    if let Some(tp) = tape.as_deref_mut() {
        tp.h_prev = vec![0.0; steps * batch * u];
        tp.c_prev = vec![
            0.0;
            if states.len() == 2 {
                steps * batch * u
            } else {
                0
            }
        ];
        tp.gates = vec![0.0; steps * batch * w];
        tp.aux = vec![0.0; steps * batch * u];
    }
    {
        for t in 0..steps {
            if let Some(tp) = tape.as_deref_mut() {
                let at = t * batch * u..(t + 1) * batch * u;
                tp.h_prev[at.clone()].copy_from_slice(&states[0]);
                if states.len() == 2 {
                    tp.c_prev[at].copy_from_slice(&states[1]);
                }
            }
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
                    if let Some(tp) = tape.as_deref_mut() {
                        let tb = t * batch + b;
                        tp.gates[tb * w..(tb + 1) * w].copy_from_slice(&gates);
                        tp.aux[tb * u..(tb + 1) * u].copy_from_slice(&scratch);
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
    }
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
    if let Some(tp) = tape {
        tp.batch = batch;
        tp.steps = steps;
        tp.features = f;
        tp.x = x;
        tp.step_mask = smask;
    }
    Ok((output, states))
}

/// Forward with a tape, then back through time (Keras's masked-step rules reversed:
/// a masked step passes the state and output gradients on unchanged).
fn gradients(
    spec: &Spec<'_>,
    input: ArrayView3<'_, f32>,
    initial_state: Option<&[ArrayView2<'_, f32>]>,
    mask: Option<&Array2<bool>>,
    grad_output: ArrayViewD<'_, f32>,
    grad_states: Option<&[ArrayView2<'_, f32>]>,
) -> Result<StateGradients> {
    let mut tape = Tape::default();
    let (y, _) = run(spec, input, initial_state, mask, Some(&mut tape))?;
    if grad_output.shape() != y.shape() {
        return Err(Error::Shape(format!(
            "layer '{}' ({}): output gradient has shape {:?}, expected {:?}",
            spec.layer,
            spec.class,
            grad_output.shape(),
            y.shape()
        )));
    }
    let (batch, steps, f) = (tape.batch, tape.steps, tape.features);
    let (u, w) = (spec.units, spec.cell.gates() * spec.units);
    // dL/d(final states), checked like initial states (zeros when absent).
    let mut carried = initial_states(spec, "grad_states", grad_states, batch)?;
    let (dh, rest) = carried.split_at_mut(1);
    let dh = &mut dh[0];
    let mut dc = rest.first_mut();
    let dy: Vec<f32> = grad_output.iter().copied().collect();
    let recurrent = rec::values(spec.layer, spec.params[1])?;
    let kernel = rec::values(spec.layer, spec.params[0])?;
    let mut dk = vec![0.0f32; f * w];
    let mut du = vec![0.0f32; u * w];
    let mut db_in = vec![0.0f32; w];
    let mut db_rec = vec![0.0f32; w];
    let mut dx = vec![0.0f32; batch * steps * f];
    // dL/d(output so far): flows back to the last real step (Keras repeats outputs).
    let mut dout = vec![0.0f32; batch * u];
    let (mut dz, mut drec) = (vec![0.0f32; batch * w], vec![0.0f32; batch * w]);
    let (mut direct, mut dhp) = (vec![0.0f32; batch * u], vec![0.0f32; batch * u]);
    let mut dcand = vec![0.0f32; batch * u];
    let mut xt = vec![0.0f32; batch * f];
    let mut dxt = vec![0.0f32; batch * f];
    let mut d_total = vec![0.0f32; u];
    let real = |b: usize, t: usize| tape.step_mask.is_empty() || tape.step_mask[b * steps + t];
    for t in (0..steps).rev() {
        if spec.return_sequences {
            for b in 0..batch {
                let g = &dy[(b * steps + t) * u..][..u];
                dout[b * u..(b + 1) * u]
                    .iter_mut()
                    .zip(g)
                    .for_each(|(a, v)| *a += v);
            }
        } else if t == steps - 1 {
            dout.iter_mut().zip(&dy).for_each(|(a, v)| *a += v);
        }
        let tb = |b: usize| t * batch + b;
        let h_prev = &tape.h_prev[t * batch * u..(t + 1) * batch * u];
        dz.fill(0.0);
        drec.fill(0.0);
        for b in 0..batch {
            if !real(b, t) {
                continue;
            }
            let row = b * u..(b + 1) * u;
            for ((d, a), o) in d_total
                .iter_mut()
                .zip(&dh[row.clone()])
                .zip(&dout[row.clone()])
            {
                *d = a + o;
            }
            dout[row.clone()].fill(0.0);
            let gates = &tape.gates[tb(b) * w..(tb(b) + 1) * w];
            let aux = &tape.aux[tb(b) * u..(tb(b) + 1) * u];
            let dzb = &mut dz[b * w..(b + 1) * w];
            match spec.cell {
                Cell::Simple(act) => rnn_backward_row(act, gates, &d_total, dzb),
                Cell::Lstm => {
                    let c_prev = &tape.c_prev[tb(b) * u..(tb(b) + 1) * u];
                    let dcb = &mut dc.as_deref_mut().expect("LSTM has a c state")[row.clone()];
                    lstm_backward_row(gates, c_prev, aux, &d_total, dcb, dzb);
                }
                Cell::GruAfter => gru_backward_row(
                    gates,
                    aux,
                    &h_prev[row.clone()],
                    &d_total,
                    dzb,
                    &mut drec[b * w..(b + 1) * w],
                    &mut direct[row],
                ),
                Cell::GruBefore => gru_reset_before_backward_output_row(
                    gates,
                    &h_prev[row.clone()],
                    &d_total,
                    dzb,
                    &mut direct[row],
                ),
            }
        }
        let hp = MatRef::new(h_prev, batch, u);
        match spec.cell {
            Cell::Simple(_) | Cell::Lstm => {
                matmul(
                    MatRef::new(&dz, batch, w),
                    MatRef::new(recurrent, u, w).t(),
                    0.0,
                    MatMut::new(&mut dhp, batch, u),
                );
                matmul(
                    hp.t(),
                    MatRef::new(&dz, batch, w),
                    1.0,
                    MatMut::new(&mut du, u, w),
                );
            }
            Cell::GruAfter => {
                matmul(
                    MatRef::new(&drec, batch, w),
                    MatRef::new(recurrent, u, w).t(),
                    0.0,
                    MatMut::new(&mut dhp, batch, u),
                );
                dhp.iter_mut().zip(&direct).for_each(|(a, d)| *a += d);
                matmul(
                    hp.t(),
                    MatRef::new(&drec, batch, w),
                    1.0,
                    MatMut::new(&mut du, u, w),
                );
                column_sums(&drec, batch, w, w, &mut db_rec, true);
            }
            Cell::GruBefore => {
                // dL/d(r * h_{t-1}) through the candidate's product, then the r gate.
                matmul(
                    MatRef::strided(&dz[2 * u..], batch, u, w),
                    MatRef::strided(&recurrent[2 * u..], u, u, w).t(),
                    0.0,
                    MatMut::new(&mut dcand, batch, u),
                );
                for b in (0..batch).filter(|&b| real(b, t)) {
                    let row = b * u..(b + 1) * u;
                    let gates = &tape.gates[tb(b) * w..(tb(b) + 1) * w];
                    gru_reset_before_backward_reset_row(
                        gates,
                        &h_prev[row.clone()],
                        &dcand[row.clone()],
                        &mut dz[b * w..(b + 1) * w],
                        &mut direct[row],
                    );
                }
                matmul(
                    MatRef::strided(&dz, batch, 2 * u, w),
                    MatRef::strided(recurrent, u, 2 * u, w).t(),
                    0.0,
                    MatMut::new(&mut dhp, batch, u),
                );
                dhp.iter_mut().zip(&direct).for_each(|(a, d)| *a += d);
                matmul(
                    hp.t(),
                    MatRef::strided(&dz, batch, 2 * u, w),
                    1.0,
                    MatMut::strided(&mut du, u, 2 * u, w),
                );
                let rh = &tape.aux[t * batch * u..(t + 1) * batch * u];
                matmul(
                    MatRef::new(rh, batch, u).t(),
                    MatRef::strided(&dz[2 * u..], batch, u, w),
                    1.0,
                    MatMut::strided(&mut du[2 * u..], u, u, w),
                );
            }
        }
        for b in (0..batch).filter(|&b| real(b, t)) {
            dh[b * u..(b + 1) * u].copy_from_slice(&dhp[b * u..(b + 1) * u]);
        }
        // Input side: dK += x_t^T dz, db += Σ dz, dx_t = dz K^T.
        for b in 0..batch {
            xt[b * f..(b + 1) * f].copy_from_slice(&tape.x[(b * steps + t) * f..][..f]);
        }
        let dzm = MatRef::new(&dz, batch, w);
        matmul(
            MatRef::new(&xt, batch, f).t(),
            dzm,
            1.0,
            MatMut::new(&mut dk, f, w),
        );
        column_sums(&dz, batch, w, w, &mut db_in, true);
        matmul(
            dzm,
            MatRef::new(kernel, f, w).t(),
            0.0,
            MatMut::new(&mut dxt, batch, f),
        );
        for b in 0..batch {
            dx[(b * steps + t) * f..][..f].copy_from_slice(&dxt[b * f..(b + 1) * f]);
        }
    }
    if spec.go_backwards {
        rec::reverse_steps(&mut dx, steps, f);
    }
    let mut weights = vec![
        ArrayD::from_shape_vec(IxDyn(spec.params[0].value.shape()), dk),
        ArrayD::from_shape_vec(IxDyn(spec.params[1].value.shape()), du),
    ];
    if let Some(p) = spec.params.get(2) {
        let mut db = db_in;
        if matches!(spec.cell, Cell::GruAfter) {
            db.extend_from_slice(&db_rec);
        }
        weights.push(ArrayD::from_shape_vec(IxDyn(p.value.shape()), db));
    }
    let weights = weights
        .into_iter()
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| Error::State(format!("layer '{}': gradient shapes: {e}", spec.layer)))?;
    Ok(StateGradients {
        input: ArrayD::from_shape_vec(IxDyn(&[batch, steps, f]), dx)
            .expect("batch * steps * features"),
        initial_state: carried
            .into_iter()
            .map(|s| Array2::from_shape_vec((batch, u), s).expect("batch * units"))
            .collect(),
        weights,
    })
}
