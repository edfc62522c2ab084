//! Optimizers with Keras 3's defaults and update formulas, one file each. An
//! `Optimizer` holds its config, the step count and one set of slot arrays (moments)
//! per variable, keyed by the variable's model-wide name (`lstm/kernel`), so its state
//! can be exported and restored as named arrays.
//!
//! What every optimizer shares is Keras 3's base `Optimizer.apply`, in its order:
//! clip the gradients (`clipnorm`, `clipvalue`, `global_clipnorm`), read the learning
//! rate (a constant, or a `LearningRateSchedule` at `iterations`), apply
//! `weight_decay` (`var -= var * weight_decay * lr`, every trainable variable), run
//! the optimizer's own update, count the step.

use std::collections::BTreeMap;

use ndarray::ArrayD;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::layers::Param;

pub mod adagrad;
pub mod adam;
pub mod adamw;
pub mod nadam;
pub mod rmsprop;
pub mod schedules;
pub mod sgd;

pub use adagrad::AdagradConfig;
pub use adam::AdamConfig;
pub use adamw::AdamWConfig;
pub use nadam::NadamConfig;
pub use rmsprop::RmspropConfig;
pub use schedules::LearningRateSchedule;
pub use sgd::SgdConfig;

/// An optimizer and its arguments, tagged by `type` (`sgd`, `rmsprop`, `adam`,
/// `adamw`, `adagrad`, `nadam`; Keras's class names and any letter case are accepted
/// when reading). `learning_rate` may be a number or a schedule table
/// (`LearningRateSchedule`); a schedule is kept in `learning_rate_schedule` and
/// written under that key.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum OptimizerConfig {
    Sgd(SgdConfig),
    Rmsprop(RmspropConfig),
    Adam(AdamConfig),
    #[serde(rename = "adamw")]
    AdamW(AdamWConfig),
    Adagrad(AdagradConfig),
    Nadam(NadamConfig),
}

/// The derived reader `OptimizerConfig`'s own `Deserialize` delegates to.
#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
enum Tagged {
    Sgd(SgdConfig),
    Rmsprop(RmspropConfig),
    Adam(AdamConfig),
    #[serde(rename = "adamw")]
    AdamW(AdamWConfig),
    Adagrad(AdagradConfig),
    Nadam(NadamConfig),
}

const OPTIMIZER_NAMES: &str = "sgd, rmsprop, adam, adamw, adagrad or nadam";

/// Our tag for a Keras optimizer name in any case, with or without underscores.
fn canonical_optimizer(name: &str) -> Option<&'static str> {
    let key: String = name
        .chars()
        .filter(|c| *c != '_')
        .map(|c| c.to_ascii_lowercase())
        .collect();
    Some(match key.as_str() {
        "sgd" => "sgd",
        "rmsprop" => "rmsprop",
        "adam" => "adam",
        "adamw" => "adamw",
        "adagrad" => "adagrad",
        "nadam" => "nadam",
        _ => return None,
    })
}

impl<'de> Deserialize<'de> for OptimizerConfig {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        use serde::de::Error as _;
        let mut v = serde_json::Value::deserialize(d)?;
        let Some(obj) = v.as_object_mut() else {
            return Err(D::Error::custom(format!(
                "expected an optimizer table with `type`, got {v}"
            )));
        };
        if let Some(serde_json::Value::String(t)) = obj.get("type") {
            let canonical = canonical_optimizer(t).ok_or_else(|| {
                D::Error::custom(format!(
                    "unknown optimizer type `{t}`; expected {OPTIMIZER_NAMES}"
                ))
            })?;
            obj.insert("type".into(), canonical.into());
        }
        // `learning_rate = { type = "ExponentialDecay", ... }`, as Keras takes a schedule.
        let mut schedule = None;
        if let Some(lr) = obj.get("learning_rate").filter(|lr| lr.is_object()) {
            let s: LearningRateSchedule = serde_json::from_value(lr.clone())
                .map_err(|e| D::Error::custom(format!("learning_rate schedule: {e}")))?;
            obj.insert("learning_rate".into(), s.initial().into());
            schedule = Some(s);
        }
        let tagged: Tagged = serde_json::from_value(v).map_err(D::Error::custom)?;
        let mut config = match tagged {
            Tagged::Sgd(c) => OptimizerConfig::Sgd(c),
            Tagged::Rmsprop(c) => OptimizerConfig::Rmsprop(c),
            Tagged::Adam(c) => OptimizerConfig::Adam(c),
            Tagged::AdamW(c) => OptimizerConfig::AdamW(c),
            Tagged::Adagrad(c) => OptimizerConfig::Adagrad(c),
            Tagged::Nadam(c) => OptimizerConfig::Nadam(c),
        };
        if schedule.is_some() {
            *config.schedule_mut() = schedule;
        }
        Ok(config)
    }
}

