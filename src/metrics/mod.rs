//! Metrics as Keras 3 defines them: names, arguments, defaults, the key each is logged
//! under, and stateful accumulation over an epoch (`MetricState`: AUC, precision and
//! F1 from the epoch's confusion counts, the mean metrics from the epoch's totals, not
//! a mean of batch values).
//!
//! Spellings (Keras's `compile_utils.get_metric` and `metrics.get`):
//! - `"accuracy"` / `"acc"` (any case): binary, sparse categorical or categorical
//!   accuracy chosen from the label and output shapes (`AccuracyKind`);
//! - any other string: a Keras class name (`"AUC"`, `"Precision"`), its snake_case
//!   (`"auc"`, `"binary_accuracy"`, `"top_k_categorical_accuracy"`, `"f1_score"`,
//!   `"mean_squared_error"`) or an alias (`"mse"`, `"MSE"`, `"mae"`, `"MAE"`), with
//!   default arguments;
//! - a table `{ type = "AUC", curve = "PR", name = "pr_auc" }`, as Keras's class
//!   instance `AUC(curve="PR", name="pr_auc")`.
//!
//! The logged key is what Keras logs: a string is logged as written (`metrics=["acc"]`
//! logs `acc` and `val_acc`, `"AUC"` logs `AUC`), a table as its `name` or else the
//! class's default name (`auc`, `precision`, `f1_score`, ...). A table of type
//! `accuracy` is the shape-resolved accuracy (Keras's `Accuracy` class, exact equality
//! of values, is not offered).
//!
//! Not supported (refused with an error naming the argument, never ignored): a list of
//! `thresholds`, `top_k` and `class_id` for Precision/Recall, `multi_label` AUC,
//! and F1Score with `average = None` over several classes (Keras
//! logs a vector there; our logs hold numbers).
//!
//! Sample weights: as in Keras, the metrics given to `compile` ignore them; those given
//! as `weighted_metrics` (`Sequential::compile_with_weighted_metrics`) apply them
//! (`MetricState::update_weighted`), logged under `weighted_names`.

mod accuracy;
mod state;

pub use accuracy::AccuracyKind;
pub use state::MetricState;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value, json};

use crate::error::{Error, Result};

/// Which ROC or PR curve `AUC` integrates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AucCurve {
    Roc,
    Pr,
}

/// How `AUC` sums the areas between thresholds (Keras's `summation_method`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AucSummation {
    Interpolation,
    Minoring,
    Majoring,
}

/// F1Score's `average`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum F1Average {
    Micro,
    Macro,
    Weighted,
}

/// What a metric computes, with its Keras arguments.
#[derive(Clone, Debug, PartialEq)]
pub enum MetricKind {
    /// `"accuracy"`: binary, categorical or sparse categorical by the shapes.
    Accuracy,
    /// `mean(y_true == (y_pred > threshold))`; default threshold 0.5.
    BinaryAccuracy {
        threshold: f32,
    },
    /// `argmax(y_true) == argmax(y_pred)`.
    CategoricalAccuracy,
    /// `y_true == argmax(y_pred)`.
    SparseCategoricalAccuracy,
    /// The one-hot label's class among the `k` highest predictions (default 5; ties
    /// at the boundary count as in, as TF's `in_top_k`).
    TopKCategoricalAccuracy {
        k: usize,
    },
    /// The same with class-id labels.
    SparseTopKCategoricalAccuracy {
        k: usize,
    },
    /// tp / (tp + fp) at `y_pred > threshold` (default 0.5), over the epoch.
    Precision {
        threshold: f32,
    },
    /// tp / (tp + fn) at `y_pred > threshold` (default 0.5), over the epoch.
    Recall {
        threshold: f32,
    },
    /// Area under the ROC or PR curve from `num_thresholds` (default 200) evenly
    /// spaced thresholds, over the epoch.
    Auc {
        num_thresholds: usize,
        curve: AucCurve,
        summation_method: AucSummation,
        from_logits: bool,
    },
    /// F1 of the class decisions (`y_pred > threshold`, or the row's maximum without
    /// a threshold), averaged as `average`; over the epoch.
    F1Score {
        average: Option<F1Average>,
        threshold: Option<f32>,
    },
    MeanSquaredError,
    MeanAbsoluteError,
}

