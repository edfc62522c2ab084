//! Weight initialisers with Keras 3's names, arguments, defaults and formulas
//! (keras/src/initializers). Every name Keras's `initializers.get` accepts works:
//! the snake_case name, the class name and Keras's aliases (`uniform` is
//! `RandomUniform`, `normal` is `RandomNormal`, `one`, `zero`).
//!
//! Written forms (JSON in model files, TOML in configs):
//! - a name: `"he_normal"`, `"GlorotUniform"`, `"orthogonal"`;
//! - a name with arguments: `{"random_uniform": {"minval": -0.1, "maxval": 0.1}}`;
//! - the same inline, as the config writes other tagged values:
//!   `{ type = "variance_scaling", scale = 2.0, mode = "fan_out" }`;
//! - Keras's own serialisation: `{"class_name": "Orthogonal", "config": {"gain": 2.0}}`.
//!
//! Arguments a value does not have are an error, not ignored (so is `seed`: every draw
//! comes from the layer's `SeededRng`, so one seed fixes a run, which Keras's per
//! initialiser seed cannot add to). An initialiser is written back as its name when
//! all its arguments are the defaults (model files of earlier versions read the same).
//!
//! Random draws are not Keras's bits (TF's Philox streams are not reproduced); the
//! distributions are Keras's, checked statistically in the tests.
//!
//! Orthogonal: Keras takes Q of the QR decomposition of a normal (max, min) matrix with
//! the sign convention diag(R) > 0. This is the unique Q of a full-rank matrix with
//! that convention, so any stable QR gives it; ours is blocked Gram-Schmidt applied
//! twice (BCGS2), whose work is matrix products (`matrixmultiply::dgemm`): about
//! 4·m·n² flops, what LAPACK's geqrf + orgqr (numpy's `qr`) cost for the same Q. The
//! column-at-a-time modified Gram-Schmidt it replaces did the same flops as scalar dot
//! products and took 29 s for the (8000, 2000) recurrent kernel of LSTM(2000); see
//! `orthogonal` for today's time.

use ndarray::{ArrayD, IxDyn};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::rng::SeededRng;

/// Which fan `VarianceScaling` divides by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FanMode {
    FanIn,
    FanOut,
    FanAvg,
}

impl FanMode {
    fn name(self) -> &'static str {
        match self {
            FanMode::FanIn => "fan_in",
            FanMode::FanOut => "fan_out",
            FanMode::FanAvg => "fan_avg",
        }
    }
}

/// `VarianceScaling`'s distribution. Keras reads `"normal"` as `TruncatedNormal`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Distribution {
    TruncatedNormal,
    UntruncatedNormal,
    Uniform,
}

impl Distribution {
    fn name(self) -> &'static str {
        match self {
            Distribution::TruncatedNormal => "truncated_normal",
            Distribution::UntruncatedNormal => "untruncated_normal",
            Distribution::Uniform => "uniform",
        }
    }
}

/// A weight initialiser (Keras 3 defaults in the comments).
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Initializer {
    #[default]
    Zeros,
    Ones,
    /// Every value `value` (Keras default 0).
    Constant {
        value: f32,
    },
    /// U(minval, maxval); Keras default (-0.05, 0.05). Also `uniform`.
    RandomUniform {
        minval: f32,
        maxval: f32,
    },
    /// N(mean, stddev); Keras default (0, 0.05). Also `normal`.
    RandomNormal {
        mean: f32,
        stddev: f32,
    },
    /// N(mean, stddev) redrawn outside two standard deviations; default (0, 0.05).
    TruncatedNormal {
        mean: f32,
        stddev: f32,
    },
    /// Keras default: scale 1, `fan_in`, truncated normal.
    VarianceScaling {
        scale: f64,
        mode: FanMode,
        distribution: Distribution,
    },
    /// VarianceScaling(1, fan_avg, uniform): U(-limit, limit), limit = sqrt(6 / (fan_in + fan_out)).
    GlorotUniform,
    /// VarianceScaling(1, fan_avg, truncated_normal).
    GlorotNormal,
    /// VarianceScaling(2, fan_in, truncated_normal).
    HeNormal,
    /// VarianceScaling(2, fan_in, uniform).
    HeUniform,
    /// VarianceScaling(1, fan_in, truncated_normal).
    LecunNormal,
    /// VarianceScaling(1, fan_in, uniform).
    LecunUniform,
    /// Random orthogonal matrix, Keras's default gain 1 (the recurrent kernels' default).
    Orthogonal,
    /// `Orthogonal` with a gain other than 1.
    OrthogonalGain {
        gain: f32,
    },
    /// `gain` times the identity matrix (2-D shapes only); default gain 1.
    Identity {
        gain: f32,
    },
}

/// Keras's `compute_fans`: (fan_in, fan_out) of a weight shape.
pub fn compute_fans(shape: &[usize]) -> (usize, usize) {
    match shape.len() {
        0 => (1, 1),
        1 => (shape[0], shape[0]),
        2 => (shape[0], shape[1]),
        _ => {
            let receptive: usize = shape[..shape.len() - 2].iter().product();
            (
                shape[shape.len() - 2] * receptive,
                shape[shape.len() - 1] * receptive,
            )
        }
    }
}

/// Keras's `TruncatedNormal` and `VarianceScaling` correct the standard deviation of
/// a normal truncated at two standard deviations by this constant.
const TRUNCATED_STDDEV: f64 = 0.879_625_661_034_239_8;

