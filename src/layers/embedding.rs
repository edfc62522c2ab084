//! Keras `Embedding`: token ids (batch, time_steps) to rows of `embeddings`
//! (input_dim, output_dim), giving (batch, time_steps, output_dim).

use std::mem::MaybeUninit;

use ndarray::{Array2, ArrayD, ArrayView2, IxDyn};
use rayon::prelude::*;

use super::config::{EmbeddingConfig, LayerConfig};
use super::folding::{self, Folding};
use super::recurrent as rec;
use super::token_projection::TokenInput;

use super::{ForwardContext, Initializer, Layer, LayerInput, Param, Shape};
use crate::error::{Error, Result};
use crate::kernels::fast_math as fm;
use crate::rng::SeededRng;

/// Floats per block of the forward gather (at least one row): a block is ~20 us of
/// copying, less than waking another thread costs on a VM, so a small batch (W1's
/// 64 x 100 x 16) is one block on this thread.
const GATHER_FLOATS: usize = 1 << 17;

/// Id ranges the gradient scatter is split into (a few per thread, so that frequent
/// ids, which IMDB numbers first, do not leave one thread with most of the work).
const SCATTER_PARTS: usize = 8;
/// Output gradients of at most this many floats are scattered on one thread.
const SERIAL_SCATTER_FLOATS: usize = 1 << 18;
/// Occurrences per parallel task when bucketing them by range of ids.
const BUCKET_ROWS: usize = 4096;

/// The first id of `ids` outside [0, vocab), with its (sample, step), if any.
pub(crate) fn first_bad_id(ids: ArrayView2<'_, i32>, vocab: u64) -> Option<((usize, usize), i32)> {
    if let Some(all) = ids.as_slice() {
        // One branch-free (vectorised) pass; only a bad id takes the loop below.
        let top = vocab.min(i32::MAX as u64 + 1) as i64;
        let valid = all
            .iter()
            .fold(true, |ok, &id| ok & (id >= 0) & ((id as i64) < top));
        if valid {
            return None;
        }
    }
    ids.indexed_iter()
        .find(|(_, id)| **id < 0 || **id as u64 >= vocab)
        .map(|(at, &id)| (at, id))
}

/// Checks that every id of `ids` is a row of a `vocab`-row table and writes them,
/// row-major, into `out`.
pub(crate) fn token_ids(
    layer: &str,
    ids: ArrayView2<'_, i32>,
    vocab: usize,
    out: &mut Vec<usize>,
) -> Result<()> {
    out.clear();
    if let Some(((sample, step), id)) = first_bad_id(ids, vocab as u64) {
        return Err(Error::Data(format!(
            "layer '{layer}': token id {id} at sample {sample}, time step {step} is outside \
             [0, {vocab}) (input_dim = {vocab})"
        )));
    }
    out.extend(ids.iter().map(|&id| id as usize));
    Ok(())
}

/// Turns token ids into dense vectors (Keras 3 `keras.layers.Embedding`).
#[derive(Clone, Debug)]
pub struct Embedding {
    config: EmbeddingConfig,
    name: String,
    /// `embeddings`; empty until built.
    params: Vec<Param>,
    /// Row of `embeddings` used at each (sample, step) of the last training forward.
    ids: Vec<usize>,
    /// (batch, steps) of the last training forward; None if backward is not allowed.
    cached: Option<(usize, usize)>,
}

impl Embedding {
    /// `input_dim` tokens (ids 0..input_dim), each a vector of `output_dim` values.
    pub fn new(input_dim: usize, output_dim: usize) -> Self {
        Self::with_config(EmbeddingConfig {
            name: None,
            input_dim,
            output_dim,
            embeddings_initializer: Initializer::RandomUniform {
                minval: -0.05,
                maxval: 0.05,
            },
            mask_zero: false,
            input_length: None,
        })
    }

    /// From a (deserialised) config, checking every argument.
    pub fn from_config(config: EmbeddingConfig) -> Result<Self> {
        let layer = Self::with_config(config);
        layer.validate()?;
        Ok(layer)
    }

    fn with_config(config: EmbeddingConfig) -> Self {
        let name = config
            .name
            .clone()
            .unwrap_or_else(|| "embedding".to_string());
        Embedding {
            config,
            name,
            params: Vec::new(),
            ids: Vec::new(),
            cached: None,
        }
    }