impl MetricKind {
    /// The Keras class's default `name`.
    pub fn default_name(&self) -> &'static str {
        match self {
            MetricKind::Accuracy => "accuracy",
            MetricKind::BinaryAccuracy { .. } => "binary_accuracy",
            MetricKind::CategoricalAccuracy => "categorical_accuracy",
            MetricKind::SparseCategoricalAccuracy => "sparse_categorical_accuracy",
            MetricKind::TopKCategoricalAccuracy { .. } => "top_k_categorical_accuracy",
            MetricKind::SparseTopKCategoricalAccuracy { .. } => "sparse_top_k_categorical_accuracy",
            MetricKind::Precision { .. } => "precision",
            MetricKind::Recall { .. } => "recall",
            MetricKind::Auc { .. } => "auc",
            MetricKind::F1Score { .. } => "f1_score",
            MetricKind::MeanSquaredError => "mean_squared_error",
            MetricKind::MeanAbsoluteError => "mean_absolute_error",
        }
    }

    /// The kind with Keras's default arguments for a name `metrics.get` accepts.
    fn from_keras_name(name: &str) -> Option<MetricKind> {
        if matches!(name.to_lowercase().as_str(), "accuracy" | "acc") {
            return Some(MetricKind::Accuracy);
        }
        Some(match name {
            "BinaryAccuracy" | "binary_accuracy" => MetricKind::BinaryAccuracy { threshold: 0.5 },
            "CategoricalAccuracy" | "categorical_accuracy" => MetricKind::CategoricalAccuracy,
            "SparseCategoricalAccuracy" | "sparse_categorical_accuracy" => {
                MetricKind::SparseCategoricalAccuracy
            }
            "TopKCategoricalAccuracy" | "top_k_categorical_accuracy" => {
                MetricKind::TopKCategoricalAccuracy { k: 5 }
            }
            "SparseTopKCategoricalAccuracy" | "sparse_top_k_categorical_accuracy" => {
                MetricKind::SparseTopKCategoricalAccuracy { k: 5 }
            }
            "Precision" | "precision" => MetricKind::Precision { threshold: 0.5 },
            "Recall" | "recall" => MetricKind::Recall { threshold: 0.5 },
            "AUC" | "auc" => MetricKind::Auc {
                num_thresholds: 200,
                curve: AucCurve::Roc,
                summation_method: AucSummation::Interpolation,
                from_logits: false,
            },
            "F1Score" | "f1_score" => MetricKind::F1Score {
                average: None,
                threshold: None,
            },
            "MeanSquaredError" | "mean_squared_error" | "mse" | "MSE" => {
                MetricKind::MeanSquaredError
            }
            "MeanAbsoluteError" | "mean_absolute_error" | "mae" | "MAE" => {
                MetricKind::MeanAbsoluteError
            }
            _ => return None,
        })
    }

    /// Arguments that differ from the defaults, as a table writes them.
    fn args(&self) -> Map<String, Value> {
        let mut m = Map::new();
        match self {
            MetricKind::BinaryAccuracy { threshold } if *threshold != 0.5 => {
                m.insert("threshold".into(), json!(*threshold));
            }
            MetricKind::TopKCategoricalAccuracy { k }
            | MetricKind::SparseTopKCategoricalAccuracy { k }
                if *k != 5 =>
            {
                m.insert("k".into(), json!(k));
            }
            MetricKind::Precision { threshold } | MetricKind::Recall { threshold }
                if *threshold != 0.5 =>
            {
                m.insert("thresholds".into(), json!(*threshold));
            }
            MetricKind::Auc {
                num_thresholds,
                curve,
                summation_method,
                from_logits,
            } => {
                if *num_thresholds != 200 {
                    m.insert("num_thresholds".into(), json!(num_thresholds));
                }
                if *curve == AucCurve::Pr {
                    m.insert("curve".into(), json!("PR"));
                }
                match summation_method {
                    AucSummation::Interpolation => {}
                    AucSummation::Minoring => {
                        m.insert("summation_method".into(), json!("minoring"));
                    }
                    AucSummation::Majoring => {
                        m.insert("summation_method".into(), json!("majoring"));
                    }
                }
                if *from_logits {
                    m.insert("from_logits".into(), json!(true));
                }
            }
            MetricKind::F1Score { average, threshold } => {
                if let Some(a) = average {
                    let a = match a {
                        F1Average::Micro => "micro",
                        F1Average::Macro => "macro",
                        F1Average::Weighted => "weighted",
                    };
                    m.insert("average".into(), json!(a));
                }
                if let Some(t) = threshold {
                    m.insert("threshold".into(), json!(*t));
                }
            }
            _ => {}
        }
        m
    }

    /// The kind from a class name and its arguments (a table without `type`/`name`).
    fn from_name_and_args(type_name: &str, args: &Map<String, Value>) -> Result<MetricKind> {
        let base = MetricKind::from_keras_name(type_name).ok_or_else(|| unknown(type_name))?;
        let a = MetricArgs {
            ctx: format!("metric {type_name}"),
            args,
        };
        a.reject_unknown(allowed_args(&base))?;
        Ok(match base {
            MetricKind::BinaryAccuracy { threshold } => MetricKind::BinaryAccuracy {
                threshold: a.num("threshold")?.map_or(threshold, |t| t as f32),
            },
            MetricKind::TopKCategoricalAccuracy { k } => MetricKind::TopKCategoricalAccuracy {
                k: a.positive_int("k", k, 1)?,
            },
            MetricKind::SparseTopKCategoricalAccuracy { k } => {
                MetricKind::SparseTopKCategoricalAccuracy {
                    k: a.positive_int("k", k, 1)?,
                }
            }
            MetricKind::Precision { threshold } => MetricKind::Precision {
                threshold: a.thresholds_or(threshold)?,
            },
            MetricKind::Recall { threshold } => MetricKind::Recall {
                threshold: a.thresholds_or(threshold)?,
            },
            MetricKind::Auc { .. } => a.auc()?,
            MetricKind::F1Score { .. } => a.f1_score()?,
            other => other,
        })
    }
}

