//! Embedding folded into the next recurrent layer's input projection, for inference.
//!
//! A recurrent layer after an `Embedding` multiplies each step's embedding row by its
//! `kernel`: `z_x = embeddings[id] · kernel + bias`. That product depends only on the
//! token id, so at inference each distinct token is projected once and every later
//! occurrence reads its row of projected values (`TokenProjection`). With IMDB-sized
//! vocabularies a batch of 256 reviews repeats each token dozens of times, and repeated
//! `predict` calls on one model (a service) reuse the rows of earlier calls.
//!
//! The cache checks its sources on every call instead of trusting an invalidation
//! protocol: it keeps a copy of the kernel, the bias and of every embedding row it
//! projected, and re-projects whatever differs bit for bit. Training never uses it.

/// Token ids of one batch with the embedding table they index (what `Embedding` would
/// have produced, before the lookup).
#[derive(Clone, Copy, Debug)]
pub struct TokenInput<'a> {
    /// Row-major (batch, steps), each `< vocab`.
    pub ids: &'a [usize],
    pub batch: usize,
    pub steps: usize,
    /// `embeddings` (vocab, dim), row-major.
    pub embeddings: &'a [f32],
    pub dim: usize,
}

impl TokenInput<'_> {
    pub fn vocab(&self) -> usize {
        self.embeddings.len() / self.dim
    }
}

/// Fills `out` (batch * steps, width) with each real step's projected row (`step_mask`
/// true, or no mask); masked rows are left unspecified, as `project_inputs` with a step mask
/// leaves them.
pub(crate) fn gather_projected(
    tokens: &TokenInput<'_>,
    table: &[f32],
    width: usize,
    step_mask: &[bool],
    out: &mut Vec<f32>,
) {
    out.resize(tokens.ids.len() * width, 0.0);
    for (r, (&id, row)) in tokens.ids.iter().zip(out.chunks_mut(width)).enumerate() {
        if step_mask.is_empty() || step_mask[r] {
            row.copy_from_slice(&table[id * width..(id + 1) * width]);
        }
    }
}

/// Largest cache kept per layer, in floats: the projected rows (vocab x gates*units)
/// plus the copy of the embedding rows they came from (vocab x dim); 16 Mi floats,
/// 64 MiB. Larger vocabularies take the unfolded path.
pub(crate) const MAX_TABLE_FLOATS: usize = 16 << 20;

/// Whether a layer with a `width`-wide input projection (gates x units) can fold an
/// embedding table of `vocab` rows of `dim` values, given its own input width `features`.
pub(crate) fn fits(vocab: usize, dim: usize, features: usize, width: usize) -> bool {
    dim == features && vocab.saturating_mul(width.saturating_add(dim)) <= MAX_TABLE_FLOATS
}

/// The error of a layer's `infer_tokens` called where its `folds_embedding` said no
/// (the model asks first, so this is an internal error).
pub(crate) fn not_foldable(layer: &str) -> crate::Error {
    crate::Error::State(format!("layer '{layer}' cannot fold this embedding"))
}

/// Whether two slices hold the same bits (NaN equals itself, -0 differs from +0). In
/// blocks of 16 without an early exit inside a block, so it vectorises: comparing the
/// 256 KiB kernel of an LSTM(128) on every `predict` call costs a few microseconds.
fn same_bits(a: &[f32], b: &[f32]) -> bool {
    a.len() == b.len()
        && a.chunks(16).zip(b.chunks(16)).all(|(x, y)| {
            x.iter()
                .zip(y)
                .fold(true, |same, (p, q)| same & (p.to_bits() == q.to_bits()))
        })
}

