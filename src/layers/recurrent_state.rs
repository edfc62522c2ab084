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
//! encoder-decoder). The layers' own fast loops always start from zero states; a
//! stateful layer (`layers::stateful`) runs its batches here, from its carried states.

use ndarray::{Array2, ArrayD, ArrayView2, ArrayView3, ArrayViewD, IxDyn};

use super::Param;
use super::recurrent as rec;
use super::rnn::{Cell, CellKind, Recurrent};
use crate::error::{Error, Result};
use crate::kernels::{
    MatMut, MatRef, column_sums, gru_backward_row, gru_forward_row,
    gru_reset_before_backward_output_row, gru_reset_before_backward_reset_row,
    gru_reset_before_gates_row, gru_reset_before_output_row, lstm_backward_row, lstm_forward_row,
    matmul, rnn_backward_row, rnn_forward_row,
};

/// Output and final states of `call_with_state`.
pub type StateOutput = (ArrayD<f32>, Vec<Array2<f32>>);

/// What the time loop needs from a layer.
struct Spec<'a> {
    layer: &'a str,
    class: &'static str,
    cell: CellKind,
    units: usize,
    return_sequences: bool,
    go_backwards: bool,
    params: Vec<&'a Param>,
}

impl<C: Cell> Recurrent<C> {
    fn state_spec(&self) -> Spec<'_> {
        let c = &self.config;
        Spec {
            layer: &self.name,
            class: C::CLASS_NAME,
            cell: C::kind(c),
            units: c.units,
            return_sequences: c.return_sequences,
            go_backwards: c.go_backwards,
            params: self.params.iter().collect(),
        }
    }

    /// Forward from `initial_state` (each (batch, units); zeros when `None`): [h, c]
    /// for LSTM, [h] for SimpleRNN and GRU, with an optional step mask (batch, steps);
    /// returns the output and the final states in that order.
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
        let forward = (input, initial_state, mask);
        gradients(&self.state_spec(), forward, grad_output, grad_states)
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

/// The input as the loop reads it (reversed with `go_backwards`), its step mask and
/// every step's input projection.
struct Loaded<'a> {
    batch: usize,
    steps: usize,
    features: usize,
    x: Vec<f32>,
    step_mask: Vec<bool>,
    projected: Vec<f32>,
    recurrent: &'a [f32],
    /// The bias added to the recurrent product (GRU reset_after), else zeros.
    rec_bias: Vec<f32>,
}

fn load<'a>(
    spec: &Spec<'a>,
    input: ArrayView3<'_, f32>,
    mask: Option<&Array2<bool>>,
) -> Result<Loaded<'a>> {
    if spec.params.is_empty() {
        return Err(rec::not_built(spec.layer));
    }
    let w = spec.cell.gates() * spec.units;
    let kernel = rec::values(spec.layer, spec.params[0])?;
    let recurrent = rec::values(spec.layer, spec.params[1])?;
    let bias = match spec.params.get(2) {
        Some(p) => Some(rec::values(spec.layer, p)?),
        None => None,
    };
    let f = kernel.len() / w;
    let mut x = Vec::new();
    let view = input.into_dyn();
    let floats = super::LayerInput::Floats(view.view());
    let (batch, steps) = rec::load_sequence(spec.layer, &floats, f, &mut x)?;
    let mut step_mask = rec::step_mask(spec.layer, mask, batch, steps)?;
    if spec.go_backwards {
        rec::reverse_steps(&mut x, steps, f);
        rec::reverse_steps(&mut step_mask, steps, 1);
    }
    // reset_after: bias row 0 on the input side, row 1 on the recurrent product.
    let (in_bias, rec_bias) = match (spec.cell, bias) {
        (CellKind::GruResetAfter, Some(b)) => (Some(&b[..w]), b[w..].to_vec()),
        (_, b) => (b, vec![0.0f32; w]),
    };
    let mut projected = Vec::new();
    rec::project_inputs(
        &x,
        batch * steps,
        f,
        kernel,
        w,
        in_bias,
        &[],
        &mut projected,
    );
    Ok(Loaded {
        batch,
        steps,
        features: f,
        x,
        step_mask,
        projected,
        recurrent,
        rec_bias,
    })
}