/// The arguments each metric class takes besides `name`.
fn allowed_args(base: &MetricKind) -> &'static [&'static str] {
    match base {
        MetricKind::BinaryAccuracy { .. } => &["threshold"],
        MetricKind::TopKCategoricalAccuracy { .. }
        | MetricKind::SparseTopKCategoricalAccuracy { .. } => &["k"],
        MetricKind::Precision { .. } | MetricKind::Recall { .. } => &["thresholds"],
        MetricKind::Auc { .. } => &["num_thresholds", "curve", "summation_method", "from_logits"],
        MetricKind::F1Score { .. } => &["average", "threshold"],
        _ => &[],
    }
}

/// A metric class's argument table, read with errors that name the metric.
struct MetricArgs<'a> {
    ctx: String,
    args: &'a Map<String, Value>,
}

impl MetricArgs<'_> {
    fn bad(&self, arg: &str, why: String) -> Error {
        Error::invalid_argument(self.ctx.clone(), arg, why)
    }

    /// Refuse the first (non-null) argument the class does not take.
    fn reject_unknown(&self, allowed: &[&str]) -> Result<()> {
        if let Some(bad) = self
            .args
            .iter()
            .find(|(k, v)| !allowed.contains(&k.as_str()) && !v.is_null())
            .map(|(k, _)| k)
        {
            let takes = if allowed.is_empty() {
                "it takes only `name`".to_string()
            } else {
                format!("it takes {} and `name`", allowed.join(", "))
            };
            return Err(Error::invalid_argument(
                self.ctx.clone(),
                bad.clone(),
                format!("not supported; {takes}"),
            ));
        }
        Ok(())
    }

    fn num(&self, k: &str) -> Result<Option<f64>> {
        match self.args.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => match v.as_f64() {
                Some(x) if x.is_finite() => Ok(Some(x)),
                _ => match v {
                    Value::Array(_) => Err(self.bad(
                        k,
                        format!("one threshold only (a number), got the list {v}"),
                    )),
                    _ => Err(self.bad(k, format!("must be a finite number, got {v}"))),
                },
            },
        }
    }

    fn text(&self, k: &str) -> Result<Option<String>> {
        match self.args.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(v) => Err(self.bad(k, format!("must be a string, got {v}"))),
        }
    }

    fn positive_int(&self, k: &str, default: usize, min: usize) -> Result<usize> {
        match self.num(k)? {
            None => Ok(default),
            Some(x) if x.fract() == 0.0 && x >= min as f64 && x <= 1e6 => Ok(x as usize),
            Some(x) => Err(self.bad(
                k,
                format!("must be a whole number from {min} to 1000000, got {x}"),
            )),
        }
    }

    fn unit(&self, k: &str, v: f64, zero_ok: bool) -> Result<f32> {
        if (v > 0.0 || (zero_ok && v == 0.0)) && v <= 1.0 {
            Ok(v as f32)
        } else {
            let range = if zero_ok { "[0, 1]" } else { "(0, 1]" };
            Err(self.bad(k, format!("must be in {range}, got {v}")))
        }
    }

    /// Precision's and Recall's `thresholds` (one, in [0, 1]), else `default`.
    fn thresholds_or(&self, default: f32) -> Result<f32> {
        match self.num("thresholds")? {
            Some(t) => self.unit("thresholds", t, true),
            None => Ok(default),
        }
    }

    fn auc(&self) -> Result<MetricKind> {
        Ok(MetricKind::Auc {
            num_thresholds: self.positive_int("num_thresholds", 200, 2)?,
            curve: match self.text("curve")?.map(|s| s.to_uppercase()).as_deref() {
                None | Some("ROC") => AucCurve::Roc,
                Some("PR") => AucCurve::Pr,
                Some(other) => {
                    return Err(self.bad("curve", format!("`{other}`; expected ROC or PR")));
                }
            },
            summation_method: match self
                .text("summation_method")?
                .map(|s| s.to_lowercase())
                .as_deref()
            {
                None | Some("interpolation") => AucSummation::Interpolation,
                Some("minoring") => AucSummation::Minoring,
                Some("majoring") => AucSummation::Majoring,
                Some(other) => {
                    return Err(self.bad(
                        "summation_method",
                        format!("`{other}`; expected interpolation, minoring or majoring"),
                    ));
                }
            },
            from_logits: match self.args.get("from_logits") {
                None | Some(Value::Null) => false,
                Some(Value::Bool(b)) => *b,
                Some(v) => {
                    return Err(self.bad("from_logits", format!("must be true or false, got {v}")));
                }
            },
        })
    }

    fn f1_score(&self) -> Result<MetricKind> {
        Ok(MetricKind::F1Score {
            average: match self.text("average")?.as_deref() {
                None => None,
                Some("micro") => Some(F1Average::Micro),
                Some("macro") => Some(F1Average::Macro),
                Some("weighted") => Some(F1Average::Weighted),
                Some(other) => {
                    return Err(self.bad(
                        "average",
                        format!("`{other}`; expected micro, macro or weighted (or none)"),
                    ));
                }
            },
            threshold: match self.num("threshold")? {
                Some(t) => Some(self.unit("threshold", t, false)?),
                None => None,
            },
        })
    }
}