    pub fn embeddings_initializer(mut self, i: Initializer) -> Self {
        self.config.embeddings_initializer = i;
        self
    }
    pub fn mask_zero(mut self, on: bool) -> Self {
        self.config.mask_zero = on;
        self
    }
    /// Fixed sequence length, only used for shapes in summaries.
    pub fn input_length(mut self, steps: usize) -> Self {
        self.config.input_length = Some(steps);
        self
    }
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self.config.name = Some(self.name.clone());
        self
    }

    pub fn settings(&self) -> &EmbeddingConfig {
        &self.config
    }

    fn validate(&self) -> Result<()> {
        let c = &self.config;
        let ctx = format!("Embedding '{}'", self.name);
        if c.input_dim == 0 {
            return Err(Error::invalid_argument(
                &ctx,
                "input_dim",
                "must be a positive integer, got 0",
            ));
        }
        if c.output_dim == 0 {
            return Err(Error::invalid_argument(
                &ctx,
                "output_dim",
                "must be a positive integer, got 0",
            ));
        }

        Ok(())
    }
}

impl Layer for Embedding {
    layer_names!("Embedding", "embedding", config);

    fn input_shape_hint(&self) -> Option<Shape> {
        self.config.input_length.map(|n| vec![Some(n)])
    }

    fn compute_output_shape(&self, input_shape: &[Option<usize>]) -> Result<Shape> {
        if input_shape.len() != 1 {
            return Err(Error::Shape(format!(
                "layer '{}' expects token ids of shape (batch, time_steps), got {}",
                self.name,
                rec::show_shape(input_shape)
            )));
        }
        Ok(vec![input_shape[0], Some(self.config.output_dim)])
    }

    fn build(&mut self, input_shape: &[Option<usize>], rng: &mut SeededRng) -> Result<()> {
        self.validate()?;
        if self.is_built() {
            return Err(rec::already_built(&self.name));
        }
        self.compute_output_shape(input_shape)?;
        let c = &self.config;
        let weights = c
            .embeddings_initializer
            .init(&[c.input_dim, c.output_dim], rng);
        self.params = vec![Param::new("embeddings", weights)];
        Ok(())
    }

    fn forward(
        &mut self,
        input: LayerInput<'_>,
        ctx: &mut ForwardContext<'_>,
    ) -> Result<ArrayD<f32>> {
        if !self.is_built() {
            return Err(rec::not_built(&self.name));
        }
        self.cached = None;
        let ids = match input {
            LayerInput::Ids(ids) => ids,
            LayerInput::Floats(x) => {
                return Err(Error::Shape(format!(
                    "layer '{}' expects integer token ids (batch, time_steps), got float input \
                     of shape {:?}",
                    self.name,
                    x.shape()
                )));
            }
        };
        let (batch, steps) = ids.dim();
        let (vocab, dim) = (self.config.input_dim, self.config.output_dim);
        token_ids(&self.name, ids, vocab, &mut self.ids)?;
        let table = rec::values(&self.name, &self.params[0])?;
        // The gather in blocks of rows across threads (serial, it left a core idle),
        // into uninitialised memory: zeroing it first was a serial 8 MB memset per IMDB
        // batch (~0.2-0.3 ms, 2-3% of a W2 step).
        let n = batch * steps * dim;
        let mut out: Vec<f32> = Vec::with_capacity(n);
        let block_rows = (GATHER_FLOATS / dim.max(1)).max(1);
        out.spare_capacity_mut()[..n]
            .par_chunks_mut(block_rows * dim)
            .zip(self.ids.par_chunks(block_rows))
            .for_each(|(rows, ids)| gather(rows, ids, table, dim));
        // SAFETY: every one of the n values was written. `self.ids` holds batch * steps
        // ids (`token_ids`), so the two chunkings pair block i of ids with block i of
        // rows, and `gather` writes every value of its rows or panics (before this line,
        // leaving the length 0); the capacity is at least n.
        unsafe { out.set_len(n) };
        if ctx.training {
            self.cached = Some((batch, steps));
        }
        Ok(ArrayD::from_shape_vec(IxDyn(&[batch, steps, dim]), out).expect("batch*steps*dim"))
    }