/// One row's buffers in the gate pass: the gates (holding the input projection on
/// entry), the new h and c, and the cell's auxiliary row (tanh(c), h U_h + b or
/// r * h_{t-1}, as the tape keeps it).
struct RowPass {
    gates: Vec<f32>,
    h_new: Vec<f32>,
    c_new: Vec<f32>,
    aux: Vec<f32>,
    cand: Vec<f32>,
}

impl RowPass {
    fn new(u: usize, w: usize) -> Self {
        RowPass {
            gates: vec![0.0; w],
            h_new: vec![0.0; u],
            c_new: vec![0.0; u],
            aux: vec![0.0; u],
            cand: vec![0.0; u],
        }
    }

    /// The cell's step for one row, given its recurrent product `r` (h_{t-1} U).
    #[inline(always)]
    fn step(&mut self, cell: CellKind, r: &[f32], h_prev: &[f32], c_prev: &[f32], l: &Loaded) {
        let (u, w) = (h_prev.len(), self.gates.len());
        match cell {
            CellKind::Simple(act) => {
                self.gates.iter_mut().zip(r).for_each(|(g, v)| *g += v);
                rnn_forward_row(act.into(), &mut self.gates);
                self.h_new.copy_from_slice(&self.gates);
            }
            CellKind::Lstm => {
                self.gates.iter_mut().zip(r).for_each(|(g, v)| *g += v);
                let (c, a, h) = (&mut self.c_new, &mut self.aux, &mut self.h_new);
                lstm_forward_row(&mut self.gates, c_prev, c, a, h);
            }
            CellKind::GruResetAfter => {
                let (a, h) = (&mut self.aux, &mut self.h_new);
                gru_forward_row(&mut self.gates, r, &l.rec_bias, h_prev, a, h);
            }
            CellKind::GruResetBefore => {
                gru_reset_before_gates_row(&mut self.gates, &r[..2 * u], h_prev, &mut self.aux);
                matmul(
                    MatRef::new(&self.aux, 1, u),
                    MatRef::strided(&l.recurrent[2 * u..], u, u, w),
                    0.0,
                    MatMut::new(&mut self.cand, 1, u),
                );
                gru_reset_before_output_row(&mut self.gates, &self.cand, h_prev, &mut self.h_new);
            }
        }
    }
}

impl Tape {
    /// Sized for a loop of `steps` over `batch` rows.
    fn start(&mut self, l: &Loaded, u: usize, w: usize, lstm: bool) {
        let n = l.steps * l.batch;
        self.h_prev = vec![0.0; n * u];
        self.c_prev = vec![0.0; if lstm { n * u } else { 0 }];
        self.gates = vec![0.0; n * w];
        self.aux = vec![0.0; n * u];
    }