fn unknown(name: &str) -> Error {
    Error::invalid_argument(
        "compile",
        "metrics",
        format!(
            "unknown metric `{name}`; expected accuracy (acc), binary_accuracy, \
             categorical_accuracy, sparse_categorical_accuracy, top_k_categorical_accuracy, \
             sparse_top_k_categorical_accuracy, precision, recall, auc, f1_score, \
             mean_squared_error (mse) or mean_absolute_error (mae), or their Keras class \
             names"
        ),
    )
}

/// A metric and the key it is logged under.
#[derive(Clone, Debug, PartialEq)]
pub enum Metric {
    /// `"accuracy"`, logged as `accuracy`.
    Accuracy,
    /// Any metric with its logged name (`"acc"` is `Named { Accuracy, "acc" }`).
    Named { kind: MetricKind, name: String },
}

impl Metric {
    /// A metric with the Keras class's default name (as a class instance is logged).
    pub fn new(kind: MetricKind) -> Self {
        let name = kind.default_name().to_string();
        Metric::Named { kind, name }.normalized()
    }

    /// The same metric logged as `name` (Keras's `name=` argument).
    pub fn with_name(self, name: impl Into<String>) -> Self {
        Metric::Named {
            kind: self.kind().clone(),
            name: name.into(),
        }
        .normalized()
    }