    /// Scatter-adds the output gradient into the rows used; no input gradient.
    fn backward(&mut self, grad_output: ArrayD<f32>) -> Result<Option<ArrayD<f32>>> {
        let Some((batch, steps)) = self.cached else {
            return Err(rec::no_forward(&self.name));
        };
        let dim = self.config.output_dim;
        if grad_output.shape() != [batch, steps, dim] {
            return Err(Error::Shape(format!(
                "layer '{}': output gradient has shape {:?}, expected {:?}",
                self.name,
                grad_output.shape(),
                [batch, steps, dim]
            )));
        }
        let g = grad_output
            .into_shape_with_order((batch * steps, dim))
            .map_err(|e| Error::Shape(format!("layer '{}': {e}", self.name)))?;
        // Row-major without a copy when it already is (the usual case).
        let g = g.as_standard_layout();
        let g = g.as_slice().expect("standard layout");
        // Keras/TF keep this gradient as IndexedSlices (one row per occurrence); its
        // optimizers square the rows before duplicates are summed (see `Param::grad_sq`),
        // so both the sum and the sum of squares are kept.
        let p = &mut self.params[0];
        let sq = p
            .grad_sq
            .get_or_insert_with(|| ArrayD::zeros(p.value.raw_dim()));
        let sq = sq.as_slice_mut().expect("standard layout");
        let grad = p.grad.as_slice_mut().ok_or_else(|| {
            Error::State(format!("layer '{}': gradient is not contiguous", self.name))
        })?;
        let vocab = self.config.input_dim;
        if g.len() <= SERIAL_SCATTER_FLOATS {
            // A small batch in one pass on this thread: the parallel passes below cost
            // more in thread hand-offs than the whole scatter (LSTM(8) on 64 x 100 ids:
            // 34 us against ~10).
            grad.fill(0.0);
            sq.fill(0.0);
            let rows: Vec<usize> = (0..self.ids.len())
                .filter(|&r| fm::any_nonzero(&g[r * dim..(r + 1) * dim]))
                .collect();
            scatter(grad, sq, &rows, g, &self.ids, 0, dim);
            return Ok(None);
        }
        // Split by ranges of ids across threads. The occurrences are first bucketed by
        // range in one pass (scanning all of them in every range cost 8-10% of a W1
        // step in mispredicted branches); each range then adds its occurrences in
        // order, so each row's sums are the same as a serial pass's.
        let rows_per_part = vocab.div_ceil(SCATTER_PARTS).max(1);
        let parts = vocab.div_ceil(rows_per_part);
        // Rows of zeros add nothing (exactly: a sum started at +0 never holds -0) and are
        // left out: the padding steps behind a masking recurrent layer, all id 0, are
        // most of a pre-padded IMDB batch and made one range most of the work. The
        // bucketing, which reads every row, runs in blocks across threads; each range's
        // rows are the blocks' in block order, so still in input order.
        let blocks: Vec<Vec<Vec<usize>>> = self
            .ids
            .par_chunks(BUCKET_ROWS)
            .enumerate()
            .map(|(b, ids)| {
                let mut buckets = vec![Vec::new(); parts];
                for (i, &id) in ids.iter().enumerate() {
                    let r = b * BUCKET_ROWS + i;
                    if fm::any_nonzero(&g[r * dim..(r + 1) * dim]) {
                        buckets[id / rows_per_part].push(r);
                    }
                }
                buckets
            })
            .collect();
        let buckets: Vec<Vec<usize>> = (0..parts)
            .into_par_iter()
            .map(|p| blocks.iter().flat_map(|b| b[p].iter().copied()).collect())
            .collect();
        let ids = &self.ids;
        grad.par_chunks_mut(rows_per_part * dim)
            .zip(sq.par_chunks_mut(rows_per_part * dim))
            .zip(buckets.par_iter())
            .enumerate()
            .for_each(|(part, ((grad, sq), rows))| {
                grad.fill(0.0);
                sq.fill(0.0);
                scatter(grad, sq, rows, g, ids, part * rows_per_part, dim);
            });
        Ok(None)
    }

    /// With `mask_zero`, id 0 is padding: the mask is `ids != 0` (Keras).
    fn compute_mask(
        &self,
        input: &LayerInput<'_>,
        input_mask: Option<&Array2<bool>>,
    ) -> Option<Array2<bool>> {
        match input {
            LayerInput::Ids(ids) if self.config.mask_zero => Some(ids.mapv(|id| id != 0)),
            _ => input_mask.cloned(),
        }
    }

    params_field!();

    named_config!(LayerConfig::Embedding);
}

crate::simd_fn! {
    /// `rows[r] = table[ids[r]]`, rows of `dim`. Copied in fixed blocks of 16 values (inline
    /// vector moves) rather than one `memcpy` call per row: IMDB rows are 32 values, and
    /// the calls were most of the gather's time.
    /// Writes every value of `rows`, which must hold `ids.len()` rows (asserted).
    fn gather(rows: &mut [MaybeUninit<f32>], ids: &[usize], table: &[f32], dim: usize) {
        assert_eq!(rows.len(), ids.len() * dim, "a row per id");
        for (row, &id) in rows.chunks_exact_mut(dim).zip(ids) {
            let src = &table[id * dim..(id + 1) * dim];
            let mut blocks = row.chunks_exact_mut(16);
            let mut from = src.chunks_exact(16);
            for (d, s) in (&mut blocks).zip(&mut from) {
                let s: &[f32; 16] = s.try_into().expect("block of 16");
                let d: &mut [MaybeUninit<f32>; 16] = d.try_into().expect("block of 16");
                *d = s.map(MaybeUninit::new);
            }
            for (d, s) in blocks.into_remainder().iter_mut().zip(from.remainder()) {
                d.write(*s);
            }
        }
    }
}

