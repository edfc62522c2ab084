//! Training-time counterpart of `token_projection`: a recurrent layer whose input is an
//! `Embedding`'s output gets, from the model, the token id each input row was looked up
//! from (`ForwardContext::tokens`). Rows with equal ids hold equal values, so
//!
//! - the input projection `x · kernel + bias` is computed once per distinct token and
//!   copied to every row that holds it (the same product on the same values, so the
//!   same bits as projecting every row), and
//! - the kernel gradient `X^T dZ = Σ_v x_v^T (Σ_{rows of v} dZ_row)` is one product over
//!   the distinct tokens after summing each token's gate gradients.
//!
//! The benchmarks' IMDB and Reuters batches repeat each token 3-6 times (Reuters: 3,200
//! rows of a 1,000-token vocabulary per batch), so both products shrink by that factor.
//! Used only where it pays (see `TokenRows::build`) and never with input dropout (the
//! dropped-out rows of one token differ).

use rayon::prelude::*;

use super::batch_order::BatchOrder;
use super::recurrent::project_inputs;

/// No slot: a masked row (its projection is never read).
pub(crate) const NO_SLOT: u32 = u32::MAX;

/// Largest projected table folded, in floats (2 MiB, one core's L2 here): the time loop
/// reads a row of it per sample and step, in token order; from a larger table those
/// reads miss the cache and cost more than the product saves (IMDB 10,000 tokens x
/// LSTM(32): 5 MiB, 2,430 vs 2,770 samples/s; Reuters 1,000 x LSTM(100): 1.5 MiB, 2,220
/// vs 1,960).
const MAX_TABLE_FLOATS: usize = 512 << 10;

/// Rows per parallel task when copying projected rows out.
const COPY_ROWS: usize = 256;

/// The distinct tokens among a batch's real rows.
#[derive(Clone, Debug, Default)]
pub(crate) struct TokenRows {
    /// Per input row (batch * steps), its token's slot, or `NO_SLOT` for masked rows.
    pub slot: Vec<u32>,
    /// Input values of each distinct token (distinct, features): its first real row.
    pub x: Vec<f32>,
    pub distinct: usize,
    /// Projected rows of the distinct tokens (distinct, width).
    projected: Vec<f32>,
    /// Scratch: slot per token id.
    by_id: Vec<u32>,
}

impl TokenRows {
    /// The projected rows of the distinct tokens (distinct, width) of the last `project`.
    pub fn projected(&self) -> &[f32] {
        &self.projected
    }

    /// The slots of the rows of time-loop block `block`, blocks of `rows_per_block`
    /// rows (the last one may be shorter).
    pub fn block_slots(&self, block: usize, rows_per_block: usize) -> &[u32] {
        let end = ((block + 1) * rows_per_block).min(self.slot.len());
        &self.slot[block * rows_per_block..end]
    }

    /// Collects the distinct tokens of the real rows (`step_mask` true, or empty for
    /// all) of `x` (rows, features), whose row r was looked up from `tokens[r]`.
    /// Returns false, and keeps nothing, when folding would not pay: fewer than two
    /// real rows per distinct token, or a table of projected rows (distinct, `width`)
    /// larger than `MAX_TABLE_FLOATS`.
    pub fn build(
        &mut self,
        tokens: &[usize],
        step_mask: &[bool],
        x: &[f32],
        features: usize,
        width: usize,
    ) -> bool {
        let rows = tokens.len();
        self.slot.clear();
        self.x.clear();
        self.distinct = 0;
        if rows == 0
            || x.len() != rows * features
            || !(step_mask.is_empty() || step_mask.len() == rows)
        {
            return false;
        }
        let vocab = tokens.iter().max().map_or(0, |&m| m + 1);
        self.by_id.clear();
        self.by_id.resize(vocab, NO_SLOT);
        self.slot.resize(rows, NO_SLOT);
        let mut real = 0;
        let mut firsts = Vec::new();
        for (r, &id) in tokens.iter().enumerate() {
            if !step_mask.is_empty() && !step_mask[r] {
                continue;
            }
            real += 1;
            if self.by_id[id] == NO_SLOT {
                if (firsts.len() + 1) * width > MAX_TABLE_FLOATS {
                    self.slot.clear();
                    return false;
                }
                self.by_id[id] = firsts.len() as u32;
                firsts.push(r);
            }
            self.slot[r] = self.by_id[id];
        }
        let n = firsts.len();
        if n == 0 || n * 2 > real {
            self.slot.clear();
            return false;
        }
        self.distinct = firsts.len();
        self.x.reserve(firsts.len() * features);
        for &r in &firsts {
            self.x
                .extend_from_slice(&x[r * features..(r + 1) * features]);
        }
        true
    }