    /// `Named { Accuracy, "accuracy" }` is `Accuracy` (one value, one spelling).
    fn normalized(self) -> Self {
        match self {
            Metric::Named {
                kind: MetricKind::Accuracy,
                ref name,
            } if name == "accuracy" => Metric::Accuracy,
            other => other,
        }
    }

    /// The key in logs and `History` (Keras uses the spelling given to `compile`, or
    /// the instance's `name`).
    pub fn name(&self) -> &str {
        match self {
            Metric::Accuracy => "accuracy",
            Metric::Named { name, .. } => name,
        }
    }

    pub fn kind(&self) -> &MetricKind {
        static ACCURACY: MetricKind = MetricKind::Accuracy;
        match self {
            Metric::Accuracy => &ACCURACY,
            Metric::Named { kind, .. } => kind,
        }
    }

    /// A fresh accumulator; `accuracy` is the kind `"accuracy"` resolves to for this
    /// dataset (`AccuracyKind::select`).
    pub fn state(&self, accuracy: AccuracyKind) -> MetricState {
        MetricState::new(self.kind(), accuracy)
    }

    /// Any written form: a name, or a table with `type` (or Keras's `class_name` with
    /// `config`), the arguments and an optional `name`.
    pub fn from_value(v: &Value) -> Result<Self> {
        match v {
            Value::String(s) => s.parse(),
            Value::Object(m) => {
                let (type_name, mut args) = if let Some(class) = m.get("class_name") {
                    let cfg = match m.get("config") {
                        Some(Value::Object(c)) => c.clone(),
                        _ => Map::new(),
                    };
                    (class.as_str().unwrap_or_default().to_string(), cfg)
                } else {
                    let mut args = m.clone();
                    let t = match args.remove("type") {
                        Some(Value::String(t)) => t,
                        _ => {
                            return Err(Error::invalid_argument(
                                "compile",
                                "metrics",
                                format!("a metric table needs `type` (a metric name), got {v}"),
                            ));
                        }
                    };
                    (t, args)
                };
                // Keras's config fields that change nothing here (a `.keras` compile
                // config writes them all), and defaults we match.
                args.remove("dtype");
                for default_off in ["multi_label", "from_sorted_ids"] {
                    if args.get(default_off) == Some(&Value::Bool(false)) {
                        args.remove(default_off);
                    }
                }
                let name = match args.remove("name") {
                    None | Some(Value::Null) => None,
                    Some(Value::String(n)) if !n.is_empty() => Some(n),
                    Some(other) => {
                        return Err(Error::invalid_argument(
                            format!("metric {type_name}"),
                            "name",
                            format!("must be a non-empty string, got {other}"),
                        ));
                    }
                };
                let kind = MetricKind::from_name_and_args(&type_name, &args)?;
                let m = Metric::new(kind);
                Ok(match name {
                    Some(n) => m.with_name(n),
                    None => m,
                })
            }
            other => Err(Error::invalid_argument(
                "compile",
                "metrics",
                format!("expected a metric name or a table, got {other}"),
            )),
        }
    }
}

impl std::str::FromStr for Metric {
    type Err = Error;
    /// A Keras metric string, logged as written.
    fn from_str(s: &str) -> Result<Self> {
        let kind = MetricKind::from_keras_name(s).ok_or_else(|| unknown(s))?;
        Ok(Metric::Named {
            kind,
            name: s.to_string(),
        }
        .normalized())
    }
}