crate::simd_fn! {
    /// Adds each occurrence `r` of `rows` (of ids `lo..`) to its table row: `grad[id] +=
    /// g[r]`, `sq[id] += g[r]²` (separate multiply and add, as the scalar code).
    fn scatter(
        grad: &mut [f32],
        sq: &mut [f32],
        rows: &[usize],
        g: &[f32],
        ids: &[usize],
        lo: usize,
        dim: usize,
    ) {
        for &r in rows {
            let (row, id) = (&g[r * dim..(r + 1) * dim], ids[r]);
            let at = (id - lo) * dim..(id - lo + 1) * dim;
            grad[at.clone()]
                .iter_mut()
                .zip(row)
                .for_each(|(a, b)| *a += b);
            sq[at].iter_mut().zip(row).for_each(|(a, b)| *a += b * b);
        }
    }
}

impl Folding for Embedding {
    fn last_token_ids(&self) -> Option<&[usize]> {
        self.cached.map(|_| &self.ids[..])
    }

    fn embedding_table(&self) -> Option<(&[f32], usize)> {
        let table = self.params.first()?.value.as_slice()?;
        Some((table, self.config.output_dim))
    }

    fn infer_tokens(
        &mut self,
        _tokens: TokenInput<'_>,
        _mask: Option<&Array2<bool>>,
    ) -> Result<ArrayD<f32>> {
        Err(folding::not_foldable(&self.name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    /// The gather into uninitialised memory fills every value: several blocks of
    /// `GATHER_FLOATS`, rows whose width is not a multiple of 16.
    #[test]
    fn forward_rows_are_the_table_rows_across_blocks() {
        let (vocab, dim) = (11, 37);
        let mut rng = SeededRng::new(5);
        let mut layer = Embedding::new(vocab, dim);
        layer.build(&[Some(3000)], &mut rng).unwrap();
        let ids = Array2::from_shape_fn((3, 3000), |(b, t)| ((b * 7 + t * 3) % vocab) as i32);
        assert!(3 * 3000 * dim > 2 * GATHER_FLOATS, "more than two blocks");
        let mut ctx = ForwardContext::new(false, &mut rng);
        let out = layer
            .forward(LayerInput::Ids(ids.view()), &mut ctx)
            .unwrap();
        let table = layer.params[0].value.as_slice().unwrap();
        let out = out.as_slice().unwrap();
        for (r, &id) in ids.iter().enumerate() {
            let id = id as usize;
            assert_eq!(
                &out[r * dim..(r + 1) * dim],
                &table[id * dim..(id + 1) * dim],
                "row {r}"
            );
        }
    }

    /// Both scatters (one serial pass for small batches, bucketed ranges of ids across
    /// threads for large ones) give the bits of the plain in-order sums, zero rows
    /// (skipped) included, for the gradient and the sum of squares.
    #[test]
    fn backward_is_the_in_order_scatter_for_small_and_large_batches() {
        let (vocab, dim) = (300, 24);
        for steps in [50usize, 4000] {
            let batch = 3;
            let mut rng = SeededRng::new(9);
            let mut layer = Embedding::new(vocab, dim);
            layer.build(&[Some(steps)], &mut rng).unwrap();
            let ids = Array2::from_shape_fn((batch, steps), |(b, t)| {
                ((b * 31 + t * 7 + t * t % 13) % vocab) as i32
            });
            let mut ctx = ForwardContext::new(true, &mut rng);
            layer
                .forward(LayerInput::Ids(ids.view()), &mut ctx)
                .unwrap();
            let rows = batch * steps;
            let g: Vec<f32> = (0..rows * dim)
                .map(|i| {
                    if (i / dim) % 5 == 0 {
                        0.0
                    } else {
                        rng.uniform(-1.0, 1.0)
                    }
                })
                .collect();
            let large = rows * dim > SERIAL_SCATTER_FLOATS;
            assert_eq!(large, steps == 4000, "one batch on each path");
            let (mut grad, mut sq) = (vec![0.0f32; vocab * dim], vec![0.0f32; vocab * dim]);
            for (r, &id) in ids.iter().enumerate() {
                let id = id as usize;
                for k in 0..dim {
                    let v = g[r * dim + k];
                    grad[id * dim + k] += v;
                    sq[id * dim + k] += v * v;
                }
            }
            let g = ArrayD::from_shape_vec(IxDyn(&[batch, steps, dim]), g).unwrap();
            assert!(layer.backward(g).unwrap().is_none());
            let p = &layer.params[0];
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(
                bits(p.grad.as_slice().unwrap()),
                bits(&grad),
                "steps {steps}"
            );
            let got_sq = p.grad_sq.as_ref().unwrap();
            assert_eq!(bits(got_sq.as_slice().unwrap()), bits(&sq), "steps {steps}");
        }
    }
}