    /// Each distinct token's `x · kernel + bias` (`projected`), with `project_inputs`
    /// (so the same bits as `project_inputs` on all rows); with `fill`, also copied to
    /// every real row of `out` (rows, width). `out` is sized either way; rows not
    /// filled are left unspecified, as `project_inputs` (with a step mask) leaves masked rows.
    pub fn project(
        &mut self,
        features: usize,
        kernel: &[f32],
        width: usize,
        bias: Option<&[f32]>,
        fill: bool,
        out: &mut Vec<f32>,
    ) {
        let (n, x) = (self.distinct, &self.x);
        project_inputs(
            x,
            n,
            features,
            kernel,
            width,
            bias,
            &[],
            &mut self.projected,
        );
        out.resize(self.slot.len() * width, 0.0);
        if !fill {
            return;
        }
        let projected = &self.projected;
        out.par_chunks_mut(COPY_ROWS * width)
            .zip(self.slot.par_chunks(COPY_ROWS))
            .for_each(|(o, slots)| {
                for (row, &s) in o.chunks_mut(width).zip(slots) {
                    if s != NO_SLOT {
                        let s = s as usize;
                        row.copy_from_slice(&projected[s * width..(s + 1) * width]);
                    }
                }
            });
    }
}

/// A recurrent layer's token ids for its input (`ForwardContext::tokens`) and the
/// distinct tokens of its last forward.
#[derive(Clone, Debug, Default)]
pub(crate) struct InputTokens {
    ids: Vec<usize>,
    /// Kept for `reorder` (a batch of IMDB ids is 1 MB: allocated per batch, its pages
    /// faulted in every time).
    scratch: Vec<usize>,
    known: bool,
    /// The last `project` went through `rows`.
    pub folded: bool,
    pub rows: TokenRows,
}

impl InputTokens {
    pub fn set(&mut self, ids: Option<&[usize]>) {
        self.ids.clear();
        self.known = ids.is_some();
        self.ids.extend_from_slice(ids.unwrap_or(&[]));
    }

    /// Puts the ids of a (batch, steps) input into the layer's run order.
    pub fn reorder(&mut self, order: &BatchOrder, batch: usize, steps: usize) {
        if self.known && self.ids.len() == batch * steps {
            order.to_run_order(&mut self.ids, steps, &mut self.scratch);
        }
    }

    /// `project_inputs` (with a step mask) of `x` (rows, features), per distinct token when the ids
    /// are known, match the rows and `usable` (the caller's: no input dropout, time in
    /// input order), and folding pays. Folded and without `fill`, `out` is only sized:
    /// the caller reads each row's projection from `rows` (`slot`, `projected`).
    #[allow(clippy::too_many_arguments)]
    pub fn project(
        &mut self,
        usable: bool,
        x: &[f32],
        rows: usize,
        features: usize,
        kernel: &[f32],
        width: usize,
        bias: Option<&[f32]>,
        step_mask: &[bool],
        fill: bool,
        out: &mut Vec<f32>,
    ) {
        self.folded = usable
            && self.known
            && self.ids.len() == rows
            && self.rows.build(&self.ids, step_mask, x, features, width);
        if self.folded {
            self.rows.project(features, kernel, width, bias, fill, out);
        } else {
            project_inputs(x, rows, features, kernel, width, bias, step_mask, out);
        }
    }
}
