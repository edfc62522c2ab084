//! Optimizers with Keras 3's defaults and update formulas, one file each. An
//! `Optimizer` holds its config, the step count and one set of slot arrays (moments)
//! per variable, keyed by the variable's model-wide name (`lstm/kernel`), so its state
//! can be exported and restored as named arrays.

use std::collections::BTreeMap;

use ndarray::ArrayD;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::layers::Param;

pub mod adam;
pub mod rmsprop;
pub mod sgd;

pub use adam::AdamConfig;
pub use rmsprop::RmspropConfig;
pub use sgd::SgdConfig;

/// An optimizer and its arguments, tagged by `type` (`sgd`, `rmsprop`, `adam`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum OptimizerConfig {
    Sgd(SgdConfig),
    Rmsprop(RmspropConfig),
    Adam(AdamConfig),
}

impl std::str::FromStr for OptimizerConfig {
    type Err = Error;
    /// A Keras optimizer string (`"adam"`, `"rmsprop"`, `"sgd"`) with default arguments.
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "sgd" => Ok(OptimizerConfig::Sgd(SgdConfig::default())),
            "rmsprop" => Ok(OptimizerConfig::Rmsprop(RmspropConfig::default())),
            "adam" => Ok(OptimizerConfig::Adam(AdamConfig::default())),
            _ => Err(Error::invalid_argument(
                "compile",
                "optimizer",
                format!("unknown optimizer `{s}`; expected sgd, rmsprop or adam"),
            )),
        }
    }
}

impl From<SgdConfig> for OptimizerConfig {
    fn from(c: SgdConfig) -> Self {
        OptimizerConfig::Sgd(c)
    }
}
impl From<RmspropConfig> for OptimizerConfig {
    fn from(c: RmspropConfig) -> Self {
        OptimizerConfig::Rmsprop(c)
    }
}
impl From<AdamConfig> for OptimizerConfig {
    fn from(c: AdamConfig) -> Self {
        OptimizerConfig::Adam(c)
    }
}

/// Gradient clipping; Keras allows at most one of the three.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Clip {
    None,
    Norm(f32),
    GlobalNorm(f32),
    Value(f32),
}

/// The gradient an optimizer step reads for one variable (`Optimizer::apply`).
enum Grad {
    /// The variable's own gradient and sparse slices, in place.
    AsIs,
    /// Its own gradient in place, without the sparse slices (densified by clipping).
    Dense,
    /// A clipped copy, with the slices' sum of squares where they still apply.
    Owned(Box<(ArrayD<f32>, Option<ArrayD<f32>>)>),
}

impl Grad {
    fn owned(grad: ArrayD<f32>, slices: Option<ArrayD<f32>>) -> Self {
        Grad::Owned(Box::new((grad, slices)))
    }
}

