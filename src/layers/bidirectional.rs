//! Keras `Bidirectional`: runs a copy of a recurrent layer forwards and another over the
//! time-reversed sequence (Keras's copy with `go_backwards=True`), then merges the two
//! outputs.
//!
//! Keras semantics kept here: the backward copy reads the whole padded sequence reversed
//! together with its mask; with `return_sequences` its output is flipped back to input
//! order before merging, and masked steps of both directions output zeros (Keras forces
//! `zero_output_for_mask = return_sequences` on both copies). Weights are named
//! `forward_<layer>/kernel`, `backward_<layer>/kernel`, ... as in Keras's weight paths.

use std::collections::HashSet;
use std::sync::{Mutex, OnceLock};

use ndarray::{Array2, ArrayD, Axis, concatenate};
use serde::{Deserialize, Serialize};

use super::config::{LayerConfig, RecurrentArgs};
use super::recurrent::{self as rec, reversed_time};
use super::{ForwardContext, Layer, LayerInput, Param, Shape};
use crate::error::{Error, Result};
use crate::rng::SeededRng;

/// How the forward and backward outputs are combined (Keras `merge_mode`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MergeMode {
    /// Concatenate on the last axis (Keras's default): width 2 * units.
    #[default]
    Concat,
    Sum,
    Mul,
    /// Mean of the two.
    Ave,
}

impl MergeMode {
    pub fn name(self) -> &'static str {
        match self {
            MergeMode::Concat => "concat",
            MergeMode::Sum => "sum",
            MergeMode::Mul => "mul",
            MergeMode::Ave => "ave",
        }
    }
}

/// Bidirectional wrapper around SimpleRNN, LSTM or GRU (Keras 3 `keras.layers.Bidirectional`).
#[derive(Debug)]
pub struct Bidirectional {
    name: String,
    inner: LayerConfig,
    merge_mode: MergeMode,
    return_sequences: bool,
    forward: Box<dyn Layer>,
    backward: Box<dyn Layer>,
    cache: Option<Cache>,
}

/// What `backward` needs from the last training forward.
#[derive(Debug)]
struct Cache {
    /// Forward and (flipped back to input order) backward outputs, masked steps zeroed.
    y_fwd: ArrayD<f32>,
    y_bwd: ArrayD<f32>,
    /// The input mask, with `return_sequences` (its masked steps get no gradient).
    mask: Option<Array2<bool>>,
}

/// A copy of a recurrent layer's config with `go_backwards` set.
fn backwards<C: Clone + std::ops::DerefMut<Target = RecurrentArgs>>(config: &C) -> C {
    let mut c = config.clone();
    c.go_backwards = true;
    c
}

impl Bidirectional {
    /// Wraps the recurrent layer `layer` describes (its name, if any, names the copies).
    pub fn new(layer: LayerConfig, merge_mode: MergeMode) -> Result<Self> {
        Self::with_name(layer, merge_mode, None)
    }

    /// As `new`, with an explicit layer name (default `bidirectional`).
    pub fn with_name(
        layer: LayerConfig,
        merge_mode: MergeMode,
        name: Option<String>,
    ) -> Result<Self> {
        let name = name.unwrap_or_else(|| "bidirectional".to_string());
        // Keras: the backward copy is the layer with `go_backwards=True`.
        let (return_sequences, go_backwards, backward) = match &layer {
            LayerConfig::SimpleRnn(c) => (
                c.return_sequences,
                c.go_backwards,
                LayerConfig::SimpleRnn(backwards(c)),
            ),
            LayerConfig::Lstm(c) => (
                c.return_sequences,
                c.go_backwards,
                LayerConfig::Lstm(backwards(c)),
            ),
            LayerConfig::Gru(c) => (
                c.return_sequences,
                c.go_backwards,
                LayerConfig::Gru(backwards(c)),
            ),
            other => {
                return Err(Error::invalid_argument(
                    format!("Bidirectional '{name}'"),
                    "layer",
                    format!(
                        "must be a SimpleRNN, LSTM or GRU, got {}",
                        other.to_layer()?.class_name()
                    ),
                ));
            }
        };
        if go_backwards {
            // Keras 3 raises here: both copies would read the sequence reversed.
            return Err(Error::invalid_argument(
                format!("Bidirectional '{name}'"),
                "layer",
                "the wrapped layer must have go_backwards=false (Keras: the forward and \
                 backward copies need different go_backwards values)",
            ));
        }
        let mut forward = layer.to_layer()?;
        let mut backward = backward.to_layer()?;
        // Keras names the copies after the wrapped layer's own name (a saved config
        // holds the forward copy, already named `forward_...`).
        let base = forward
            .name()
            .strip_prefix("forward_")
            .unwrap_or(forward.name())
            .to_string();
        forward.set_name(format!("forward_{base}"));
        backward.set_name(format!("backward_{base}"));
        Ok(Bidirectional {
            name,
            inner: layer,
            merge_mode,
            return_sequences,
            forward,
            backward,
            cache: None,
        })
    }