    /// Keeps what the backward needs of the loaded input.
    fn finish(&mut self, l: Loaded) {
        self.batch = l.batch;
        self.steps = l.steps;
        self.features = l.features;
        self.x = l.x;
        self.step_mask = l.step_mask;
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
    let l = load(spec, input, mask)?;
    let (batch, steps) = (l.batch, l.steps);
    let (u, w) = (spec.units, spec.cell.gates() * spec.units);
    let mut states = initial_states(spec, "initial_state", initial_state, batch)?;
    let lstm = states.len() == 2;
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
    let mut pass = RowPass::new(u, w);
    if let Some(tp) = tape.as_deref_mut() {
        tp.start(&l, u, w, lstm);
    }
    for t in 0..steps {
        if let Some(tp) = tape.as_deref_mut() {
            let at = t * batch * u..(t + 1) * batch * u;
            tp.h_prev[at.clone()].copy_from_slice(&states[0]);
            if lstm {
                tp.c_prev[at].copy_from_slice(&states[1]);
            }
        }
        matmul(
            MatRef::new(&states[0], batch, u),
            MatRef::new(l.recurrent, u, w),
            0.0,
            MatMut::new(&mut rec_prod, batch, w),
        );
        for b in 0..batch {
            let real = l.step_mask.is_empty() || l.step_mask[b * steps + t];
            let row = b * u..(b + 1) * u;
            if real {
                pass.gates
                    .copy_from_slice(&l.projected[(b * steps + t) * w..][..w]);
                let r = &rec_prod[b * w..(b + 1) * w];
                let c_prev = if lstm {
                    &states[1][row.clone()]
                } else {
                    &[][..]
                };
                pass.step(spec.cell, r, &states[0][row.clone()], c_prev, &l);
                if let Some(tp) = tape.as_deref_mut() {
                    let tb = t * batch + b;
                    tp.gates[tb * w..(tb + 1) * w].copy_from_slice(&pass.gates);
                    tp.aux[tb * u..(tb + 1) * u].copy_from_slice(&pass.aux);
                }
                states[0][row.clone()].copy_from_slice(&pass.h_new);
                if lstm {
                    states[1][row.clone()].copy_from_slice(&pass.c_new);
                }
                prev_out[row.clone()].copy_from_slice(&pass.h_new);
            }
            // A masked step repeats the previous output (Keras: zeros before any).
            if spec.return_sequences {
                out[(b * steps + t) * u..][..u].copy_from_slice(&prev_out[row]);
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
        tp.finish(l);
    }
    Ok((output, states))
}

/// The backward's accumulators and one step's scratch, all over the whole batch.
struct Backward {
    /// Gradients of the kernel, recurrent kernel, input-side and recurrent-side bias.
    dk: Vec<f32>,
    du: Vec<f32>,
    db_in: Vec<f32>,
    db_rec: Vec<f32>,
    /// dL/dX (batch, steps, features), as the loop read the input.
    dx: Vec<f32>,
    /// dL/d(output so far): flows back to the last real step (Keras repeats outputs).
    dout: Vec<f32>,
    /// Step t: input-side and (GRU reset_after) recurrent-side pre-activation
    /// gradients, the part of dh_{t-1} not through U, dh_{t-1}, dL/d(r * h_{t-1}).
    dz: Vec<f32>,
    drec: Vec<f32>,
    direct: Vec<f32>,
    dhp: Vec<f32>,
    dcand: Vec<f32>,
    /// One row's total dL/dh_t.
    d_total: Vec<f32>,
    /// Step t's inputs and their gradients (batch, features).
    xt: Vec<f32>,
    dxt: Vec<f32>,
}

impl Backward {
    fn new(tape: &Tape, u: usize, w: usize) -> Self {
        let (batch, f) = (tape.batch, tape.features);
        Backward {
            dk: vec![0.0; f * w],
            du: vec![0.0; u * w],
            db_in: vec![0.0; w],
            db_rec: vec![0.0; w],
            dx: vec![0.0; batch * tape.steps * f],
            dout: vec![0.0; batch * u],
            dz: vec![0.0; batch * w],
            drec: vec![0.0; batch * w],
            direct: vec![0.0; batch * u],
            dhp: vec![0.0; batch * u],
            dcand: vec![0.0; batch * u],
            d_total: vec![0.0; u],
            xt: vec![0.0; batch * f],
            dxt: vec![0.0; batch * f],
        }
    }

    /// Adds step t's output gradient (from `dy`, the layer's output gradient) to `dout`.
    fn add_output_grad(&mut self, dy: &[f32], t: usize, steps: usize, seq: bool) {
        let u = self.d_total.len();
        if seq {
            for (b, d) in self.dout.chunks_mut(u).enumerate() {
                let g = &dy[(b * steps + t) * u..][..u];
                d.iter_mut().zip(g).for_each(|(a, v)| *a += v);
            }
        } else if t == steps - 1 {
            self.dout.iter_mut().zip(dy).for_each(|(a, v)| *a += v);
        }
    }

    /// The cell's backward for the real rows of step t: dz (and drec, direct) from
    /// dh + dout; dc (LSTM) updated in place.
    fn cell_rows(
        &mut self,
        cell: CellKind,
        tape: &Tape,
        t: usize,
        dh: &[f32],
        dc: Option<&mut Vec<f32>>,
    ) {
        let (batch, u) = (tape.batch, self.d_total.len());
        let w = self.dz.len() / batch;
        let h_prev = &tape.h_prev[t * batch * u..(t + 1) * batch * u];
        let mut dc = dc;
        self.dz.fill(0.0);
        self.drec.fill(0.0);
        for b in (0..batch).filter(|&b| tape.real(b, t)) {
            let row = b * u..(b + 1) * u;
            let (dh_b, dout_b) = (&dh[row.clone()], &mut self.dout[row.clone()]);
            for ((d, a), o) in self.d_total.iter_mut().zip(dh_b).zip(dout_b.iter()) {
                *d = a + o;
            }
            dout_b.fill(0.0);
            let tb = t * batch + b;
            let gates = &tape.gates[tb * w..(tb + 1) * w];
            let aux = &tape.aux[tb * u..(tb + 1) * u];
            let (d_total, dzb) = (&self.d_total, &mut self.dz[b * w..(b + 1) * w]);
            match cell {
                CellKind::Simple(act) => rnn_backward_row(act.into(), gates, d_total, dzb),
                CellKind::Lstm => {
                    let c_prev = &tape.c_prev[tb * u..(tb + 1) * u];
                    let dcb = &mut dc.as_deref_mut().expect("LSTM has a c state")[row];
                    lstm_backward_row(gates, c_prev, aux, d_total, dcb, dzb);
                }
                CellKind::GruResetAfter => {
                    let drec = &mut self.drec[b * w..(b + 1) * w];
                    let hp = &h_prev[row.clone()];
                    gru_backward_row(gates, aux, hp, d_total, dzb, drec, &mut self.direct[row]);
                }
                CellKind::GruResetBefore => {
                    let (hp, direct) = (&h_prev[row.clone()], &mut self.direct[row]);
                    gru_reset_before_backward_output_row(gates, hp, d_total, dzb, direct);
                }
            }
        }
    }

    /// Through the recurrent kernel at step t: dh_{t-1} into `dhp` and dU; GRU's
    /// recurrent bias and (reset_before) the reset gate's gradient on the way.
    fn recurrent_side(&mut self, cell: CellKind, tape: &Tape, t: usize, recurrent: &[f32]) {
        let (batch, u) = (tape.batch, self.d_total.len());
        let w = self.dz.len() / batch;
        let h_prev = &tape.h_prev[t * batch * u..(t + 1) * batch * u];
        let hp = MatRef::new(h_prev, batch, u);
        let u_t = MatRef::new(recurrent, u, w).t();
        let dhp = MatMut::new(&mut self.dhp, batch, u);
        match cell {
            CellKind::Simple(_) | CellKind::Lstm => {
                let dz = MatRef::new(&self.dz, batch, w);
                matmul(dz, u_t, 0.0, dhp);
                matmul(hp.t(), dz, 1.0, MatMut::new(&mut self.du, u, w));
            }
            CellKind::GruResetAfter => {
                let drec = MatRef::new(&self.drec, batch, w);
                matmul(drec, u_t, 0.0, dhp);
                self.dhp
                    .iter_mut()
                    .zip(&self.direct)
                    .for_each(|(a, d)| *a += d);
                matmul(hp.t(), drec, 1.0, MatMut::new(&mut self.du, u, w));
                column_sums(&self.drec, batch, w, w, &mut self.db_rec, true);
            }
            CellKind::GruResetBefore => {
                // dL/d(r * h_{t-1}) through the candidate's product, then the r gate.
                matmul(
                    MatRef::strided(&self.dz[2 * u..], batch, u, w),
                    MatRef::strided(&recurrent[2 * u..], u, u, w).t(),
                    0.0,
                    MatMut::new(&mut self.dcand, batch, u),
                );
                for b in (0..batch).filter(|&b| tape.real(b, t)) {
                    let (row, tb) = (b * u..(b + 1) * u, t * batch + b);
                    gru_reset_before_backward_reset_row(
                        &tape.gates[tb * w..(tb + 1) * w],
                        &h_prev[row.clone()],
                        &self.dcand[row.clone()],
                        &mut self.dz[b * w..(b + 1) * w],
                        &mut self.direct[row],
                    );
                }
                let dz_zr = MatRef::strided(&self.dz, batch, 2 * u, w);
                matmul(dz_zr, MatRef::strided(recurrent, u, 2 * u, w).t(), 0.0, dhp);
                self.dhp
                    .iter_mut()
                    .zip(&self.direct)
                    .for_each(|(a, d)| *a += d);
                matmul(
                    hp.t(),
                    dz_zr,
                    1.0,
                    MatMut::strided(&mut self.du, u, 2 * u, w),
                );
                let rh = &tape.aux[t * batch * u..(t + 1) * batch * u];
                matmul(
                    MatRef::new(rh, batch, u).t(),
                    MatRef::strided(&self.dz[2 * u..], batch, u, w),
                    1.0,
                    MatMut::strided(&mut self.du[2 * u..], u, u, w),
                );
            }
        }
    }

    /// Input side of step t: dK += x_t^T dz, db += Σ dz, dx_t = dz K^T.
    fn input_side(&mut self, tape: &Tape, t: usize, kernel: &[f32]) {
        let (batch, steps, f) = (tape.batch, tape.steps, tape.features);
        let w = self.dz.len() / batch;
        let (xt, dxt) = (&mut self.xt, &mut self.dxt);
        for b in 0..batch {
            xt[b * f..(b + 1) * f].copy_from_slice(&tape.x[(b * steps + t) * f..][..f]);
        }
        let dzm = MatRef::new(&self.dz, batch, w);
        let dk = MatMut::new(&mut self.dk, f, w);
        matmul(MatRef::new(xt, batch, f).t(), dzm, 1.0, dk);
        column_sums(&self.dz, batch, w, w, &mut self.db_in, true);
        matmul(
            dzm,
            MatRef::new(kernel, f, w).t(),
            0.0,
            MatMut::new(dxt, batch, f),
        );
        for b in 0..batch {
            self.dx[(b * steps + t) * f..][..f].copy_from_slice(&dxt[b * f..(b + 1) * f]);
        }
    }

    /// The weight gradients in the layer's `params()` shapes.
    fn weights(self, spec: &Spec<'_>) -> Result<Vec<ArrayD<f32>>> {
        let mut weights = vec![
            ArrayD::from_shape_vec(IxDyn(spec.params[0].value.shape()), self.dk),
            ArrayD::from_shape_vec(IxDyn(spec.params[1].value.shape()), self.du),
        ];
        if let Some(p) = spec.params.get(2) {
            let mut db = self.db_in;
            if spec.cell == CellKind::GruResetAfter {
                db.extend_from_slice(&self.db_rec);
            }
            weights.push(ArrayD::from_shape_vec(IxDyn(p.value.shape()), db));
        }
        weights
            .into_iter()
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| Error::State(format!("layer '{}': gradient shapes: {e}", spec.layer)))
    }
}

impl Tape {
    /// Whether row b's step t is real.
    fn real(&self, b: usize, t: usize) -> bool {
        self.step_mask.is_empty() || self.step_mask[b * self.steps + t]
    }
}

/// The arguments of `call_with_state`: input, initial states, step mask.
type ForwardArgs<'a, 'b, 'c> = (
    ArrayView3<'a, f32>,
    Option<&'b [ArrayView2<'b, f32>]>,
    Option<&'c Array2<bool>>,
);