impl Initializer {
    /// A new array of `shape` filled by this initialiser, drawing from `rng`.
    ///
    /// Shapes Keras refuses (`identity` of a shape that is not 2-D, `orthogonal` of
    /// fewer than two axes) are taken as the 2-D matrix (prod(shape[..-1]), shape[-1]);
    /// `try_init` refuses them as Keras does.
    pub fn init(&self, shape: &[usize], rng: &mut SeededRng) -> ArrayD<f32> {
        let n: usize = shape.iter().product();
        let data: Vec<f32> = match self {
            Initializer::Zeros => vec![0.0; n],
            Initializer::Ones => vec![1.0; n],
            Initializer::Constant { value } => vec![*value; n],
            Initializer::RandomUniform { minval, maxval } => {
                (0..n).map(|_| rng.uniform(*minval, *maxval)).collect()
            }
            Initializer::RandomNormal { mean, stddev } => (0..n)
                .map(|_| (*mean as f64 + *stddev as f64 * rng.normal()) as f32)
                .collect(),
            Initializer::TruncatedNormal { mean, stddev } => (0..n)
                .map(|_| (*mean as f64 + *stddev as f64 * truncated(rng)) as f32)
                .collect(),
            Initializer::Orthogonal => orthogonal(shape, 1.0, rng),
            Initializer::OrthogonalGain { gain } => orthogonal(shape, *gain, rng),
            Initializer::Identity { gain } => {
                let cols = shape.last().copied().unwrap_or(1).max(1);
                (0..n)
                    .map(|i| if i / cols == i % cols { *gain } else { 0.0 })
                    .collect()
            }
            scaled => {
                let (scale, mode, distribution) = scaled.variance_scaling().expect("scaled");
                variance_scaling(shape, scale, mode, distribution, rng)
            }
        };
        ArrayD::from_shape_vec(IxDyn(shape), data).expect("length matches shape")
    }

    /// `init`, refusing the shapes Keras refuses and the arguments no written form
    /// accepts (`check_args`: a value built in code skips `from_name_and_args`).
    pub fn try_init(&self, shape: &[usize], rng: &mut SeededRng) -> Result<ArrayD<f32>> {
        self.check_args()?;
        self.check_shape(shape)?;
        Ok(self.init(shape, rng))
    }

    /// `try_init` for the weight `arg` (`kernel_initializer`, ...) of `layer` (`LSTM
    /// 'lstm'`): the error names the layer, the argument and the initializer.
    pub(crate) fn init_for(
        &self,
        layer: &str,
        arg: &str,
        shape: &[usize],
        rng: &mut SeededRng,
    ) -> Result<ArrayD<f32>> {
        self.try_init(shape, rng).map_err(|e| match e {
            Error::InvalidArgument {
                arg: what, reason, ..
            } => {
                let what = if what == "shape" {
                    String::new()
                } else {
                    format!(" {what}")
                };
                Error::invalid_argument(layer, arg, format!("{}{what}: {reason}", self.name()))
            }
            other => other,
        })
    }

    /// The checks `from_name_and_args` makes on the arguments, for a value built in
    /// code: finite numbers, stddev >= 0, minval <= maxval, scale > 0.
    pub fn check_args(&self) -> Result<()> {
        let bad = |arg: &str, why: String| {
            Err(Error::invalid_argument(
                format!("initializer {}", self.name()),
                arg,
                why,
            ))
        };
        let finite = |pairs: &[(&str, f64)]| {
            for &(arg, v) in pairs {
                if !v.is_finite() {
                    return bad(arg, format!("must be a finite number, got {v}"));
                }
            }
            Ok(())
        };
        match *self {
            Initializer::Constant { value } => finite(&[("value", value as f64)]),
            Initializer::RandomUniform { minval, maxval } => {
                finite(&[("minval", minval as f64), ("maxval", maxval as f64)])?;
                if minval > maxval {
                    return bad("minval", format!("{minval} is above maxval {maxval}"));
                }
                Ok(())
            }
            Initializer::RandomNormal { mean, stddev }
            | Initializer::TruncatedNormal { mean, stddev } => {
                finite(&[("mean", mean as f64), ("stddev", stddev as f64)])?;
                if stddev < 0.0 {
                    return bad("stddev", format!("must be >= 0, got {stddev}"));
                }
                Ok(())
            }
            Initializer::VarianceScaling { scale, .. } => {
                finite(&[("scale", scale)])?;
                if scale <= 0.0 {
                    return bad("scale", format!("must be > 0, got {scale}"));
                }
                Ok(())
            }
            Initializer::OrthogonalGain { gain } | Initializer::Identity { gain } => {
                finite(&[("gain", gain as f64)])
            }
            _ => Ok(()),
        }
    }

    /// Keras's shape checks: `identity` needs a 2-D shape, `orthogonal` at least 2 axes.
    pub fn check_shape(&self, shape: &[usize]) -> Result<()> {
        match self {
            Initializer::Identity { .. } if shape.len() != 2 => Err(Error::invalid_argument(
                "initializer identity",
                "shape",
                format!(
                    "identity initializes 2-D matrices only, got shape {shape:?} of rank {}",
                    shape.len()
                ),
            )),
            Initializer::Orthogonal | Initializer::OrthogonalGain { .. } if shape.len() < 2 => {
                Err(Error::invalid_argument(
                    "initializer orthogonal",
                    "shape",
                    format!(
                        "orthogonal initializes tensors of at least 2 axes, got shape {shape:?}"
                    ),
                ))
            }
            _ => Ok(()),
        }
    }

    /// (scale, mode, distribution) of the VarianceScaling family.
    fn variance_scaling(&self) -> Option<(f64, FanMode, Distribution)> {
        use Distribution::*;
        use FanMode::*;
        Some(match self {
            Initializer::VarianceScaling {
                scale,
                mode,
                distribution,
            } => (*scale, *mode, *distribution),
            Initializer::GlorotUniform => (1.0, FanAvg, Uniform),
            Initializer::GlorotNormal => (1.0, FanAvg, TruncatedNormal),
            Initializer::HeNormal => (2.0, FanIn, TruncatedNormal),
            Initializer::HeUniform => (2.0, FanIn, Uniform),
            Initializer::LecunNormal => (1.0, FanIn, TruncatedNormal),
            Initializer::LecunUniform => (1.0, FanIn, Uniform),
            _ => return None,
        })
    }