impl OptimizerConfig {
    /// Keras class name.
    pub fn name(&self) -> &'static str {
        match self {
            OptimizerConfig::Sgd(_) => "SGD",
            OptimizerConfig::Rmsprop(_) => "RMSprop",
            OptimizerConfig::Adam(_) => "Adam",
        }
    }

    pub fn learning_rate(&self) -> f64 {
        match self {
            OptimizerConfig::Sgd(c) => c.learning_rate,
            OptimizerConfig::Rmsprop(c) => c.learning_rate,
            OptimizerConfig::Adam(c) => c.learning_rate,
        }
    }

    pub fn set_learning_rate(&mut self, lr: f64) {
        match self {
            OptimizerConfig::Sgd(c) => c.learning_rate = lr,
            OptimizerConfig::Rmsprop(c) => c.learning_rate = lr,
            OptimizerConfig::Adam(c) => c.learning_rate = lr,
        }
    }

    fn slot_names(&self) -> Vec<&'static str> {
        match self {
            OptimizerConfig::Sgd(c) => c.slot_names(),
            OptimizerConfig::Rmsprop(c) => c.slot_names(),
            OptimizerConfig::Adam(c) => c.slot_names(),
        }
    }

    fn clip_args(&self) -> [(&'static str, Option<f64>); 3] {
        let (n, v, g) = match self {
            OptimizerConfig::Sgd(c) => (c.clipnorm, c.clipvalue, c.global_clipnorm),
            OptimizerConfig::Rmsprop(c) => (c.clipnorm, c.clipvalue, c.global_clipnorm),
            OptimizerConfig::Adam(c) => (c.clipnorm, c.clipvalue, c.global_clipnorm),
        };
        [("clipnorm", n), ("clipvalue", v), ("global_clipnorm", g)]
    }

    fn clip(&self) -> Clip {
        match self.clip_args() {
            [(_, Some(n)), _, _] if n > 0.0 => Clip::Norm(n as f32),
            [_, _, (_, Some(g))] if g > 0.0 => Clip::GlobalNorm(g as f32),
            [_, (_, Some(v)), _] if v > 0.0 => Clip::Value(v as f32),
            _ => Clip::None,
        }
    }

    /// Check the arguments as Keras does (plus finiteness).
    pub fn validate(&self) -> Result<()> {
        let ctx = format!("optimizer {}", self.name());
        let bad =
            |arg: &str, reason: String| Err(Error::invalid_argument(ctx.clone(), arg, reason));
        let lr = self.learning_rate();
        if !lr.is_finite() || lr < 0.0 {
            return bad(
                "learning_rate",
                format!("must be a finite number >= 0, got {lr}"),
            );
        }
        let set: Vec<&str> = self
            .clip_args()
            .iter()
            .filter(|(_, v)| v.is_some())
            .map(|(n, _)| *n)
            .collect();
        if set.len() > 1 {
            return bad(
                set[1],
                format!(
                    "only one of clipnorm, clipvalue and global_clipnorm can be set, got {set:?}"
                ),
            );
        }
        for (name, v) in self.clip_args() {
            if let Some(v) = v
                && (!v.is_finite() || v <= 0.0)
            {
                return bad(name, format!("must be a finite number > 0, got {v}"));
            }
        }
        let unit = |arg: &str, v: f64, upper_inclusive: bool| {
            let ok = v.is_finite() && v >= 0.0 && (v < 1.0 || (upper_inclusive && v == 1.0));
            if ok {
                Ok(())
            } else {
                let range = if upper_inclusive { "[0, 1]" } else { "[0, 1)" };
                Err(Error::invalid_argument(
                    ctx.clone(),
                    arg,
                    format!("must be in {range}, got {v}"),
                ))
            }
        };
        let eps_ok = |eps: f64| {
            if eps.is_finite() && eps >= 0.0 {
                Ok(())
            } else {
                Err(Error::invalid_argument(
                    ctx.clone(),
                    "epsilon",
                    format!("must be a finite number >= 0, got {eps}"),
                ))
            }
        };
        match self {
            OptimizerConfig::Sgd(c) => unit("momentum", c.momentum, true),
            OptimizerConfig::Rmsprop(c) => {
                unit("rho", c.rho, true)?;
                unit("momentum", c.momentum, true)?;
                eps_ok(c.epsilon)
            }
            OptimizerConfig::Adam(c) => {
                unit("beta_1", c.beta_1, false)?;
                unit("beta_2", c.beta_2, false)?;
                eps_ok(c.epsilon)
            }
        }
    }
}

/// An optimizer with its state.
#[derive(Clone, Debug)]
pub struct Optimizer {
    config: OptimizerConfig,
    /// Steps taken so far (Keras `optimizer.iterations`).
    iterations: u64,
    /// Per variable (by model-wide name): one array per slot, in `slot_names` order.
    slots: BTreeMap<String, Vec<ArrayD<f32>>>,
    /// Keras builds the optimizer on the first step; `summary()` shows it only then.
    built: bool,
}

impl Optimizer {
    pub fn new(config: OptimizerConfig) -> Result<Self> {
        config.validate()?;
        Ok(Optimizer {
            config,
            iterations: 0,
            slots: BTreeMap::new(),
            built: false,
        })
    }

    pub fn config(&self) -> &OptimizerConfig {
        &self.config
    }

    pub fn iterations(&self) -> u64 {
        self.iterations
    }

    pub fn is_built(&self) -> bool {
        self.built
    }

    /// Change the learning rate between steps (schedules, ReduceLROnPlateau).
    pub fn set_learning_rate(&mut self, lr: f64) -> Result<()> {
        let mut c = self.config.clone();
        c.set_learning_rate(lr);
        c.validate()?;
        self.config = c;
        Ok(())
    }