/// Forward with a tape, then back through time (Keras's masked-step rules reversed:
/// a masked step passes the state and output gradients on unchanged).
fn gradients(
    spec: &Spec<'_>,
    (input, initial_state, mask): ForwardArgs<'_, '_, '_>,
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
    let mut back = Backward::new(&tape, u, w);
    for t in (0..steps).rev() {
        back.add_output_grad(&dy, t, steps, spec.return_sequences);
        back.cell_rows(spec.cell, &tape, t, dh, dc.as_deref_mut());
        back.recurrent_side(spec.cell, &tape, t, recurrent);
        for b in (0..batch).filter(|&b| tape.real(b, t)) {
            dh[b * u..(b + 1) * u].copy_from_slice(&back.dhp[b * u..(b + 1) * u]);
        }
        back.input_side(&tape, t, kernel);
    }
    if spec.go_backwards {
        rec::reverse_steps(&mut back.dx, steps, f);
    }
    let dx = std::mem::take(&mut back.dx);
    Ok(StateGradients {
        input: ArrayD::from_shape_vec(IxDyn(&[batch, steps, f]), dx)
            .expect("batch * steps * features"),
        initial_state: carried
            .into_iter()
            .map(|s| Array2::from_shape_vec((batch, u), s).expect("batch * units"))
            .collect(),
        weights: back.weights(spec)?,
    })
}