/// Projected rows `embeddings[id] · kernel + bias` per token id, filled on demand.
#[derive(Clone, Default)]
pub(crate) struct TokenProjection {
    dim: usize,
    width: usize,
    /// The kernel and bias the rows were computed with.
    kernel: Vec<f32>,
    bias: Vec<f32>,
    /// (vocab, dim): the embedding row each projected row was computed from.
    sources: Vec<f32>,
    /// (vocab, width): projected rows; valid where `filled`.
    rows: Vec<f32>,
    filled: Vec<bool>,
    /// Per id, the call that last checked it; `calls` counts calls.
    seen: Vec<u32>,
    calls: u32,
    /// Scratch: ids to (re)project and their embedding rows.
    pending: Vec<usize>,
    gathered: Vec<f32>,
    projected: Vec<f32>,
}

impl std::fmt::Debug for TokenProjection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let filled = self.filled.iter().filter(|&&b| b).count();
        write!(
            f,
            "TokenProjection {{ {filled} of {} tokens, width {} }}",
            self.filled.len(),
            self.width
        )
    }
}

impl TokenProjection {
    /// Makes the rows of every id in `tokens` current for `kernel` (dim, width) and
    /// `bias` (width, or none), then returns the table (vocab, width). `project(x, n,
    /// out)` computes `out` (n, width) = x (n, dim) · kernel + bias with the product the
    /// layer's unfolded path uses, so folded and unfolded outputs are bit-identical.
    pub fn update(
        &mut self,
        tokens: &TokenInput<'_>,
        kernel: &[f32],
        width: usize,
        bias: Option<&[f32]>,
        project: impl FnOnce(&[f32], usize, &mut Vec<f32>),
    ) -> &[f32] {
        let (vocab, dim) = (tokens.vocab(), tokens.dim);
        let bias = bias.unwrap_or(&[]);
        let same_shape = self.dim == dim && self.width == width && self.filled.len() == vocab;
        if !same_shape || !same_bits(&self.kernel, kernel) || !same_bits(&self.bias, bias) {
            self.dim = dim;
            self.width = width;
            self.kernel = kernel.to_vec();
            self.bias = bias.to_vec();
            self.sources.clear();
            self.sources.resize(vocab * dim, 0.0);
            self.rows.clear();
            self.rows.resize(vocab * width, 0.0);
            self.filled.clear();
            self.filled.resize(vocab, false);
        }
        // Each distinct id is checked once per call (`seen` holds the call that last
        // checked it); `pending` collects the ids whose row is missing or stale.
        self.calls = self.calls.wrapping_add(1);
        if self.calls == 0 || self.seen.len() != vocab {
            self.seen.clear();
            self.seen.resize(vocab, 0);
            self.calls = 1;
        }
        self.pending.clear();
        for &id in tokens.ids {
            if self.seen[id] == self.calls {
                continue;
            }
            self.seen[id] = self.calls;
            let source = &tokens.embeddings[id * dim..(id + 1) * dim];
            let stored = &mut self.sources[id * dim..(id + 1) * dim];
            if self.filled[id] && same_bits(stored, source) {
                continue;
            }
            stored.copy_from_slice(source);
            self.filled[id] = true;
            self.pending.push(id);
        }
        if !self.pending.is_empty() {
            let n = self.pending.len();
            self.gathered.clear();
            for &id in &self.pending {
                self.gathered
                    .extend_from_slice(&self.sources[id * dim..(id + 1) * dim]);
            }
            project(&self.gathered, n, &mut self.projected);
            for (&id, row) in self.pending.iter().zip(self.projected.chunks(width)) {
                self.rows[id * width..(id + 1) * width].copy_from_slice(row);
            }
        }
        &self.rows
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::small_gemm;

    #[test]
    fn the_cache_bound_counts_rows_and_their_sources() {
        // IMDB-sized: 10,000 tokens of 128 into LSTM(128): 10,000 x (512 + 128) floats.
        assert!(fits(10_000, 128, 128, 512));
        // A large pretrained embedding into a tiny layer: the copied sources dominate.
        assert!(!fits(100_000, 300, 300, 32));
        assert!(!fits(10_000, 16, 8, 32), "the input width must match");
    }

    /// The LSTM's projection (`small_gemm::gemm_bias`) into a fresh buffer.
    fn small_gemm_projection(
        x: &[f32],
        n: usize,
        kernel: &[f32],
        width: usize,
        bias: Option<&[f32]>,
        out: &mut Vec<f32>,
    ) {
        out.resize(n * width, 0.0);
        small_gemm::gemm_bias(x, kernel, bias, out, n, x.len() / n, width);
    }

    fn input<'a>(ids: &'a [usize], embeddings: &'a [f32], dim: usize) -> TokenInput<'a> {
        TokenInput {
            ids,
            batch: 1,
            steps: ids.len(),
            embeddings,
            dim,
        }
    }

    fn direct(e: &[f32], kernel: &[f32], bias: &[f32], id: usize, dim: usize) -> Vec<f32> {
        let width = bias.len();
        let mut out = bias.to_vec();
        small_gemm::gemm(
            &e[id * dim..(id + 1) * dim],
            kernel,
            &mut out,
            1,
            dim,
            width,
            true,
        );
        out
    }

    #[test]
    fn rows_follow_changes_to_embeddings_kernel_and_bias() {
        let (vocab, dim, width) = (5, 3, 4);
        let mut e: Vec<f32> = (0..vocab * dim).map(|i| i as f32 * 0.1 - 0.7).collect();
        let mut kernel: Vec<f32> = (0..dim * width).map(|i| (i as f32 * 0.37).sin()).collect();
        let mut bias = vec![0.5, -0.25, 0.125, 1.0];
        let mut cache = TokenProjection::default();
        let ids = [3, 1, 3, 3, 0, 1];
        let check = |cache: &mut TokenProjection, e: &[f32], k: &[f32], b: &[f32]| {
            let project = |x: &[f32], n: usize, out: &mut Vec<f32>| {
                small_gemm_projection(x, n, k, width, Some(b), out)
            };
            let table = cache
                .update(&input(&ids, e, dim), k, width, Some(b), project)
                .to_vec();
            for &id in &ids {
                assert_eq!(
                    table[id * width..(id + 1) * width],
                    direct(e, k, b, id, dim)[..]
                );
            }
        };
        check(&mut cache, &e, &kernel, &bias);
        e[3 * dim + 1] += 1.0; // one embedding row changes
        check(&mut cache, &e, &kernel, &bias);
        kernel[5] -= 0.5;
        check(&mut cache, &e, &kernel, &bias);
        bias[2] = -3.0;
        check(&mut cache, &e, &kernel, &bias);
        // Ids never seen stay unfilled; a later batch fills them.
        assert!(!cache.filled[2] && !cache.filled[4]);
        let later = [4, 2];
        let project = |x: &[f32], n: usize, out: &mut Vec<f32>| {
            small_gemm_projection(x, n, &kernel, width, Some(&bias), out)
        };
        let table = cache.update(
            &input(&later, &e, dim),
            &kernel,
            width,
            Some(&bias),
            project,
        );
        assert_eq!(
            table[4 * width..5 * width],
            direct(&e, &kernel, &bias, 4, dim)[..]
        );
    }

    #[test]
    fn no_bias_and_a_different_vocabulary_rebuild_the_table() {
        let (dim, width) = (2, 2);
        let e: Vec<f32> = vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        let kernel = vec![1.0, 0.0, 0.0, 1.0];
        let mut cache = TokenProjection::default();
        let project = |x: &[f32], n: usize, out: &mut Vec<f32>| {
            small_gemm_projection(x, n, &kernel, width, None, out)
        };
        let t = cache.update(&input(&[2, 0], &e, dim), &kernel, width, None, project);
        assert_eq!(&t[4..6], &[5.0, 6.0]);
        let e2: Vec<f32> = vec![1.0, 2.0, 3.0, 4.0];
        let t = cache.update(&input(&[1], &e2, dim), &kernel, width, None, project);
        assert_eq!(t.len(), 4);
        assert_eq!(&t[2..4], &[3.0, 4.0]);
    }
}
