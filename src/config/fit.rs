//! `[fit]`: the arguments of `model.fit`.

use serde::{Deserialize, Serialize};

use std::collections::BTreeMap;

use super::callbacks::CallbackConfig;
use crate::model::ClassWeight;

fn default_epochs() -> usize {
    1
}
fn default_batch_size() -> usize {
    32
}
fn default_verbose() -> u8 {
    1
}
fn default_true() -> bool {
    true
}

/// The `[fit]` table (Keras defaults: 1 epoch, batch 32, verbose 1, shuffle).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FitConfig {
    #[serde(default = "default_epochs")]
    pub epochs: usize,
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
    /// 0, 1, 2 or `"auto"` (read as 1, see `super::verbose_or_auto`).
    #[serde(
        default = "default_verbose",
        deserialize_with = "super::verbose_or_auto"
    )]
    pub verbose: u8,
    #[serde(default = "default_true")]
    pub shuffle: bool,
    /// Keras's place for it; `[data] validation_split` is the same setting.
    #[serde(default)]
    pub validation_split: Option<f64>,
    #[serde(default)]
    pub initial_epoch: usize,
    #[serde(default)]
    pub callbacks: Vec<CallbackConfig>,
    /// Keras's `class_weight`: `{ "0" = 1.0, "1" = 3.0 }` (TOML keys are strings; each
    /// must be a class index). Classes not named weigh 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class_weight: Option<BTreeMap<String, f64>>,
}

impl FitConfig {
    /// `class_weight` as the library takes it; an error says which key or value is
    /// wrong.
    pub fn class_weights(&self) -> Result<Option<ClassWeight>, String> {
        let Some(table) = &self.class_weight else {
            return Ok(None);
        };
        if table.is_empty() {
            return Err("is empty; name at least one class, or leave it out".into());
        }
        let mut out = ClassWeight::new();
        for (key, &w) in table {
            let class: usize = key
                .trim()
                .parse()
                .map_err(|_| format!("key \"{key}\" is not a class index (0, 1, 2, ...)"))?;
            if !w.is_finite() || w < 0.0 || w > f32::MAX as f64 {
                return Err(format!(
                    "the weight of class {class} is {w}; weights must be finite and >= 0"
                ));
            }
            if out.insert(class, w as f32).is_some() {
                return Err(format!("class {class} is named twice"));
            }
        }
        Ok(Some(out))
    }
}

impl Default for FitConfig {
    fn default() -> Self {
        FitConfig {
            epochs: default_epochs(),
            batch_size: default_batch_size(),
            verbose: default_verbose(),
            shuffle: true,
            validation_split: None,
            initial_epoch: 0,
            callbacks: Vec::new(),
            class_weight: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(toml_text: &str) -> Result<Option<ClassWeight>, String> {
        let c: FitConfig = toml::from_str(toml_text).map_err(|e| e.to_string())?;
        c.class_weights()
    }

    #[test]
    fn class_weight_table() {
        assert_eq!(parse("epochs = 2").unwrap(), None);
        let cw = parse(r#"class_weight = { "0" = 1.0, "1" = 3 }"#)
            .unwrap()
            .unwrap();
        assert_eq!(cw, ClassWeight::from([(0, 1.0), (1, 3.0)]));
        for (text, want) in [
            (
                r#"class_weight = { "a" = 1.0 }"#,
                "key \"a\" is not a class index",
            ),
            (r#"class_weight = { "-1" = 1.0 }"#, "key \"-1\""),
            (r#"class_weight = { "1" = -2.0 }"#, "class 1 is -2"),
            (r#"class_weight = { "1" = nan }"#, "class 1 is NaN"),
            (
                r#"class_weight = { "1" = 1.0, "01" = 2.0 }"#,
                "class 1 is named twice",
            ),
            ("class_weight = {}", "is empty"),
        ] {
            let e = parse(text).unwrap_err();
            assert!(e.contains(want), "{text}: {e}");
        }
    }
}