    /// The snake_case name Keras's `initializers.get` resolves to this variant.
    pub fn name(&self) -> &'static str {
        match self {
            Initializer::Zeros => "zeros",
            Initializer::Ones => "ones",
            Initializer::Constant { .. } => "constant",
            Initializer::RandomUniform { .. } => "random_uniform",
            Initializer::RandomNormal { .. } => "random_normal",
            Initializer::TruncatedNormal { .. } => "truncated_normal",
            Initializer::VarianceScaling { .. } => "variance_scaling",
            Initializer::GlorotUniform => "glorot_uniform",
            Initializer::GlorotNormal => "glorot_normal",
            Initializer::HeNormal => "he_normal",
            Initializer::HeUniform => "he_uniform",
            Initializer::LecunNormal => "lecun_normal",
            Initializer::LecunUniform => "lecun_uniform",
            Initializer::Orthogonal | Initializer::OrthogonalGain { .. } => "orthogonal",
            Initializer::Identity { .. } => "identity",
        }
    }

    /// Arguments that differ from Keras's defaults (what `Serialize` writes), in order.
    fn args(&self) -> Vec<(&'static str, Arg)> {
        let mut m = Vec::new();
        match self {
            Initializer::Constant { value } if *value != 0.0 => m.push(("value", Arg::F32(*value))),
            // Written in full: earlier versions read `random_uniform` only with both.
            Initializer::RandomUniform { minval, maxval } => {
                m.push(("minval", Arg::F32(*minval)));
                m.push(("maxval", Arg::F32(*maxval)));
            }
            Initializer::RandomNormal { mean, stddev }
            | Initializer::TruncatedNormal { mean, stddev } => {
                if *mean != 0.0 {
                    m.push(("mean", Arg::F32(*mean)));
                }
                if *stddev != 0.05 {
                    m.push(("stddev", Arg::F32(*stddev)));
                }
            }
            Initializer::VarianceScaling {
                scale,
                mode,
                distribution,
            } => {
                m.push(("scale", Arg::F64(*scale)));
                m.push(("mode", Arg::Str(mode.name())));
                m.push(("distribution", Arg::Str(distribution.name())));
            }
            Initializer::OrthogonalGain { gain } | Initializer::Identity { gain }
                if *gain != 1.0 =>
            {
                m.push(("gain", Arg::F32(*gain)))
            }
            _ => {}
        }
        m
    }

    /// Build from a name (any of Keras's spellings) and its arguments.
    pub fn from_name_and_args(name: &str, args: &Map<String, Value>) -> Result<Self> {
        let canonical = canonical_name(name).ok_or_else(|| {
            Error::invalid_argument(
                "initializer",
                "name",
                format!(
                    "unknown initializer `{name}`; expected one of {}",
                    NAMES.join(", ")
                ),
            )
        })?;
        let a = InitArgs {
            ctx: format!("initializer {name}"),
            args,
        };
        a.reject_unknown(allowed_args(canonical))?;
        Ok(match canonical {
            "zeros" => Initializer::Zeros,
            "ones" => Initializer::Ones,
            "constant" => Initializer::Constant {
                value: a.num("value", 0.0)? as f32,
            },
            "random_uniform" => a.random_uniform()?,
            "random_normal" | "truncated_normal" => a.normal(canonical == "truncated_normal")?,
            "variance_scaling" => a.variance_scaling()?,
            "glorot_uniform" => Initializer::GlorotUniform,
            "glorot_normal" => Initializer::GlorotNormal,
            "he_normal" => Initializer::HeNormal,
            "he_uniform" => Initializer::HeUniform,
            "lecun_normal" => Initializer::LecunNormal,
            "lecun_uniform" => Initializer::LecunUniform,
            "orthogonal" => match a.num("gain", 1.0)? as f32 {
                1.0 => Initializer::Orthogonal,
                gain => Initializer::OrthogonalGain { gain },
            },
            "identity" => Initializer::Identity {
                gain: a.num("gain", 1.0)? as f32,
            },
            _ => unreachable!("canonical_name returns a listed name"),
        })
    }
}

/// The arguments each initializer takes (by canonical name).
fn allowed_args(canonical: &str) -> &'static [&'static str] {
    match canonical {
        "constant" => &["value"],
        "random_uniform" => &["minval", "maxval"],
        "random_normal" | "truncated_normal" => &["mean", "stddev"],
        "variance_scaling" => &["scale", "mode", "distribution"],
        "orthogonal" | "identity" => &["gain"],
        _ => &[],
    }
}

/// An initializer's argument table, read with errors that name the initializer.
struct InitArgs<'a> {
    ctx: String,
    args: &'a Map<String, Value>,
}

