//! The LSTM's caches of the last forward pass, read by the backward paths.

use super::one_sequence;
use super::plan::Plan;
use super::step_major;
use crate::layers::batch_order::BatchOrder;
use crate::layers::gate_dropout::GateMasks;
use crate::layers::recurrent::CHUNK_ROWS;
use crate::layers::token_rows::InputTokens;

/// Buffers of the last forward pass, kept across batches to avoid reallocation.
#[derive(Clone, Debug, Default)]
pub(super) struct Cache {
    pub(super) batch: usize,
    pub(super) steps: usize,
    /// Backward allowed: the last forward was in training mode.
    pub(super) ready: bool,
    /// Input (batch, steps, features) after dropout, in `order`.
    pub(super) x: Vec<f32>,
    /// The order the samples run in (the caches, masks and gradients are in it), and
    /// inference's token ids in that order.
    pub(super) order: BatchOrder,
    pub(super) run_ids: Vec<usize>,
    pub(super) mask: Option<Vec<f32>>,
    /// Step mask (batch, steps), true = real step; empty = none.
    pub(super) step_mask: Vec<bool>,
    /// How a single sequence's units are split between two threads at inference.
    pub(super) balance: one_sequence::Balance,
    /// Per-gate masks, used instead of `mask` when recurrent_dropout > 0 (as Keras).
    pub(super) gate_masks: GateMasks,
    /// Gate activations (batch, steps, 4u).
    pub(super) gates: Vec<f32>,
    /// Cell states c_t, tanh(c_t) and outputs h_t, each (batch, steps, u).
    pub(super) cs: Vec<f32>,
    pub(super) tanh_c: Vec<f32>,
    pub(super) hs: Vec<f32>,
    /// Backward scratch: pre-activation gradients (batch, steps, 4u), shifted states.
    pub(super) dgates: Vec<f32>,
    pub(super) hp: Vec<f32>,
    /// Token ids of the input rows when it is an Embedding's output (`token_rows`).
    pub(super) input_tokens: InputTokens,
    /// The last training forward ran `step_major`: each block's (of
    /// `step_major::BLOCK_ROWS` samples, see `block_rows`) gates, cs, tanh_c and hs
    /// are step-major (and the gates gate-major), not sample-major.
    pub(super) step_major: bool,
    /// The plan of the last training forward, which its backward follows.
    pub(super) plan: Plan,
}

impl Cache {
    /// Samples per block of the training time loops: the step-major loops' wider
    /// blocks, else `CHUNK_ROWS` (whose masks `BlockMasks::of_block` cuts; the
    /// step-major loops take none).
    pub(super) fn block_rows(&self) -> usize {
        if self.step_major {
            step_major::BLOCK_ROWS
        } else {
            CHUNK_ROWS
        }
    }
}
