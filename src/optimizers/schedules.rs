//! Keras 3 learning-rate schedules (keras/src/optimizers/schedules), given as an
//! optimizer's `learning_rate`: the optimizer evaluates the schedule at its step count
//! (`optimizer.iterations`, the steps already taken) before every step, as Keras does,
//! for the weight decay and the update alike.
//!
//! Keras evaluates them in float32 (the Python float arguments become float32 tensors),
//! so do we: the values equal TF's to the last bit up to `pow`/`cos` rounding.
//!
//! Written as `learning_rate = { type = "ExponentialDecay", initial_learning_rate = 0.1,
//! decay_steps = 100, decay_rate = 0.96 }` (the class name or its snake_case).

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", deny_unknown_fields)]
pub enum LearningRateSchedule {
    /// `initial_learning_rate * decay_rate ^ (step / decay_steps)` (floored with
    /// `staircase`).
    #[serde(rename = "exponential_decay", alias = "ExponentialDecay")]
    ExponentialDecay {
        initial_learning_rate: f64,
        decay_steps: f64,
        decay_rate: f64,
        #[serde(default)]
        staircase: bool,
    },
    /// Cosine from `initial_learning_rate` down to `alpha` times it over `decay_steps`,
    /// after an optional linear warmup of `warmup_steps` to `warmup_target`.
    #[serde(rename = "cosine_decay", alias = "CosineDecay")]
    CosineDecay {
        initial_learning_rate: f64,
        decay_steps: f64,
        #[serde(default)]
        alpha: f64,
        #[serde(default)]
        warmup_target: Option<f64>,
        #[serde(default)]
        warmup_steps: f64,
    },
    /// `values[0]` while step <= boundaries[0], `values[i]` while
    /// boundaries[i-1] < step <= boundaries[i], `values[-1]` after the last boundary.
    #[serde(rename = "piecewise_constant_decay", alias = "PiecewiseConstantDecay")]
    PiecewiseConstantDecay {
        boundaries: Vec<f64>,
        values: Vec<f64>,
    },
}