impl InitArgs<'_> {
    fn bad(&self, arg: &str, why: String) -> Error {
        Error::invalid_argument(self.ctx.clone(), arg, why)
    }

    /// Refuse the first argument the initializer does not take.
    fn reject_unknown(&self, allowed: &[&str]) -> Result<()> {
        if let Some(bad) = self.args.keys().find(|k| !allowed.contains(&k.as_str())) {
            let expected = if allowed.is_empty() {
                "it takes no arguments".to_string()
            } else {
                format!("it takes {}", allowed.join(", "))
            };
            let why = if bad == "seed" {
                " (draws come from the model's seed)"
            } else {
                ""
            };
            return Err(self.bad(bad, format!("unknown argument{why}; {expected}")));
        }
        Ok(())
    }

    fn num(&self, k: &str, default: f64) -> Result<f64> {
        match self.args.get(k) {
            None | Some(Value::Null) => Ok(default),
            Some(v) => match v.as_f64() {
                Some(x) if x.is_finite() => Ok(x),
                _ => Err(self.bad(k, format!("must be a finite number, got {v}"))),
            },
        }
    }

    fn text(&self, k: &str, default: &str) -> Result<String> {
        match self.args.get(k) {
            None | Some(Value::Null) => Ok(default.to_string()),
            Some(Value::String(s)) => Ok(s.to_lowercase()),
            Some(v) => Err(self.bad(k, format!("must be a string, got {v}"))),
        }
    }

    fn positive(&self, k: &str, v: f64) -> Result<f64> {
        if v > 0.0 {
            Ok(v)
        } else {
            Err(self.bad(k, format!("must be > 0, got {v}")))
        }
    }

    fn random_uniform(&self) -> Result<Initializer> {
        let (minval, maxval) = (self.num("minval", -0.05)?, self.num("maxval", 0.05)?);
        if minval > maxval {
            return Err(self.bad("minval", format!("{minval} is above maxval {maxval}")));
        }
        Ok(Initializer::RandomUniform {
            minval: minval as f32,
            maxval: maxval as f32,
        })
    }

    /// `random_normal`, or `truncated_normal` when `truncated`.
    fn normal(&self, truncated: bool) -> Result<Initializer> {
        let mean = self.num("mean", 0.0)? as f32;
        let stddev = self.num("stddev", 0.05)?;
        if stddev < 0.0 {
            return Err(self.bad("stddev", format!("must be >= 0, got {stddev}")));
        }
        let stddev = stddev as f32;
        Ok(if truncated {
            Initializer::TruncatedNormal { mean, stddev }
        } else {
            Initializer::RandomNormal { mean, stddev }
        })
    }

    fn variance_scaling(&self) -> Result<Initializer> {
        let scale = self.positive("scale", self.num("scale", 1.0)?)?;
        let mode = match self.text("mode", "fan_in")?.as_str() {
            "fan_in" => FanMode::FanIn,
            "fan_out" => FanMode::FanOut,
            "fan_avg" => FanMode::FanAvg,
            other => {
                return Err(self.bad(
                    "mode",
                    format!("`{other}`; expected fan_in, fan_out or fan_avg"),
                ));
            }
        };
        let distribution = match self.text("distribution", "truncated_normal")?.as_str() {
            "normal" | "truncated_normal" => Distribution::TruncatedNormal,
            "untruncated_normal" => Distribution::UntruncatedNormal,
            "uniform" => Distribution::Uniform,
            other => {
                return Err(self.bad(
                    "distribution",
                    format!(
                        "`{other}`; expected uniform, truncated_normal (or normal) or \
                         untruncated_normal"
                    ),
                ));
            }
        };
        Ok(Initializer::VarianceScaling {
            scale,
            mode,
            distribution,
        })
    }
}

/// Our snake_case names (what we write).
const NAMES: [&str; 15] = [
    "zeros",
    "ones",
    "constant",
    "random_uniform",
    "random_normal",
    "truncated_normal",
    "variance_scaling",
    "glorot_uniform",
    "glorot_normal",
    "he_normal",
    "he_uniform",
    "lecun_normal",
    "lecun_uniform",
    "orthogonal",
    "identity",
];

/// Keras's `ALL_OBJECTS_DICT` keys: class names, their snake_case and the aliases.
fn canonical_name(name: &str) -> Option<&'static str> {
    if let Some(n) = NAMES.iter().find(|n| **n == name) {
        return Some(n);
    }
    Some(match name {
        "Zeros" | "zero" => "zeros",
        "Ones" | "one" => "ones",
        "Constant" => "constant",
        "RandomUniform" | "uniform" => "random_uniform",
        "RandomNormal" | "normal" => "random_normal",
        "TruncatedNormal" => "truncated_normal",
        "VarianceScaling" => "variance_scaling",
        "GlorotUniform" => "glorot_uniform",
        "GlorotNormal" => "glorot_normal",
        "HeNormal" => "he_normal",
        "HeUniform" => "he_uniform",
        "LecunNormal" => "lecun_normal",
        "LecunUniform" => "lecun_uniform",
        "Orthogonal" | "OrthogonalInitializer" => "orthogonal",
        "Identity" | "IdentityInitializer" => "identity",
        _ => return None,
    })
}

/// One written argument; f32 values are written as f32 (shortest digits), as the
/// derived format of earlier versions did, so files stay byte-identical.
#[derive(Clone, Copy)]
enum Arg {
    F32(f32),
    F64(f64),
    Str(&'static str),
}

impl Serialize for Arg {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self {
            Arg::F32(v) => s.serialize_f32(*v),
            Arg::F64(v) => s.serialize_f64(*v),
            Arg::Str(v) => s.serialize_str(v),
        }
    }
}

