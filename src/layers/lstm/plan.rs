//! Which of the LSTM's loops a batch runs, decided in one place (`plan`), once per
//! batch before any loop runs, from the layer's arguments and what the batch is (Keras
//! picks its cuDNN kernel the same way, in `inner_loop`). Each plan's loops live in
//! their own file:
//!
//! | plan          | forward                      | backward                          |
//! |---------------|------------------------------|-----------------------------------|
//! | `OneSequence` | `one_sequence` (2 threads)   | none (inference)                  |
//! | `InferBlocks` | `infer` (blocks of 16 rows)  | none (inference)                  |
//! | `GateDropout` | `rows` (per-gate masks)      | `rows::simd_chunk_backward`       |
//! | `StepMajor`   | `step_major`                 | `fused_backward` + `step_major`   |
//! | `Rows`        | `rows`                       | `fused_backward`                  |
//!
//! Orthogonal to the plan: rows looked up from an `Embedding` are projected once per
//! distinct token (`token_rows`, training) or read from the folded table
//! (`token_projection`, inference); a masked batch runs longest sequence first
//! (`batch_order`) except under `GateDropout`, whose masks are drawn per sample in
//! input order. Every plan gives the cell's reference loop's numbers (`reference`).
//! A stateful layer never reaches `plan`: its batches start from carried states, which
//! only `recurrent_state`'s loop takes (`layers::stateful`).

use super::one_sequence;
use super::step_major;

/// What `plan` needs to know about a batch.
pub(super) struct BatchInfo {
    /// Training mode (caches kept for backward, dropout active).
    pub training: bool,
    /// Samples in the batch.
    pub batch: usize,
    /// No step of any sample is masked.
    pub all_real: bool,
}

/// The loops one batch runs, forward and backward (see the module doc).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) enum Plan {
    /// Inference of one or two sequences, each step's units split between two threads.
    OneSequence,
    /// Inference by blocks of `CHUNK_ROWS` samples, one thread per block.
    InferBlocks,
    /// Training with `recurrent_dropout`: Keras's per-gate masks ("implementation 1"),
    /// the batch in input order, row loops and the unfused backward.
    GateDropout,
    /// Training of a layer narrower than `step_major::MAX_UNITS` on a batch without
    /// masked steps: step-major blocks, fused backward.
    StepMajor,
    /// Any other training batch: row loops, fused backward.
    #[default]
    Rows,
}

/// The decision table: the first row that matches wins.
pub(super) fn plan(units: usize, recurrent_dropout: f32, batch: &BatchInfo) -> Plan {
    let small = units < step_major::MAX_UNITS;
    match () {
        _ if !batch.training && one_sequence::splits(batch.batch, units) => Plan::OneSequence,
        _ if !batch.training => Plan::InferBlocks,
        _ if recurrent_dropout > 0.0 => Plan::GateDropout,
        _ if small && batch.all_real => Plan::StepMajor,
        _ => Plan::Rows,
    }
}

impl Plan {
    /// Whether the batch runs in input order rather than longest first.
    pub fn input_order(self) -> bool {
        self == Plan::GateDropout
    }
}
