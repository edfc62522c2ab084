//! Folding an `Embedding` into the layer after it, as one crate-private capability
//! (not part of the public `Layer` trait): at inference the pair runs as one step on
//! the token ids (`token_projection`), and in training the next layer learns which
//! token each of its input rows was looked up from (`ForwardContext::tokens`,
//! `token_rows`). The model asks a
//! layer for the capability (`folding`), so no position or type is special-cased
//! there; the layers that have it are found by their type (`Layer: Any`).

use std::any::Any;

use ndarray::{Array2, ArrayD};

use super::token_projection::{self, TokenInput};
use super::{Embedding, GRU, LSTM, Layer, SimpleRNN};
use crate::error::Result;

/// What a layer can do for folding; every method has a "cannot" default.
pub(crate) trait Folding {
    /// For an `Embedding` after a training `forward`: the token id of each output row.
    fn last_token_ids(&self) -> Option<&[usize]> {
        None
    }

    /// For an `Embedding`: its built table (vocab, dim) and dim, so the model can fold
    /// the lookup into the next layer at inference.
    fn embedding_table(&self) -> Option<(&[f32], usize)> {
        None
    }

    /// Whether `infer_tokens` takes ids into a (vocab, dim) embedding table in place of
    /// that embedding's output.
    fn folds_embedding(&self, vocab: usize, dim: usize) -> bool {
        let _ = (vocab, dim);
        false
    }

    /// Inference forward on the output an embedding would give for `tokens`, whose step
    /// mask is `mask`; equals `forward` on that output (in inference mode, with that
    /// mask) bit for bit. Only called where `folds_embedding` said yes.
    fn infer_tokens(
        &mut self,
        tokens: TokenInput<'_>,
        mask: Option<&Array2<bool>>,
    ) -> Result<ArrayD<f32>>;
}

/// The layer's folding capability, if it has one.
pub(crate) fn folding(layer: &dyn Layer) -> Option<&dyn Folding> {
    let any: &dyn Any = layer;
    if let Some(l) = any.downcast_ref::<Embedding>() {
        return Some(l);
    }
    if let Some(l) = any.downcast_ref::<LSTM>() {
        return Some(l);
    }
    if let Some(l) = any.downcast_ref::<GRU>() {
        return Some(l);
    }
    any.downcast_ref::<SimpleRNN>().map(|l| l as &dyn Folding)
}

/// `folding`, mutably.
pub(crate) fn folding_mut(layer: &mut dyn Layer) -> Option<&mut dyn Folding> {
    let any: &mut dyn Any = layer;
    if any.is::<Embedding>() {
        return any
            .downcast_mut::<Embedding>()
            .map(|l| l as &mut dyn Folding);
    }
    if any.is::<LSTM>() {
        return any.downcast_mut::<LSTM>().map(|l| l as &mut dyn Folding);
    }
    if any.is::<GRU>() {
        return any.downcast_mut::<GRU>().map(|l| l as &mut dyn Folding);
    }
    any.downcast_mut::<SimpleRNN>()
        .map(|l| l as &mut dyn Folding)
}

/// The error of `infer_tokens` on a layer that does not fold the embedding.
pub(crate) fn not_foldable(layer: &str) -> crate::Error {
    token_projection::not_foldable(layer)
}