/// The arguments as a map in their order.
struct Args(Vec<(&'static str, Arg)>);

impl Serialize for Args {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

impl Serialize for Initializer {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let args = self.args();
        if args.is_empty() {
            s.serialize_str(self.name())
        } else {
            let mut m = s.serialize_map(Some(1))?;
            m.serialize_entry(self.name(), &Args(args))?;
            m.end()
        }
    }
}

impl<'de> Deserialize<'de> for Initializer {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        Initializer::from_value(&v).map_err(serde::de::Error::custom)
    }
}

impl Initializer {
    /// Any of the written forms in the module doc.
    pub fn from_value(v: &Value) -> Result<Self> {
        let none = Map::new();
        match v {
            Value::String(name) => Initializer::from_name_and_args(name, &none),
            Value::Object(m) => {
                if let Some(class) = m.get("class_name") {
                    let class = class.as_str().unwrap_or_default();
                    let cfg = match m.get("config") {
                        Some(Value::Object(c)) => c.clone(),
                        _ => Map::new(),
                    };
                    // Keras writes `seed: null` for an unseeded initialiser.
                    let cfg: Map<String, Value> = cfg
                        .into_iter()
                        .filter(|(k, v)| !(k == "seed" && v.is_null()))
                        .collect();
                    return Initializer::from_name_and_args(class, &cfg);
                }
                if let Some(Value::String(t)) = m.get("type") {
                    let mut args = m.clone();
                    args.remove("type");
                    return Initializer::from_name_and_args(t, &args);
                }
                match (m.len(), m.iter().next()) {
                    (1, Some((name, Value::Object(args)))) => {
                        Initializer::from_name_and_args(name, args)
                    }
                    _ => Err(Error::invalid_argument(
                        "initializer",
                        "value",
                        format!(
                            "expected a name, {{name: {{arguments}}}} or {{type = name, \
                             arguments...}}, got {v}"
                        ),
                    )),
                }
            }
            other => Err(Error::invalid_argument(
                "initializer",
                "value",
                format!("expected a name or a table, got {other}"),
            )),
        }
    }
}

/// A standard normal redrawn until it is within two standard deviations (TF's
/// `truncated_normal`).
fn truncated(rng: &mut SeededRng) -> f64 {
    loop {
        let x = rng.normal();
        if x.abs() <= 2.0 {
            return x;
        }
    }
}

fn variance_scaling(
    shape: &[usize],
    scale: f64,
    mode: FanMode,
    distribution: Distribution,
    rng: &mut SeededRng,
) -> Vec<f32> {
    let n: usize = shape.iter().product();
    let (fan_in, fan_out) = compute_fans(shape);
    let fan = match mode {
        FanMode::FanIn => fan_in as f64,
        FanMode::FanOut => fan_out as f64,
        FanMode::FanAvg => (fan_in + fan_out) as f64 / 2.0,
    };
    let scale = scale / fan.max(1.0);
    match distribution {
        Distribution::TruncatedNormal => {
            let stddev = scale.sqrt() / TRUNCATED_STDDEV;
            (0..n).map(|_| (stddev * truncated(rng)) as f32).collect()
        }
        Distribution::UntruncatedNormal => {
            let stddev = scale.sqrt();
            (0..n).map(|_| (stddev * rng.normal()) as f32).collect()
        }
        Distribution::Uniform => {
            let limit = (3.0 * scale).sqrt() as f32;
            (0..n).map(|_| rng.uniform(-limit, limit)).collect()
        }
    }
}

/// Columns per block of the blocked Gram-Schmidt.
const BLOCK: usize = 64;

/// Keras's Orthogonal: flatten to (rows, cols) = (prod(shape[..-1]), shape[-1]); draw a
/// normal matrix of the taller orientation, take Q of its QR decomposition with the sign
/// convention diag(R) > 0 (which Gram-Schmidt yields directly), transpose back, scale
/// by `gain`.
fn orthogonal(shape: &[usize], gain: f32, rng: &mut SeededRng) -> Vec<f32> {
    let n: usize = shape.iter().product();
    if n == 0 {
        return Vec::new();
    }
    let cols = *shape.last().unwrap_or(&1);
    let rows = n / cols.max(1);
    // Work on a tall (big, small) matrix whose `small` columns get orthonormalised.
    let (big, small) = if rows < cols {
        (cols, rows)
    } else {
        (rows, cols)
    };
    // Column-major: column j is q[j*big..(j+1)*big]; drawn column by column as before.
    let mut q: Vec<f64> = (0..big * small).map(|_| rng.normal()).collect();
    orthonormalize_columns(&mut q, big, small);
    let mut out = vec![0.0f32; n];
    if rows < cols {
        // Wide: element (r, c) is q's (c, r), i.e. column r is out's row r.
        for (r, col) in q.chunks_exact(big).enumerate() {
            for (o, &x) in out[r * cols..(r + 1) * cols].iter_mut().zip(col) {
                *o = (x * gain as f64) as f32;
            }
        }
    } else {
        for (c, col) in q.chunks_exact(big).enumerate() {
            for (r, &x) in col.iter().enumerate() {
                out[r * cols + c] = (x * gain as f64) as f32;
            }
        }
    }
    out
}

/// Q of the thin QR of the column-major (m, n) matrix `q` (m >= n), in place, with
/// diag(R) > 0: block classical Gram-Schmidt, each block projected out of the earlier
/// columns twice (BCGS2; one projection loses orthogonality as cond(A)², two keep it
/// at rounding level), the columns inside a block by modified Gram-Schmidt, also twice.
fn orthonormalize_columns(q: &mut [f64], m: usize, n: usize) {
    use rayon::prelude::*;
    debug_assert_eq!(q.len(), m * n);
    for j0 in (0..n).step_by(BLOCK) {
        let w = BLOCK.min(n - j0);
        let (done, rest) = q.split_at_mut(j0 * m);
        let block = &mut rest[..w * m];
        if j0 > 0 {
            // The block's columns are projected independently, in fixed groups of
            // `GROUP` columns on the thread pool: each column's arithmetic is the same
            // whatever the thread count, so the weights are too.
            let done: &[f64] = done;
            block.par_chunks_mut(GROUP * m).for_each(|cols| {
                let g = cols.len() / m;
                let mut c = vec![0.0f64; j0 * g];
                for _ in 0..2 {
                    project_out(done, cols, &mut c, m, j0, g);
                }
            });
        }
        for j in 0..w {
            let (prev, cur) = block.split_at_mut(j * m);
            let cur = &mut cur[..m];
            for _ in 0..2 {
                for p in prev.chunks_exact(m) {
                    let d = dot(p, cur);
                    for (x, y) in cur.iter_mut().zip(p) {
                        *x -= d * y;
                    }
                }
            }
            let norm = dot(cur, cur).sqrt().max(1e-300);
            cur.iter_mut().for_each(|x| *x /= norm);
        }
    }
}

/// Columns per task of the block projection.
const GROUP: usize = 16;

/// `cols -= done · (doneᵀ · cols)`: `done` is (m, k) and `cols` (m, g), column-major;
/// `c` (k·g values) holds doneᵀ · cols.
fn project_out(done: &[f64], cols: &mut [f64], c: &mut [f64], m: usize, k: usize, g: usize) {
    assert!(done.len() >= m * k && cols.len() >= m * g && c.len() >= k * g);
    // SAFETY: `matrixmultiply::dgemm` reads and writes through the raw pointers with
    // the given dimensions and strides only: `done` is (m, k) column-major (row
    // stride 1, column stride m: its last element is (m-1) + (k-1)*m < m*k <=
    // done.len()), `cols` is (m, g) the same way (< m*g <= cols.len()), `c` is (k, g)
    // column-major (< k*g <= c.len()), as asserted above. `cols` and `c` are distinct
    // `&mut` borrows and `done` a shared one, so nothing else reads or writes them
    // during the calls. Exercised by `orthogonal_equals_plain_gram_schmidt`.
    unsafe {
        // c = doneᵀ · cols: doneᵀ is (k, m) with row stride m, column stride 1.
        matrixmultiply::dgemm(
            k,
            m,
            g,
            1.0,
            done.as_ptr(),
            m as isize,
            1,
            cols.as_ptr(),
            1,
            m as isize,
            0.0,
            c.as_mut_ptr(),
            1,
            k as isize,
        );
        // cols -= done · c.
        matrixmultiply::dgemm(
            m,
            k,
            g,
            -1.0,
            done.as_ptr(),
            1,
            m as isize,
            c.as_ptr(),
            1,
            k as isize,
            1.0,
            cols.as_mut_ptr(),
            1,
            m as isize,
        );
    }
}

/// Dot product in four running sums (vectorises; the order is fixed, so the result is
/// reproducible).
fn dot(a: &[f64], b: &[f64]) -> f64 {
    let mut s = [0.0f64; 4];
    let (ca, cb) = (a.chunks_exact(4), b.chunks_exact(4));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for k in 0..4 {
            s[k] += x[k] * y[k];
        }
    }
    let tail: f64 = ra.iter().zip(rb).map(|(x, y)| x * y).sum();
    (s[0] + s[1]) + (s[2] + s[3]) + tail
}