    /// One optimisation step on `vars` (model-wide name, parameter with its gradient):
    /// clip the gradients as configured, update every variable, count the step.
    pub fn apply(&mut self, vars: &mut [(String, &mut Param)]) -> Result<()> {
        let clip = self.config.clip();
        for (name, p) in vars.iter() {
            if p.grad.shape() != p.value.shape() {
                return Err(Error::State(format!(
                    "gradient of `{name}` has shape {:?}, variable {:?}",
                    p.grad.shape(),
                    p.value.shape()
                )));
            }
        }
        // The sum of squared sparse slices (see `Param::grad_sq`), where it applies.
        fn slices(p: &Param) -> Option<&ArrayD<f32>> {
            p.grad_sq.as_ref().filter(|s| s.shape() == p.value.shape())
        }
        // Squared L2 norm as TF computes it: over the slices for sparse gradients.
        let sq_norm = |p: &Param| -> f32 {
            match slices(p) {
                Some(s) => s.sum(),
                None => p.grad.iter().map(|v| v * v).sum(),
            }
        };
        let scaled = |a: &ArrayD<f32>, f: f32| a.mapv(|v| v * f);
        // What each variable's update reads. Gradients are used in place unless
        // clipping changes them (copying every gradient on every step cost two passes
        // over them: 10 MB for an Embedding(10000, 128)); a factor of exactly 1 changes
        // no bit, so it copies nothing either.
        let grads: Vec<Grad> = match clip {
            Clip::None => vars.iter().map(|_| Grad::AsIs).collect(),
            Clip::Norm(c) => vars
                .iter()
                .map(|(_, p)| {
                    // Keras `_clip_by_norm`: `g * c / max(||g||, c)`, untouched if 0.
                    let l2sum = sq_norm(p);
                    let f = if l2sum > 0.0 {
                        c / l2sum.sqrt().max(c)
                    } else {
                        1.0
                    };
                    if f == 1.0 {
                        Grad::AsIs
                    } else {
                        let sq = slices(p).map(|s| scaled(s, f * f));
                        Grad::owned(scaled(&p.grad, f), sq)
                    }
                })
                .collect(),
            // TF clips each slice of a sparse gradient before summing; with the summed
            // gradient only, repeated embedding rows may differ slightly.
            Clip::Value(c) => vars
                .iter()
                .map(|(_, p)| Grad::owned(p.grad.mapv(|v| v.clamp(-c, c)), None))
                .collect(),
            Clip::GlobalNorm(c) => {
                // keras clip_by_global_norm: scale = c * min(1/norm, 1/c); NaN if the
                // norm is. `slices * scale` densifies TF's sparse gradient, so from here
                // on Adam/RMSprop square the summed gradient.
                let norm = vars.iter().map(|(_, p)| sq_norm(p)).sum::<f32>().sqrt();
                let f = if norm.is_finite() {
                    c * (1.0 / norm).min(1.0 / c)
                } else {
                    f32::NAN
                };
                vars.iter()
                    .map(|(_, p)| {
                        if f == 1.0 {
                            Grad::Dense
                        } else {
                            Grad::owned(scaled(&p.grad, f), None)
                        }
                    })
                    .collect()
            }
        };
        let slot_names = self.config.slot_names();
        for ((name, p), grad) in vars.iter_mut().zip(grads) {
            // The update loops read gradients as contiguous slices.
            let standard =
                p.grad.is_standard_layout() && slices(p).is_none_or(|s| s.is_standard_layout());
            let grad = match grad {
                Grad::AsIs | Grad::Dense if !standard => {
                    let sq = matches!(grad, Grad::AsIs)
                        .then(|| slices(p).map(|s| s.as_standard_layout().into_owned()))
                        .flatten();
                    Grad::owned(p.grad.as_standard_layout().into_owned(), sq)
                }
                other => other,
            };
            let Param {
                grad: g_in_place,
                grad_sq,
                value,
                ..
            } = &mut **p;
            let sq_in_place = grad_sq.as_ref().filter(|s| s.shape() == value.shape());
            let (g, sq): (&ArrayD<f32>, Option<&ArrayD<f32>>) = match &grad {
                Grad::AsIs => (g_in_place, sq_in_place),
                Grad::Dense => (g_in_place, None),
                Grad::Owned(o) => (&o.0, o.1.as_ref()),
            };
            let slots = self.slots.entry(name.clone()).or_insert_with(|| {
                slot_names
                    .iter()
                    .map(|_| ArrayD::zeros(value.raw_dim()))
                    .collect()
            });
            if slots.iter().any(|s| s.shape() != value.shape()) {
                return Err(Error::State(format!(
                    "optimizer state of `{name}` has a different shape than the variable {:?}",
                    value.shape()
                )));
            }
            if !value.is_standard_layout() {
                *value = value.as_standard_layout().into_owned();
            }
            match &self.config {
                OptimizerConfig::Sgd(c) => c.update(g, value, slots),
                OptimizerConfig::Rmsprop(c) => c.update(g, sq, value, slots),
                OptimizerConfig::Adam(c) => c.update(self.iterations, g, sq, value, slots),
            }
        }
        self.iterations += 1;
        self.built = true;
        Ok(())
    }