impl Serialize for Metric {
    /// A string where one reads back to the same metric, else a table with `type`,
    /// the non-default arguments and `name`.
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let name = self.name();
        if name.parse::<Metric>().ok().as_ref() == Some(self) {
            return s.serialize_str(name);
        }
        let kind = self.kind();
        let mut m = Map::new();
        m.insert("type".into(), json!(kind.default_name()));
        m.extend(kind.args());
        m.insert("name".into(), json!(name));
        Value::Object(m).serialize(s)
    }
}

impl<'de> Deserialize<'de> for Metric {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        Metric::from_value(&v).map_err(serde::de::Error::custom)
    }
}

/// The logged names of `metrics` made unique as Keras makes them (`auc`, `auc_1`):
/// the first keeps its name, later ones with a taken name get the next free suffix.
pub fn unique_names(metrics: &[Metric]) -> Vec<Metric> {
    let mut out: Vec<Metric> = Vec::new();
    for m in metrics {
        if out.contains(m) {
            continue;
        }
        let taken = |n: &str, out: &[Metric]| n == "loss" || out.iter().any(|o| o.name() == n);
        let m = if taken(m.name(), &out) {
            let base = m.name().to_string();
            let mut i = 1;
            while taken(&format!("{base}_{i}"), &out) {
                i += 1;
            }
            m.clone().with_name(format!("{base}_{i}"))
        } else {
            m.clone()
        };
        out.push(m);
    }
    out
}