impl std::str::FromStr for Initializer {
    type Err = Error;
    /// A Keras initializer name with default arguments (`"he_normal"`, `"uniform"`).
    fn from_str(s: &str) -> Result<Self> {
        Initializer::from_name_and_args(s, &Map::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn gram_is_identity(w: &ArrayD<f32>, gain: f32, tol: f32) {
        let w = w.clone().into_dimensionality::<ndarray::Ix2>().unwrap();
        let (r, c) = w.dim();
        let g = if r >= c { w.t().dot(&w) } else { w.dot(&w.t()) };
        for i in 0..g.nrows() {
            for j in 0..g.ncols() {
                let want = if i == j { gain * gain } else { 0.0 };
                assert!(
                    (g[[i, j]] - want).abs() < tol,
                    "({r},{c}) g[{i},{j}]={}",
                    g[[i, j]]
                );
            }
        }
    }

    #[test]
    fn orthogonal_is_orthonormal_both_orientations() {
        let mut rng = SeededRng::new(7);
        // Sizes below, at and across the block width, both orientations.
        for &(r, c) in &[
            (8usize, 8usize),
            (8, 32),
            (32, 8),
            (64, 256),
            (300, 130),
            (1, 5),
        ] {
            let w = Initializer::Orthogonal.init(&[r, c], &mut rng);
            gram_is_identity(&w, 1.0, 1e-5);
        }
        let w = Initializer::OrthogonalGain { gain: 2.0 }.init(&[20, 10], &mut rng);
        gram_is_identity(&w, 2.0, 4e-5);
    }

    /// The blocked QR gives the same Q as the plain modified Gram-Schmidt it replaced
    /// (the unique Q with diag(R) > 0), so seeded models keep their weights.
    #[test]
    fn orthogonal_equals_plain_gram_schmidt() {
        for &(big, small) in &[(50usize, 50usize), (200, 150), (97, 3)] {
            let mut rng = SeededRng::new(3);
            let a: Vec<f64> = (0..big * small).map(|_| rng.normal()).collect();
            let mut plain: Vec<Vec<f64>> = a.chunks(big).map(|c| c.to_vec()).collect();
            for j in 0..small {
                for k in 0..j {
                    let (done, rest) = plain.split_at_mut(j);
                    let d: f64 = done[k].iter().zip(&rest[0]).map(|(x, y)| x * y).sum();
                    for (x, y) in rest[0].iter_mut().zip(&done[k]) {
                        *x -= d * y;
                    }
                }
                let norm = plain[j].iter().map(|x| x * x).sum::<f64>().sqrt();
                plain[j].iter_mut().for_each(|x| *x /= norm);
            }
            let mut blocked = a.clone();
            orthonormalize_columns(&mut blocked, big, small);
            let worst = plain
                .concat()
                .iter()
                .zip(&blocked)
                .map(|(x, y)| (x - y).abs())
                .fold(0.0, f64::max);
            assert!(worst < 1e-9, "({big},{small}) worst {worst}");
        }
    }

    /// Time of the recurrent kernel of LSTM(units) (`RECURRENT_UNITS`, default 2000):
    /// `cargo test --release --lib -- --ignored orthogonal_time --nocapture`.
    #[test]
    #[ignore]
    fn orthogonal_time() {
        let units: usize = std::env::var("RECURRENT_UNITS")
            .map(|v| v.parse().unwrap())
            .unwrap_or(2000);
        let mut rng = SeededRng::new(1);
        let t = std::time::Instant::now();
        let w = Initializer::Orthogonal.init(&[units, 4 * units], &mut rng);
        println!(
            "orthogonal ({units}, {}): {:.2} s",
            4 * units,
            t.elapsed().as_secs_f64()
        );
        let w = w.into_dimensionality::<ndarray::Ix2>().unwrap();
        let g = w
            .slice(ndarray::s![..50, ..])
            .dot(&w.slice(ndarray::s![..50, ..]).t());
        for i in 0..50 {
            for j in 0..50 {
                let want = if i == j { 1.0 } else { 0.0 };
                assert!((g[[i, j]] - want).abs() < 1e-5);
            }
        }
    }

    /// The same weights on one thread as on the pool (the grouping is fixed).
    #[test]
    fn orthogonal_does_not_depend_on_the_thread_count() {
        let one = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        let two = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        let run = || Initializer::Orthogonal.init(&[150, 600], &mut SeededRng::new(5));
        assert_eq!(one.install(run), two.install(run));
    }

    #[test]
    fn glorot_respects_limit_and_fans() {
        let mut rng = SeededRng::new(1);
        let w = Initializer::GlorotUniform.init(&[16, 32], &mut rng);
        let limit = (6.0f32 / 48.0).sqrt();
        assert!(w.iter().all(|&x| x.abs() <= limit));
        assert!(w.iter().any(|&x| x.abs() > limit * 0.9));
        assert_eq!(compute_fans(&[16, 32]), (16, 32));
        assert_eq!(compute_fans(&[3, 16, 32]), (48, 96));
    }

    fn mean_std(w: &ArrayD<f32>) -> (f64, f64) {
        let n = w.len() as f64;
        let mean = w.iter().map(|&x| x as f64).sum::<f64>() / n;
        let var = w.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / n;
        (mean, var.sqrt())
    }

    /// Mean and standard deviation of 200 x 300 = 60 000 draws against Keras's
    /// formulas. The standard error of the mean is std/245; of the std about std/346:
    /// the bounds (mean within 4% of std, std within 2%) are over 8 standard errors.
    #[test]
    fn distributions_have_keras_parameters() {
        let shape = [200usize, 300];
        let (fan_in, fan_out, fan_avg) = (200.0f64, 300.0f64, 250.0f64);
        // Truncating N(0, s/0.8796) at two of its own standard deviations leaves std s.
        let cases: Vec<(&str, Initializer, f64, f64, Option<f64>)> = vec![
            ("uniform", "uniform".parse().unwrap(), 0.0, 0.1 / 12f64.sqrt(), Some(0.05)),
            ("normal", "normal".parse().unwrap(), 0.0, 0.05, None),
            (
                "truncated_normal",
                "truncated_normal".parse().unwrap(),
                0.0,
                0.05 * TRUNCATED_STDDEV,
                Some(0.1),
            ),
            ("he_normal", "he_normal".parse().unwrap(), 0.0, (2.0 / fan_in).sqrt(), Some(2.0 * (2.0 / fan_in).sqrt() / TRUNCATED_STDDEV)),
            ("he_uniform", "he_uniform".parse().unwrap(), 0.0, (2.0 / fan_in).sqrt(), Some((6.0 / fan_in).sqrt())),
            ("glorot_normal", "glorot_normal".parse().unwrap(), 0.0, (1.0 / fan_avg).sqrt(), None),
            ("glorot_uniform", "glorot_uniform".parse().unwrap(), 0.0, (1.0 / fan_avg).sqrt(), Some((3.0 / fan_avg).sqrt())),
            ("lecun_normal", "lecun_normal".parse().unwrap(), 0.0, (1.0 / fan_in).sqrt(), None),
            ("lecun_uniform", "lecun_uniform".parse().unwrap(), 0.0, (1.0 / fan_in).sqrt(), Some((3.0 / fan_in).sqrt())),
            (
                "variance_scaling fan_out untruncated",
                Initializer::from_value(&json!({"type": "variance_scaling", "scale": 3.0, "mode": "fan_out", "distribution": "untruncated_normal"})).unwrap(),
                0.0,
                (3.0 / fan_out).sqrt(),
                None,
            ),
            (
                "random_normal mean 1",
                Initializer::from_value(&json!({"random_normal": {"mean": 1.0, "stddev": 0.2}})).unwrap(),
                1.0,
                0.2,
                None,
            ),
        ];
        for (what, init, want_mean, want_std, bound) in cases {
            let mut rng = SeededRng::new(11);
            let w = init.init(&shape, &mut rng);
            let (mean, std) = mean_std(&w);
            assert!(
                (mean - want_mean).abs() < 0.04 * want_std,
                "{what}: mean {mean}, want {want_mean}"
            );
            assert!(
                (std / want_std - 1.0).abs() < 0.02,
                "{what}: std {std}, want {want_std}"
            );
            if let Some(b) = bound {
                let max = w
                    .iter()
                    .map(|&x| (x as f64 - want_mean).abs())
                    .fold(0.0, f64::max);
                assert!(
                    max <= b * (1.0 + 1e-6),
                    "{what}: |x| up to {max}, bound {b}"
                );
                assert!(max > 0.95 * b, "{what}: |x| only up to {max}, bound {b}");
            }
        }
    }

    #[test]
    fn identity_constant_ones_exact() {
        let mut rng = SeededRng::new(0);
        let w = Initializer::from_value(&json!({"identity": {"gain": 3.0}}))
            .unwrap()
            .init(&[3, 4], &mut rng);
        let want = ndarray::arr2(&[
            [3.0f32, 0.0, 0.0, 0.0],
            [0.0, 3.0, 0.0, 0.0],
            [0.0, 0.0, 3.0, 0.0],
        ]);
        assert_eq!(w, want.into_dyn());
        let w = "identity"
            .parse::<Initializer>()
            .unwrap()
            .init(&[4, 2], &mut rng);
        assert_eq!(w.sum(), 2.0);
        assert_eq!((w[[0, 0]], w[[1, 1]], w[[2, 0]]), (1.0, 1.0, 0.0));
        assert!(
            "identity"
                .parse::<Initializer>()
                .unwrap()
                .try_init(&[4], &mut rng)
                .is_err()
        );
        assert!(Initializer::Orthogonal.try_init(&[4], &mut rng).is_err());
        let w = Initializer::from_value(&json!({"type": "constant", "value": 0.25}))
            .unwrap()
            .init(&[5], &mut rng);
        assert!(w.iter().all(|&x| x == 0.25));
        assert!(
            "ones"
                .parse::<Initializer>()
                .unwrap()
                .init(&[2, 2], &mut rng)
                .iter()
                .all(|&x| x == 1.0)
        );
        assert!(
            "Zeros"
                .parse::<Initializer>()
                .unwrap()
                .init(&[2, 2], &mut rng)
                .iter()
                .all(|&x| x == 0.0)
        );
    }

    #[test]
    fn names_args_and_round_trip() {
        for (name, want) in [
            (
                "uniform",
                Initializer::RandomUniform {
                    minval: -0.05,
                    maxval: 0.05,
                },
            ),
            (
                "RandomUniform",
                Initializer::RandomUniform {
                    minval: -0.05,
                    maxval: 0.05,
                },
            ),
            (
                "normal",
                Initializer::RandomNormal {
                    mean: 0.0,
                    stddev: 0.05,
                },
            ),
            ("HeNormal", Initializer::HeNormal),
            ("one", Initializer::Ones),
            ("zero", Initializer::Zeros),
            ("OrthogonalInitializer", Initializer::Orthogonal),
            ("IdentityInitializer", Initializer::Identity { gain: 1.0 }),
            ("constant", Initializer::Constant { value: 0.0 }),
        ] {
            assert_eq!(name.parse::<Initializer>().unwrap(), want, "{name}");
        }
        // Keras's serialised form, as in a .keras config.
        let keras = json!({"module": "keras.initializers", "class_name": "Orthogonal",
            "config": {"gain": 2.0, "seed": null}, "registered_name": null});
        assert_eq!(
            Initializer::from_value(&keras).unwrap(),
            Initializer::OrthogonalGain { gain: 2.0 }
        );
        let vs = json!({"class_name": "VarianceScaling",
            "config": {"scale": 2.0, "mode": "fan_out", "distribution": "normal", "seed": null}});
        assert_eq!(
            Initializer::from_value(&vs).unwrap(),
            Initializer::VarianceScaling {
                scale: 2.0,
                mode: FanMode::FanOut,
                distribution: Distribution::TruncatedNormal
            }
        );
        // Every variant writes and reads back to itself; defaults as a bare name, and
        // the forms earlier versions wrote read the same.
        let all = [
            Initializer::Zeros,
            Initializer::Constant { value: 0.5 },
            Initializer::RandomUniform {
                minval: -0.05,
                maxval: 0.05,
            },
            Initializer::RandomNormal {
                mean: 0.5,
                stddev: 0.05,
            },
            Initializer::TruncatedNormal {
                mean: 0.0,
                stddev: 0.5,
            },
            Initializer::VarianceScaling {
                scale: 2.0,
                mode: FanMode::FanAvg,
                distribution: Distribution::Uniform,
            },
            Initializer::GlorotNormal,
            Initializer::Orthogonal,
            Initializer::OrthogonalGain { gain: 0.5 },
            Initializer::Identity { gain: 1.0 },
        ];
        for i in all {
            let s = serde_json::to_string(&i).unwrap();
            assert_eq!(serde_json::from_str::<Initializer>(&s).unwrap(), i, "{s}");
        }
        assert_eq!(
            serde_json::to_string(&Initializer::Orthogonal).unwrap(),
            "\"orthogonal\""
        );
        assert_eq!(
            serde_json::to_string(&Initializer::RandomUniform {
                minval: -0.05,
                maxval: 0.05
            })
            .unwrap(),
            r#"{"random_uniform":{"minval":-0.05,"maxval":0.05}}"#
        );
        // TOML, as a config writes it.
        #[derive(Deserialize)]
        struct T {
            k: Initializer,
        }
        let t: T = toml::from_str("k = { type = \"he_uniform\" }").unwrap();
        assert_eq!(t.k, Initializer::HeUniform);
        let t: T =
            toml::from_str("k = { random_uniform = { minval = -0.1, maxval = 0.1 } }").unwrap();
        assert_eq!(
            t.k,
            Initializer::RandomUniform {
                minval: -0.1,
                maxval: 0.1
            }
        );
        // Clear errors.
        for (bad, needle) in [
            (json!("he_normall"), "unknown initializer `he_normall`"),
            (json!({"orthogonal": {"gian": 2.0}}), "gian"),
            (
                json!({"class_name": "HeNormal", "config": {"seed": 3}}),
                "seed",
            ),
            (
                json!({"type": "variance_scaling", "mode": "fan_middle"}),
                "fan_middle",
            ),
            (json!({"type": "variance_scaling", "scale": 0.0}), "scale"),
            (
                json!({"random_uniform": {"minval": 1.0, "maxval": 0.0}}),
                "minval",
            ),
            (json!(3), "expected a name"),
        ] {
            let e = Initializer::from_value(&bad).unwrap_err().to_string();
            assert!(e.contains(needle), "{bad}: {e}");
        }
    }
}