    pub fn merge_mode(&self) -> MergeMode {
        self.merge_mode
    }

    /// The copy reading the sequence in order.
    pub fn forward_layer(&self) -> &dyn Layer {
        self.forward.as_ref()
    }

    /// The copy reading the sequence reversed.
    pub fn backward_layer(&self) -> &dyn Layer {
        self.backward.as_ref()
    }

    /// Output width of one direction for an input shape.
    fn units(&self, input_shape: &[Option<usize>]) -> Result<usize> {
        let s = self.forward.compute_output_shape(input_shape)?;
        s.last().copied().flatten().ok_or_else(|| {
            Error::Shape(format!(
                "layer '{}': wrapped layer has no known output width",
                self.name
            ))
        })
    }

    fn merge(&self, a: &ArrayD<f32>, b: &ArrayD<f32>) -> ArrayD<f32> {
        match self.merge_mode {
            MergeMode::Concat => {
                let last = Axis(a.ndim() - 1);
                concatenate(last, &[a.view(), b.view()]).expect("both directions share a shape")
            }
            MergeMode::Sum => a + b,
            MergeMode::Mul => a * b,
            MergeMode::Ave => (a + b) * 0.5,
        }
    }
}

/// Zeroes the steps of a (batch, steps, width) array that the mask marks as padding.
fn zero_masked(y: &mut ArrayD<f32>, mask: &Array2<bool>) {
    for (mut sample, m) in y.outer_iter_mut().zip(mask.outer_iter()) {
        for (mut step, &real) in sample.outer_iter_mut().zip(m.iter()) {
            if !real {
                step.fill(0.0);
            }
        }
    }
}

/// A `&'static str` for a weight name built at run time (`forward_lstm/kernel`), as
/// `Param::name` needs. Names are interned, so each distinct name is allocated once.
pub(crate) fn intern(name: String) -> &'static str {
    static NAMES: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();
    let mut set = NAMES
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if let Some(&s) = set.get(name.as_str()) {
        return s;
    }
    let s: &'static str = Box::leak(name.into_boxed_str());
    set.insert(s);
    s
}

impl Layer for Bidirectional {
    layer_names!("Bidirectional", "bidirectional");

    fn input_shape_hint(&self) -> Option<Shape> {
        self.forward.input_shape_hint()
    }

    fn compute_output_shape(&self, input_shape: &[Option<usize>]) -> Result<Shape> {
        let mut shape = self.forward.compute_output_shape(input_shape)?;
        if self.merge_mode == MergeMode::Concat {
            let units = self.units(input_shape)?;
            *shape.last_mut().expect("recurrent output has a width") = Some(2 * units);
        }
        Ok(shape)
    }

    fn build(&mut self, input_shape: &[Option<usize>], rng: &mut SeededRng) -> Result<()> {
        if self.is_built() {
            return Err(rec::already_built(&self.name));
        }
        // Keras builds the forward copy first, then the backward one.
        for layer in [&mut self.forward, &mut self.backward] {
            layer.build(input_shape, rng)?;
            let prefix = layer.name().to_string();
            for p in layer.params_mut() {
                p.name = intern(format!("{prefix}/{}", p.name));
            }
        }
        Ok(())
    }

    fn is_built(&self) -> bool {
        self.forward.is_built() && self.backward.is_built()
    }