impl std::str::FromStr for OptimizerConfig {
    type Err = Error;
    /// A Keras optimizer string (`"adam"`, `"AdamW"`, `"nadam"`, ...) with default
    /// arguments.
    fn from_str(s: &str) -> Result<Self> {
        match canonical_optimizer(s) {
            Some("sgd") => Ok(OptimizerConfig::Sgd(SgdConfig::default())),
            Some("rmsprop") => Ok(OptimizerConfig::Rmsprop(RmspropConfig::default())),
            Some("adam") => Ok(OptimizerConfig::Adam(AdamConfig::default())),
            Some("adamw") => Ok(OptimizerConfig::AdamW(AdamWConfig::default())),
            Some("adagrad") => Ok(OptimizerConfig::Adagrad(AdagradConfig::default())),
            Some("nadam") => Ok(OptimizerConfig::Nadam(NadamConfig::default())),
            _ => Err(Error::invalid_argument(
                "compile",
                "optimizer",
                format!("unknown optimizer `{s}`; expected {OPTIMIZER_NAMES}"),
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
impl From<AdamWConfig> for OptimizerConfig {
    fn from(c: AdamWConfig) -> Self {
        OptimizerConfig::AdamW(c)
    }
}
impl From<AdagradConfig> for OptimizerConfig {
    fn from(c: AdagradConfig) -> Self {
        OptimizerConfig::Adagrad(c)
    }
}
impl From<NadamConfig> for OptimizerConfig {
    fn from(c: NadamConfig) -> Self {
        OptimizerConfig::Nadam(c)
    }
}

/// The same expression for every variant's config struct.
macro_rules! each {
    ($self:expr, $c:ident => $e:expr) => {
        match $self {
            OptimizerConfig::Sgd($c) => $e,
            OptimizerConfig::Rmsprop($c) => $e,
            OptimizerConfig::Adam($c) => $e,
            OptimizerConfig::AdamW($c) => $e,
            OptimizerConfig::Adagrad($c) => $e,
            OptimizerConfig::Nadam($c) => $e,
        }
    };
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
            OptimizerConfig::AdamW(_) => "AdamW",
            OptimizerConfig::Adagrad(_) => "Adagrad",
            OptimizerConfig::Nadam(_) => "Nadam",
        }
    }

    /// The constant learning rate (with a schedule: its value at step 0).
    pub fn learning_rate(&self) -> f64 {
        each!(self, c => c.learning_rate)
    }

    /// Set the constant learning rate. With a schedule this changes only the number
    /// reported for step 0; `Optimizer::set_learning_rate` refuses it, as Keras does.
    pub fn set_learning_rate(&mut self, lr: f64) {
        each!(self, c => c.learning_rate = lr)
    }

    /// The learning-rate schedule, if `learning_rate` is one.
    pub fn schedule(&self) -> Option<&LearningRateSchedule> {
        each!(self, c => c.learning_rate_schedule.as_ref())
    }

    fn schedule_mut(&mut self) -> &mut Option<LearningRateSchedule> {
        each!(self, c => &mut c.learning_rate_schedule)
    }

    /// Use `schedule` as the learning rate (Keras: pass a schedule as `learning_rate`).
    pub fn with_schedule(mut self, schedule: LearningRateSchedule) -> Self {
        self.set_learning_rate(schedule.initial());
        *self.schedule_mut() = Some(schedule);
        self
    }

    /// The learning rate of the step after `iterations` steps, in float32 as Keras.
    pub fn learning_rate_at(&self, iterations: u64) -> f32 {
        match self.schedule() {
            Some(s) => s.value(iterations),
            None => self.learning_rate() as f32,
        }
    }

    /// Keras 3's `weight_decay` (AdamW's is always set).
    pub fn weight_decay(&self) -> Option<f64> {
        match self {
            OptimizerConfig::Sgd(c) => c.weight_decay,
            OptimizerConfig::Rmsprop(c) => c.weight_decay,
            OptimizerConfig::Adam(c) => c.weight_decay,
            OptimizerConfig::AdamW(c) => Some(c.weight_decay),
            OptimizerConfig::Adagrad(c) => c.weight_decay,
            OptimizerConfig::Nadam(c) => c.weight_decay,
        }
    }

    fn slot_names(&self) -> Vec<&'static str> {
        each!(self, c => c.slot_names())
    }

    /// The value a new slot array starts with (Adagrad's `initial_accumulator_value`).
    fn slot_init(&self) -> f32 {
        match self {
            OptimizerConfig::Adagrad(c) => c.initial_accumulator_value as f32,
            _ => 0.0,
        }
    }

    fn clip_args(&self) -> [(&'static str, Option<f64>); 3] {
        let (n, v, g) = each!(self, c => (c.clipnorm, c.clipvalue, c.global_clipnorm));
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
        let check = ArgCheck {
            ctx: format!("optimizer {}", self.name()),
        };
        self.validate_shared(&check)?;
        self.validate_clip(&check)?;
        self.validate_own(&check)
    }

    /// The learning rate (or its schedule) and weight decay every optimizer takes.
    fn validate_shared(&self, check: &ArgCheck) -> Result<()> {
        let lr = self.learning_rate();
        if !lr.is_finite() || lr < 0.0 {
            return check.bad(
                "learning_rate",
                format!("must be a finite number >= 0, got {lr}"),
            );
        }
        if let Some(s) = self.schedule() {
            s.validate()?;
        }
        if let Some(wd) = self.weight_decay()
            && (!wd.is_finite() || wd < 0.0)
        {
            return check.bad(
                "weight_decay",
                format!("must be a finite number >= 0, got {wd}"),
            );
        }
        Ok(())
    }

    /// At most one of clipnorm, clipvalue and global_clipnorm, and it is positive.
    fn validate_clip(&self, check: &ArgCheck) -> Result<()> {
        let set: Vec<&str> = self
            .clip_args()
            .iter()
            .filter(|(_, v)| v.is_some())
            .map(|(n, _)| *n)
            .collect();
        if set.len() > 1 {
            return check.bad(
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
                return check.bad(name, format!("must be a finite number > 0, got {v}"));
            }
        }
        Ok(())
    }

    /// Each optimizer's own arguments (momentum, decay rates, epsilon).
    fn validate_own(&self, check: &ArgCheck) -> Result<()> {
        match self {
            OptimizerConfig::Sgd(c) => check.unit("momentum", c.momentum, true),
            OptimizerConfig::Rmsprop(c) => {
                check.unit("rho", c.rho, true)?;
                check.unit("momentum", c.momentum, true)?;
                check.epsilon(c.epsilon)
            }
            OptimizerConfig::Adam(c) => check.betas(c.beta_1, c.beta_2, c.epsilon),
            OptimizerConfig::AdamW(c) => check.betas(c.beta_1, c.beta_2, c.epsilon),
            OptimizerConfig::Nadam(c) => check.betas(c.beta_1, c.beta_2, c.epsilon),
            OptimizerConfig::Adagrad(c) => {
                check.epsilon(c.epsilon)?;
                let v = c.initial_accumulator_value;
                if !v.is_finite() || v < 0.0 {
                    return check.bad(
                        "initial_accumulator_value",
                        format!("must be a finite number >= 0, got {v}"),
                    );
                }
                Ok(())
            }
        }
    }
}

/// Argument checks whose errors name the optimizer.
struct ArgCheck {
    ctx: String,
}

impl ArgCheck {
    fn bad(&self, arg: &str, reason: String) -> Result<()> {
        Err(Error::invalid_argument(self.ctx.clone(), arg, reason))
    }

    /// `v` in [0, 1] (`upper_inclusive`) or [0, 1).
    fn unit(&self, arg: &str, v: f64, upper_inclusive: bool) -> Result<()> {
        let ok = v.is_finite() && v >= 0.0 && (v < 1.0 || (upper_inclusive && v == 1.0));
        if ok {
            Ok(())
        } else {
            let range = if upper_inclusive { "[0, 1]" } else { "[0, 1)" };
            self.bad(arg, format!("must be in {range}, got {v}"))
        }
    }

    fn epsilon(&self, eps: f64) -> Result<()> {
        if eps.is_finite() && eps >= 0.0 {
            Ok(())
        } else {
            self.bad(
                "epsilon",
                format!("must be a finite number >= 0, got {eps}"),
            )
        }
    }

    /// The Adam family's beta_1, beta_2 (each in [0, 1)) and epsilon.
    fn betas(&self, beta_1: f64, beta_2: f64, epsilon: f64) -> Result<()> {
        self.unit("beta_1", beta_1, false)?;
        self.unit("beta_2", beta_2, false)?;
        self.epsilon(epsilon)
    }
}

/// The variable's slots, created (at `slot_init`) on its first step.
fn slots_for<'s>(
    slots: &'s mut BTreeMap<String, Vec<ArrayD<f32>>>,
    config: &OptimizerConfig,
    name: &str,
    value: &ArrayD<f32>,
) -> Result<&'s mut Vec<ArrayD<f32>>> {
    let slot_names = config.slot_names();
    let slot_init = config.slot_init();
    let slots = slots.entry(name.to_string()).or_insert_with(|| {
        slot_names
            .iter()
            .map(|_| ArrayD::from_elem(value.raw_dim(), slot_init))
            .collect()
    });
    if slots.iter().any(|s| s.shape() != value.shape()) {
        return Err(Error::State(format!(
            "optimizer state of `{name}` has a different shape than the variable {:?}",
            value.shape()
        )));
    }
    Ok(slots)
}

/// Every gradient has its variable's shape.
fn check_grad_shapes(vars: &[(String, &mut Param)]) -> Result<()> {
    for (name, p) in vars.iter() {
        if p.grad.shape() != p.value.shape() {
            return Err(Error::State(format!(
                "gradient of `{name}` has shape {:?}, variable {:?}",
                p.grad.shape(),
                p.value.shape()
            )));
        }
    }
    Ok(())
}

/// The sum of squared sparse slices (see `Param::grad_sq`), where it applies.
fn slices(p: &Param) -> Option<&ArrayD<f32>> {
    p.grad_sq.as_ref().filter(|s| s.shape() == p.value.shape())
}

/// Squared L2 norm as TF computes it: over the slices for sparse gradients.
fn sq_norm(p: &Param) -> f32 {
    match slices(p) {
        Some(s) => s.sum(),
        None => p.grad.iter().map(|v| v * v).sum(),
    }
}

fn scaled(a: &ArrayD<f32>, f: f32) -> ArrayD<f32> {
    a.mapv(|v| v * f)
}

/// What each variable's update reads. Gradients are used in place unless
/// clipping changes them (copying every gradient on every step cost two passes
/// over them: 10 MB for an Embedding(10000, 128)); a factor of exactly 1 changes
/// no bit, so it copies nothing either.
fn clipped_grads(clip: Clip, vars: &[(String, &mut Param)]) -> Vec<Grad> {
    match clip {
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
    }
}

/// The update loops read gradients as contiguous slices: copy an in-place gradient
/// (and its slices, if read) that is not.
fn contiguous(p: &Param, grad: Grad) -> Grad {
    let standard = p.grad.is_standard_layout() && slices(p).is_none_or(|s| s.is_standard_layout());
    match grad {
        Grad::AsIs | Grad::Dense if !standard => {
            let sq = matches!(grad, Grad::AsIs)
                .then(|| slices(p).map(|s| s.as_standard_layout().into_owned()))
                .flatten();
            Grad::owned(p.grad.as_standard_layout().into_owned(), sq)
        }
        other => other,
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
    /// Nadam's `u_product` after `iterations` steps (1 otherwise); derived from the
    /// step count on `load_state`, so it is not part of the saved state.
    u_product: f32,
}

impl Optimizer {
    pub fn new(config: OptimizerConfig) -> Result<Self> {
        config.validate()?;
        Ok(Optimizer {
            config,
            iterations: 0,
            slots: BTreeMap::new(),
            built: false,
            u_product: 1.0,
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

    /// The learning rate the next step uses (a schedule's value at `iterations`).
    pub fn learning_rate(&self) -> f64 {
        self.config.learning_rate_at(self.iterations) as f64
    }

    /// Change the learning rate between steps (LearningRateScheduler,
    /// ReduceLROnPlateau). Refused when the learning rate is a schedule, as Keras does.
    pub fn set_learning_rate(&mut self, lr: f64) -> Result<()> {
        if let Some(s) = self.config.schedule() {
            return Err(Error::invalid_argument(
                format!("optimizer {}", self.config.name()),
                "learning_rate",
                format!(
                    "it is a {} schedule, so it cannot be set (to {lr}); use a constant \
                     learning_rate with callbacks that change it",
                    s.name()
                ),
            ));
        }
        let mut c = self.config.clone();
        c.set_learning_rate(lr);
        c.validate()?;
        self.config = c;
        Ok(())
    }

    /// One optimisation step on `vars` (model-wide name, parameter with its gradient):
    /// clip the gradients as configured, update every variable, count the step.
    pub fn apply(&mut self, vars: &mut [(String, &mut Param)]) -> Result<()> {
        check_grad_shapes(vars)?;
        let grads = clipped_grads(self.config.clip(), vars);
        let lr = self.config.learning_rate_at(self.iterations);
        let decay = self.config.weight_decay().map(|wd| wd as f32);
        if let OptimizerConfig::Nadam(c) = &self.config {
            // Keras advances it once per step, before any variable is updated.
            self.u_product =
                nadam::NadamConfig::advance(self.u_product, c.beta_1 as f32, self.iterations + 1);
        }
        let adamw = match &self.config {
            OptimizerConfig::AdamW(c) => Some(c.adam()),
            _ => None,
        };
        for ((name, p), grad) in vars.iter_mut().zip(grads) {
            self.update_variable(name, p, grad, lr, decay, adamw.as_ref())?;
        }
        self.iterations += 1;
        self.built = true;
        Ok(())
    }

    /// Update one variable from the gradient `grad` says to read: weight decay, then
    /// the optimizer's own step on its slots.
    fn update_variable(
        &mut self,
        name: &str,
        p: &mut Param,
        grad: Grad,
        lr: f32,
        decay: Option<f32>,
        adamw: Option<&AdamConfig>,
    ) -> Result<()> {
        let grad = contiguous(p, grad);
        let Param {
            grad: g_in_place,
            grad_sq,
            value,
            ..
        } = p;
        let sq_in_place = grad_sq.as_ref().filter(|s| s.shape() == value.shape());
        let (g, sq): (&ArrayD<f32>, Option<&ArrayD<f32>>) = match &grad {
            Grad::AsIs => (g_in_place, sq_in_place),
            Grad::Dense => (g_in_place, None),
            Grad::Owned(o) => (&o.0, o.1.as_ref()),
        };
        let slots = slots_for(&mut self.slots, &self.config, name, value)?;
        if !value.is_standard_layout() {
            *value = value.as_standard_layout().into_owned();
        }
        if let Some(wd) = decay {
            // Keras: `variable - variable * wd * lr`, in float32.
            value.mapv_inplace(|v| v - v * wd * lr);
        }
        let it = self.iterations;
        match &self.config {
            OptimizerConfig::Sgd(c) => c.step(lr, g, value, slots),
            OptimizerConfig::Rmsprop(c) => c.step(lr, g, sq, value, slots),
            OptimizerConfig::Adam(c) => c.step(lr, it, g, sq, value, slots),
            OptimizerConfig::AdamW(_) => {
                let c = adamw.expect("set for AdamW");
                c.step(lr, it, g, sq, value, slots)
            }
            OptimizerConfig::Adagrad(c) => c.step(lr, g, sq, value, slots),
            OptimizerConfig::Nadam(c) => c.step(lr, it, self.u_product, g, sq, value, slots),
        }
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
        self.u_product = match &self.config {
            OptimizerConfig::Nadam(c) => c.u_product(iterations),
            _ => 1.0,
        };
        Ok(())
    }

    /// (count, bytes) of the optimizer's variables as Keras's `summary()` counts them:
    /// the slots plus `iteration` (int64), `learning_rate` (float32; not with a
    /// schedule) and Nadam's `u_product` (float32).
    pub fn variable_count(&self, trainable_params: usize) -> (usize, usize) {
        let slots = self.config.slot_names().len() * trainable_params;
        let mut scalars = (1, 8);
        if self.config.schedule().is_none() {
            scalars = (scalars.0 + 1, scalars.1 + 4);
        }
        if matches!(self.config, OptimizerConfig::Nadam(_)) {
            scalars = (scalars.0 + 1, scalars.1 + 4);
        }
        (slots + scalars.0, slots * 4 + scalars.1)
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