impl LearningRateSchedule {
    /// Keras class name.
    pub fn name(&self) -> &'static str {
        match self {
            LearningRateSchedule::ExponentialDecay { .. } => "ExponentialDecay",
            LearningRateSchedule::CosineDecay { .. } => "CosineDecay",
            LearningRateSchedule::PiecewiseConstantDecay { .. } => "PiecewiseConstantDecay",
        }
    }

    /// Keras's checks (decay_steps > 0, one more value than boundaries) plus finiteness
    /// and a non-negative rate at every step.
    pub fn validate(&self) -> Result<()> {
        let ctx = format!("learning_rate schedule {}", self.name());
        let bad = |arg: &str, why: String| Err(Error::invalid_argument(ctx.clone(), arg, why));
        let finite_nonneg = |arg: &str, v: f64| {
            if v.is_finite() && v >= 0.0 {
                Ok(())
            } else {
                bad(arg, format!("must be a finite number >= 0, got {v}"))
            }
        };
        match self {
            LearningRateSchedule::ExponentialDecay {
                initial_learning_rate,
                decay_steps,
                decay_rate,
                ..
            } => {
                finite_nonneg("initial_learning_rate", *initial_learning_rate)?;
                finite_nonneg("decay_rate", *decay_rate)?;
                if !(decay_steps.is_finite() && *decay_steps > 0.0) {
                    return bad("decay_steps", format!("must be > 0, got {decay_steps}"));
                }
                Ok(())
            }
            LearningRateSchedule::CosineDecay {
                initial_learning_rate,
                decay_steps,
                alpha,
                warmup_target,
                warmup_steps,
            } => {
                finite_nonneg("initial_learning_rate", *initial_learning_rate)?;
                if !(decay_steps.is_finite() && *decay_steps > 0.0) {
                    return bad("decay_steps", format!("must be > 0, got {decay_steps}"));
                }
                if !(alpha.is_finite() && (0.0..=1.0).contains(alpha)) {
                    return bad("alpha", format!("must be in [0, 1], got {alpha}"));
                }
                finite_nonneg("warmup_steps", *warmup_steps)?;
                if let Some(t) = warmup_target {
                    finite_nonneg("warmup_target", *t)?;
                    if *warmup_steps == 0.0 {
                        return bad(
                            "warmup_steps",
                            "must be > 0 when warmup_target is set".to_string(),
                        );
                    }
                }
                Ok(())
            }
            LearningRateSchedule::PiecewiseConstantDecay { boundaries, values } => {
                if boundaries.len() + 1 != values.len() {
                    return bad(
                        "values",
                        format!(
                            "needs one more value than boundaries, got {} boundaries and {} \
                             values",
                            boundaries.len(),
                            values.len()
                        ),
                    );
                }
                if let Some(b) = boundaries.iter().find(|b| !b.is_finite()) {
                    return bad("boundaries", format!("must be finite, got {b}"));
                }
                if boundaries.windows(2).any(|w| w[0] > w[1]) {
                    return bad(
                        "boundaries",
                        format!("must be in increasing order, got {boundaries:?}"),
                    );
                }
                for v in values {
                    finite_nonneg("values", *v)?;
                }
                Ok(())
            }
        }
    }

    /// The rate at `step` (steps taken so far), in float32 as Keras computes it.
    pub fn value(&self, step: u64) -> f32 {
        let s = step as f32;
        match self {
            LearningRateSchedule::ExponentialDecay {
                initial_learning_rate,
                decay_steps,
                decay_rate,
                staircase,
            } => {
                let mut p = s / *decay_steps as f32;
                if *staircase {
                    p = p.floor();
                }
                *initial_learning_rate as f32 * (*decay_rate as f32).powf(p)
            }
            LearningRateSchedule::CosineDecay {
                initial_learning_rate,
                decay_steps,
                alpha,
                warmup_target,
                warmup_steps,
            } => {
                let (init, ds, alpha) = (
                    *initial_learning_rate as f32,
                    *decay_steps as f32,
                    *alpha as f32,
                );
                let decay = |step: f32, from: f32| {
                    let fraction = step / ds;
                    let cosine = 0.5 * (1.0 + (std::f32::consts::PI * fraction).cos());
                    from * ((1.0 - alpha) * cosine + alpha)
                };
                match warmup_target {
                    None => decay(s.min(ds), init),
                    Some(target) => {
                        let (target, ws) = (*target as f32, *warmup_steps as f32);
                        let s = s.min(ds + ws);
                        if s < ws {
                            (target - init) * (s / ws) + init
                        } else {
                            decay(s - ws, target)
                        }
                    }
                }
            }
            LearningRateSchedule::PiecewiseConstantDecay { boundaries, values } => {
                let step = step as f64;
                let i = boundaries.iter().take_while(|&&b| step > b).count();
                values[i] as f32
            }
        }
    }

    /// The rate before the first step (what `learning_rate` reads as a number).
    pub fn initial(&self) -> f64 {
        self.value(0) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas() {
        let e = LearningRateSchedule::ExponentialDecay {
            initial_learning_rate: 0.1,
            decay_steps: 10.0,
            decay_rate: 0.5,
            staircase: false,
        };
        assert!((e.value(10) - 0.05).abs() < 1e-8);
        assert!((e.value(5) as f64 - 0.1 * 0.5f64.sqrt()).abs() < 1e-7);
        let st = LearningRateSchedule::ExponentialDecay {
            initial_learning_rate: 0.1,
            decay_steps: 10.0,
            decay_rate: 0.5,
            staircase: true,
        };
        assert_eq!(st.value(9), 0.1);
        assert!((st.value(10) - 0.05).abs() < 1e-8);
        let c = LearningRateSchedule::CosineDecay {
            initial_learning_rate: 1.0,
            decay_steps: 10.0,
            alpha: 0.1,
            warmup_target: None,
            warmup_steps: 0.0,
        };
        assert_eq!(c.value(0), 1.0);
        assert!((c.value(5) - 0.55).abs() < 1e-6);
        assert!((c.value(10) - 0.1).abs() < 1e-6);
        assert!((c.value(50) - 0.1).abs() < 1e-6);
        let w = LearningRateSchedule::CosineDecay {
            initial_learning_rate: 0.0,
            decay_steps: 10.0,
            alpha: 0.0,
            warmup_target: Some(1.0),
            warmup_steps: 4.0,
        };
        assert_eq!(w.value(2), 0.5);
        assert_eq!(w.value(4), 1.0);
        assert!(w.value(14).abs() < 1e-6);
        let p = LearningRateSchedule::PiecewiseConstantDecay {
            boundaries: vec![2.0, 4.0],
            values: vec![1.0, 0.5, 0.1],
        };
        let got: Vec<f32> = (0..6).map(|s| p.value(s)).collect();
        assert_eq!(got, [1.0, 1.0, 1.0, 0.5, 0.5, 0.1]);
    }

    #[test]
    fn names_and_validation() {
        let s: LearningRateSchedule = serde_json::from_str(
            r#"{"type": "ExponentialDecay", "initial_learning_rate": 0.1, "decay_steps": 5,
                "decay_rate": 0.9}"#,
        )
        .unwrap();
        assert_eq!(s.name(), "ExponentialDecay");
        let s: LearningRateSchedule = toml::from_str(
            "type = \"piecewise_constant_decay\"\nboundaries = [10]\nvalues = [0.1, 0.01]",
        )
        .unwrap();
        assert!(s.validate().is_ok());
        let bad = LearningRateSchedule::PiecewiseConstantDecay {
            boundaries: vec![10.0],
            values: vec![0.1],
        };
        assert!(
            bad.validate()
                .unwrap_err()
                .to_string()
                .contains("one more value")
        );
        let bad = LearningRateSchedule::CosineDecay {
            initial_learning_rate: 0.1,
            decay_steps: 0.0,
            alpha: 0.0,
            warmup_target: None,
            warmup_steps: 0.0,
        };
        assert!(
            bad.validate()
                .unwrap_err()
                .to_string()
                .contains("decay_steps")
        );
        assert!(
            serde_json::from_str::<LearningRateSchedule>(
                r#"{"type": "CosineDecay", "initial_learning_rate": 0.1, "decay_step": 5}"#
            )
            .is_err()
        );
    }
}