    fn forward(
        &mut self,
        input: LayerInput<'_>,
        ctx: &mut ForwardContext<'_>,
    ) -> Result<ArrayD<f32>> {
        self.cache = None;
        let x = input.floats_3d(&self.name, "", None)?.into_dyn();
        let mask = ctx.mask;
        if let Some(m) = mask
            && m.dim() != (x.shape()[0], x.shape()[1])
        {
            return Err(Error::Shape(format!(
                "layer '{}': input mask has shape {:?}, expected ({}, {})",
                self.name,
                m.dim(),
                x.shape()[0],
                x.shape()[1]
            )));
        }
        // Both copies see the mask and no token ids (as before the context: the copies
        // never learnt the ids, so they project every row).
        let mut y_fwd =
            (self.forward).forward(LayerInput::Floats(x.view()), &mut ctx.inner(mask, None))?;
        // The backward copy reverses the sequence and mask itself (go_backwards); its
        // sequence output comes in that reversed order.
        let mut y_bwd =
            (self.backward).forward(LayerInput::Floats(x.view()), &mut ctx.inner(mask, None))?;
        if self.return_sequences {
            y_bwd = reversed_time(y_bwd.view());
            if let Some(m) = mask {
                zero_masked(&mut y_fwd, m);
                zero_masked(&mut y_bwd, m);
            }
        }
        let out = self.merge(&y_fwd, &y_bwd);
        if ctx.training {
            let mask = mask.filter(|_| self.return_sequences).cloned();
            self.cache = Some(Cache { y_fwd, y_bwd, mask });
        }
        Ok(out)
    }

    fn backward(&mut self, grad_output: ArrayD<f32>) -> Result<Option<ArrayD<f32>>> {
        let cache = rec::cached(&self.cache, &self.name)?;
        let mut want = cache.y_fwd.shape().to_vec();
        if self.merge_mode == MergeMode::Concat {
            *want.last_mut().expect("recurrent output has a width") *= 2;
        }
        if grad_output.shape() != want.as_slice() {
            return Err(Error::Shape(format!(
                "layer '{}': output gradient has shape {:?}, expected {:?}",
                self.name,
                grad_output.shape(),
                want
            )));
        }
        let (mut g_fwd, mut g_bwd) = match self.merge_mode {
            MergeMode::Concat => {
                let last = Axis(grad_output.ndim() - 1);
                let units = cache.y_fwd.shape()[last.0];
                let (a, b) = grad_output.view().split_at(last, units);
                (
                    a.as_standard_layout().into_owned(),
                    b.as_standard_layout().into_owned(),
                )
            }
            MergeMode::Sum => (grad_output.clone(), grad_output),
            MergeMode::Mul => (&grad_output * &cache.y_bwd, &grad_output * &cache.y_fwd),
            MergeMode::Ave => {
                let half = grad_output * 0.5;
                (half.clone(), half)
            }
        };
        if self.return_sequences {
            // Masked steps output a constant zero: no gradient reaches the copies there.
            if let Some(m) = &cache.mask {
                zero_masked(&mut g_fwd, m);
                zero_masked(&mut g_bwd, m);
            }
            g_bwd = reversed_time(g_bwd.view());
        }
        let dx_fwd = self.forward.backward(g_fwd)?;
        let dx_bwd = self.backward.backward(g_bwd)?;
        Ok(match (dx_fwd, dx_bwd) {
            (Some(a), Some(b)) => Some(a + b),
            _ => None,
        })
    }

    fn compute_mask(
        &self,
        _input: &LayerInput<'_>,
        input_mask: Option<&Array2<bool>>,
    ) -> Option<Array2<bool>> {
        // Keras: the mask follows the sequence output and ends with the last state.
        input_mask.filter(|_| self.return_sequences).cloned()
    }

    fn params(&self) -> Vec<&Param> {
        let mut p = self.forward.params();
        p.extend(self.backward.params());
        p
    }
    fn params_mut(&mut self) -> Vec<&mut Param> {
        let mut p = self.forward.params_mut();
        p.extend(self.backward.params_mut());
        p
    }

    fn config(&self) -> serde_json::Value {
        serde_json::to_value(LayerConfig::Bidirectional(
            super::config::BidirectionalConfig {
                name: Some(self.name.clone()),
                layer: Box::new(self.inner.clone()),
                merge_mode: self.merge_mode,
            },
        ))
        .expect("configs serialise")
    }
}