    /// State as named arrays: `iteration` (a scalar) and `{variable}/{slot}` per slot
    /// (e.g. `lstm/kernel/momentum`), sorted by name.
    pub fn state(&self) -> Vec<(String, ArrayD<f32>)> {
        let names = self.config.slot_names();
        let mut out = vec![(
            "iteration".to_string(),
            ArrayD::from_elem(ndarray::IxDyn(&[]), self.iterations as f32),
        )];
        for (var, slots) in &self.slots {
            for (slot, a) in names.iter().zip(slots) {
                out.push((format!("{var}/{slot}"), a.clone()));
            }
        }
        out
    }

    /// Restore what `state` exported. All-or-nothing: on error nothing changes.
    /// `variables` gives the names and shapes of the model's trainable variables.
    pub fn load_state(
        &mut self,
        state: &[(String, ArrayD<f32>)],
        variables: &[(String, Vec<usize>)],
    ) -> Result<()> {
        let names = self.config.slot_names();
        let mut by_name: BTreeMap<&str, &ArrayD<f32>> = BTreeMap::new();
        for (n, a) in state {
            by_name.insert(n.as_str(), a);
        }
        let iterations = match by_name.remove("iteration") {
            Some(a) if a.len() == 1 => {
                let v = a.iter().next().copied().unwrap_or(0.0);
                if v < 0.0 || v.fract() != 0.0 || !v.is_finite() {
                    return Err(Error::Data(format!(
                        "optimizer state `iteration` is {v}, not a step count"
                    )));
                }
                v as u64
            }
            Some(a) => {
                return Err(Error::Data(format!(
                    "optimizer state `iteration` has shape {:?}, expected a scalar",
                    a.shape()
                )));
            }
            None => return Err(Error::Data("optimizer state lacks `iteration`".to_string())),
        };
        let mut slots = BTreeMap::new();
        for (var, shape) in variables {
            let mut arrays = Vec::new();
            for slot in &names {
                let key = format!("{var}/{slot}");
                match by_name.remove(key.as_str()) {
                    Some(a) if a.shape() == shape.as_slice() => {
                        arrays.push(a.as_standard_layout().into_owned())
                    }
                    Some(a) => {
                        return Err(Error::Data(format!(
                            "optimizer state `{key}` has shape {:?}, variable has {shape:?}",
                            a.shape()
                        )));
                    }
                    None if iterations == 0 => {}
                    None => {
                        return Err(Error::Data(format!(
                            "optimizer state lacks `{key}` ({} after {iterations} steps)",
                            self.config.name()
                        )));
                    }
                }
            }
            if arrays.len() == names.len() && !names.is_empty() {
                slots.insert(var.clone(), arrays);
            }
        }
        if let Some(extra) = by_name.keys().next() {
            return Err(Error::Data(format!(
                "optimizer state has an unexpected array `{extra}` for {}",
                self.config.name()
            )));
        }
        self.iterations = iterations;
        self.slots = slots;
        self.built = iterations > 0;
        Ok(())
    }

    /// (count, bytes) of the optimizer's variables as Keras's `summary()` counts them:
    /// the slots plus `iteration` (int64) and `learning_rate` (float32).
    pub fn variable_count(&self, trainable_params: usize) -> (usize, usize) {
        let slots = self.config.slot_names().len() * trainable_params;
        (slots + 2, slots * 4 + 8 + 4)
    }
}

#[cfg(test)]
mod tests;

/// Elements per part of an optimizer update: large variables (an embedding table) are
/// updated part by part across threads, each element by the same arithmetic, so the
/// result does not depend on the thread count.
pub(crate) const PART: usize = 1 << 15;

/// How many parts a variable of `len` elements has.
pub(crate) fn parts(len: usize) -> usize {
    len.div_ceil(PART)
}

/// Per part, the part of an optional slice (all `None` without one).
pub(crate) fn opt_chunks(s: Option<&[f32]>, parts: usize) -> Vec<Option<&[f32]>> {
    match s {
        Some(s) => s.chunks(PART).map(Some).collect(),
        None => vec![None; parts],
    }
}

pub(crate) fn opt_chunks_mut(s: Option<&mut [f32]>, parts: usize) -> Vec<Option<&mut [f32]>> {
    match s {
        Some(s) => s.chunks_mut(PART).map(Some).collect(),
        None => (0..parts).map(|_| None).collect(),
    }
}

/// Runs `update` on every part: on this thread for one part, across threads for more.
pub(crate) fn for_each_part<T: Send>(parts: Vec<T>, update: impl Fn(T) + Sync + Send) {
    use rayon::prelude::*;
    if parts.len() < 2 {
        parts.into_iter().for_each(update);
    } else {
        parts.into_par_iter().for_each(update);
    }
}
