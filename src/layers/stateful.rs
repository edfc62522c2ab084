//! Keras `stateful=True` for SimpleRNN, LSTM and GRU: the final states of batch i are
//! the initial states of batch i+1, sample by sample, until `reset_states()` sets them
//! back to zeros. Keras semantics kept (keras/src/layers/rnn/rnn.py, Keras 3.15):
//!
//! - the batch size is fixed (`batch_size`, Keras's `Input(batch_size=)`), and a batch
//!   of another size is an error naming both sizes, the last partial batch of `fit`,
//!   `evaluate` or `predict` included (Keras fails on it too);
//! - training, evaluation and prediction all carry the states; nothing resets them but
//!   `reset_states()` (Keras 3's `fit` does not reset between epochs: users call
//!   `reset_state()` from a callback);
//! - gradients stop at the batch's start (truncated backpropagation through time: the
//!   carried states are constants of the next batch, as Keras's state variables are);
//! - a masked step keeps the state (so a fully padded sample carries its state on).
//!
//! Every stateful batch runs `recurrent_state`'s whole-batch loop, the one path that
//! takes initial states, rather than the cells' fast paths (`lstm::plan` and the GRU and
//! SimpleRNN loops start from zeros): `tests/stateful.rs` checks it against Keras and
//! `tests/cell_reference.rs` against the reference loops run from the same initial
//! states. A training batch runs that loop once forward and once more with its tape in
//! `backward` (`call_with_state_gradients`), so it costs about one extra forward; the
//! fast paths' dropout masks are not implemented on that loop, so stateful training
//! with `dropout`/`recurrent_dropout` is refused (inference ignores dropout, as Keras).

use ndarray::{Array2, Array3, ArrayD, ArrayView2};

use super::recurrent as rec;
use super::rnn::{Cell, Recurrent};
use super::{ForwardContext, LayerInput};
use crate::error::{Error, Result};

/// A stateful training batch: its input, step mask and the states it started from.
type Batch = (Array3<f32>, Option<Array2<bool>>, Vec<Array2<f32>>);

/// A stateful layer's carried states and what its last training batch needs for the
/// backward pass.
#[derive(Clone, Debug, Default)]
pub(crate) struct Carried {
    /// [h] or [h, c], each (batch_size, units); empty means zeros (built, or reset).
    states: Vec<Array2<f32>>,
    /// The last training batch: input, mask and the states it started from.
    batch: Option<Batch>,
}

impl<C: Cell> Recurrent<C> {
    /// Keras `stateful`: carry the final states of each batch into the next one (see
    /// `layers::stateful`); needs `batch_size`.
    pub fn stateful(mut self, stateful: bool) -> Self {
        self.config.stateful = stateful;
        self
    }

    /// The fixed batch size of a stateful layer (Keras `Input(batch_size=)`).
    pub fn batch_size(mut self, batch_size: usize) -> Self {
        self.config.batch_size = Some(batch_size);
        self
    }

    /// Whether the layer carries its states between batches.
    pub fn is_stateful(&self) -> bool {
        self.config.stateful
    }

    /// The states the next batch starts from ([h], or [h, c] for LSTM), each
    /// (batch_size, units); zeros after `reset_states`. Empty for a layer that is not
    /// stateful or not built.
    pub fn states(&self) -> Vec<Array2<f32>> {
        match (self.config.stateful, self.config.batch_size) {
            (true, Some(b)) if !self.params.is_empty() => {
                if self.carried.states.is_empty() {
                    let n = C::kind(&self.config).states();
                    vec![Array2::zeros((b, self.config.units)); n]
                } else {
                    self.carried.states.clone()
                }
            }
            _ => Vec::new(),
        }
    }

    /// Keras `reset_states()` / `reset_state()`: the next batch starts from zeros.
    /// Nothing to do on a layer that is not stateful (Keras does nothing either).
    pub fn reset_states(&mut self) {
        self.carried.states.clear();
        self.carried.batch = None;
    }

    /// `stateful` needs a fixed, positive batch size.
    pub(crate) fn validate_stateful(&self, layer: &str) -> Result<()> {
        match (self.config.stateful, self.config.batch_size) {
            (true, None) => Err(Error::invalid_argument(
                layer,
                "batch_size",
                "stateful=true needs a fixed batch size: set batch_size on the layer \
                 (Keras: Input(batch_size=...) or batch_input_shape)",
            )),
            (_, Some(0)) => Err(Error::invalid_argument(
                layer,
                "batch_size",
                "must be at least 1",
            )),
            _ => Ok(()),
        }
    }

    /// The forward of a stateful layer (see the module doc).
    pub(crate) fn stateful_forward(
        &mut self,
        input: LayerInput<'_>,
        ctx: &mut ForwardContext<'_>,
    ) -> Result<ArrayD<f32>> {
        let c = &self.config;
        let expected = c.batch_size.expect("checked by validate_stateful");
        let x = input.floats_3d(&self.name, C::CLASS_NAME, Some(self.input_dim))?;
        let got = x.dim().0;
        if got != expected {
            return Err(Error::Shape(format!(
                "layer '{}' ({}) is stateful with batch_size {expected}, got a batch of {got} \
                 samples: every batch must hold {expected} samples, the last one too (use a \
                 sample count divisible by {expected} and batch_size={expected} in fit, \
                 evaluate and predict)",
                self.name,
                C::CLASS_NAME
            )));
        }
        if ctx.training && (c.dropout > 0.0 || c.recurrent_dropout > 0.0) {
            return Err(Error::Unsupported(format!(
                "layer '{}' ({}): training a stateful layer with dropout={} / \
                 recurrent_dropout={} is not implemented (stateful batches run the loop that \
                 takes initial states, which has no dropout masks); set both to 0",
                self.name,
                C::CLASS_NAME,
                c.dropout,
                c.recurrent_dropout
            )));
        }
        let initial = self.states();
        let views: Vec<ArrayView2<'_, f32>> = initial.iter().map(|s| s.view()).collect();
        let (y, finals) = self.call_with_state(x, Some(&views), ctx.mask)?;
        self.carried.batch = ctx
            .training
            .then(|| (x.to_owned(), ctx.mask.cloned(), initial));
        self.carried.states = finals;
        Ok(y)
    }

    /// The backward of the last stateful training batch: dL/d(input) in input order;
    /// the weight gradients go to `params`. No gradient flows into the carried states.
    pub(crate) fn stateful_backward(&mut self, grad_output: ArrayD<f32>) -> Result<ArrayD<f32>> {
        let Some((x, mask, initial)) = self.carried.batch.take() else {
            return Err(rec::no_forward(&self.name));
        };
        let views: Vec<ArrayView2<'_, f32>> = initial.iter().map(|s| s.view()).collect();
        let grads = self.call_with_state_gradients(
            x.view(),
            Some(&views),
            mask.as_ref(),
            grad_output.view(),
            None,
        )?;
        for (p, g) in self.params.iter_mut().zip(grads.weights) {
            p.grad = g;
            p.grad_sq = None;
        }
        Ok(grads.input)
    }
}