/// The logged names of `weighted_metrics` beside `metrics` (already unique), as Keras's
/// `CompileMetrics.result` names them: a weighted metric keeps its name unless a
/// metric (or an earlier weighted one) took it; then it is `weighted_<name>`, with
/// `_1`, `_2` ... if that is taken too.
pub fn weighted_names(metrics: &[Metric], weighted: &[Metric]) -> Vec<Metric> {
    let mut taken: Vec<String> = metrics.iter().map(|m| m.name().to_string()).collect();
    taken.push("loss".to_string());
    let mut out = Vec::new();
    for m in weighted {
        let mut name = m.name().to_string();
        if taken.contains(&name) {
            let base = format!("weighted_{name}");
            name = base.clone();
            let mut i = 1;
            while taken.contains(&name) {
                name = format!("{base}_{i}");
                i += 1;
            }
        }
        taken.push(name.clone());
        out.push(if name == m.name() {
            m.clone()
        } else {
            m.clone().with_name(name)
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_keras_logs() {
        assert_eq!("accuracy".parse::<Metric>().unwrap(), Metric::Accuracy);
        let acc = "acc".parse::<Metric>().unwrap();
        assert_eq!(acc.name(), "acc");
        assert_eq!(acc.kind(), &MetricKind::Accuracy);
        assert_eq!("Accuracy".parse::<Metric>().unwrap().name(), "Accuracy");
        let auc = "AUC".parse::<Metric>().unwrap();
        assert_eq!(auc.name(), "AUC");
        assert!(matches!(
            auc.kind(),
            MetricKind::Auc {
                num_thresholds: 200,
                ..
            }
        ));
        assert_eq!("auc".parse::<Metric>().unwrap().name(), "auc");
        assert_eq!(
            "mse".parse::<Metric>().unwrap().kind(),
            &MetricKind::MeanSquaredError
        );
        assert_eq!("MAE".parse::<Metric>().unwrap().name(), "MAE");
        let e = "aucc".parse::<Metric>().unwrap_err().to_string();
        assert!(e.contains("unknown metric `aucc`"), "{e}");
        // Instances: the class's default name or `name`.
        let m = Metric::from_value(&json!({"type": "AUC", "curve": "PR"})).unwrap();
        assert_eq!(m.name(), "auc");
        let m = Metric::from_value(&json!({"type": "Precision", "name": "p"})).unwrap();
        assert_eq!(m.name(), "p");
        let m = Metric::from_value(&json!({"type": "TopKCategoricalAccuracy", "k": 2})).unwrap();
        assert_eq!(m.name(), "top_k_categorical_accuracy");
        assert_eq!(m.kind(), &MetricKind::TopKCategoricalAccuracy { k: 2 });
        let m = Metric::from_value(&json!({"type": "accuracy"})).unwrap();
        assert_eq!(m, Metric::Accuracy);
    }

    #[test]
    fn written_forms_round_trip() {
        let all = [
            Metric::Accuracy,
            "acc".parse().unwrap(),
            "AUC".parse().unwrap(),
            "mse".parse().unwrap(),
            Metric::new(MetricKind::Precision { threshold: 0.3 }),
            Metric::new(MetricKind::F1Score {
                average: Some(F1Average::Macro),
                threshold: None,
            })
            .with_name("f1"),
            Metric::from_value(&json!({"type": "AUC", "curve": "PR", "summation_method": "minoring", "num_thresholds": 50, "from_logits": true})).unwrap(),
            Metric::new(MetricKind::SparseTopKCategoricalAccuracy { k: 3 }),
            Metric::new(MetricKind::BinaryAccuracy { threshold: 0.7 }),
        ];
        for m in all {
            let s = serde_json::to_string(&m).unwrap();
            assert_eq!(serde_json::from_str::<Metric>(&s).unwrap(), m, "{s}");
        }
        assert_eq!(
            serde_json::to_string(&Metric::Accuracy).unwrap(),
            "\"accuracy\""
        );
        #[derive(Deserialize)]
        struct T {
            metrics: Vec<Metric>,
        }
        let t: T = toml::from_str(
            "metrics = [\"acc\", { type = \"AUC\", curve = \"PR\", name = \"pr_auc\" }]",
        )
        .unwrap();
        assert_eq!(t.metrics[0].name(), "acc");
        assert_eq!(t.metrics[1].name(), "pr_auc");
        // Keras's serialised instance (a .keras compile_config).
        let k = json!({"module": "keras.metrics", "class_name": "AUC",
            "config": {"name": "auc", "dtype": "float32", "num_thresholds": 200, "curve": "ROC",
                       "summation_method": "interpolation", "multi_label": false,
                       "num_labels": null, "label_weights": null, "from_logits": false}});
        assert_eq!(Metric::from_value(&k).unwrap(), "auc".parse().unwrap());
        let mut k = k;
        k["config"]["multi_label"] = json!(true);
        let e = Metric::from_value(&k).unwrap_err().to_string();
        assert!(e.contains("multi_label"), "{e}");
    }

    #[test]
    fn bad_arguments_are_named() {
        for (v, needle) in [
            (
                json!({"type": "Precision", "thresholds": [0.3, 0.5]}),
                "one threshold",
            ),
            (json!({"type": "Precision", "top_k": 2}), "top_k"),
            (json!({"type": "AUC", "curve": "PRGAIN"}), "PRGAIN"),
            (
                json!({"type": "AUC", "num_thresholds": 1}),
                "num_thresholds",
            ),
            (json!({"type": "F1Score", "average": "samples"}), "samples"),
            (json!({"type": "F1Score", "threshold": 0.0}), "threshold"),
            (json!({"type": "TopKCategoricalAccuracy", "k": 0}), "k"),
            (json!({"curve": "PR"}), "needs `type`"),
            (json!({"type": "mse", "name": ""}), "name"),
        ] {
            let e = Metric::from_value(&v).unwrap_err().to_string();
            assert!(e.contains(needle), "{v}: {e}");
        }
    }

    #[test]
    fn duplicate_names_get_keras_suffixes() {
        let ms = [
            Metric::from_value(&json!({"type": "AUC"})).unwrap(),
            Metric::from_value(&json!({"type": "AUC", "curve": "PR"})).unwrap(),
            Metric::from_value(&json!({"type": "AUC"})).unwrap(),
            Metric::Accuracy,
        ];
        let names: Vec<String> = unique_names(&ms)
            .iter()
            .map(|m| m.name().to_string())
            .collect();
        assert_eq!(names, ["auc", "auc_1", "accuracy"]);
    }
}
