//! `[compile]`: optimizer, loss and metrics with Keras's names.

use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

use crate::losses::Loss;
use crate::metrics::Metric;
use crate::optimizers::OptimizerConfig;

/// The `[compile]` table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompileConfig {
    /// `"adam"` (Keras defaults) or a table `{ type = "adam", learning_rate = 1e-3 }`.
    #[serde(deserialize_with = "optimizer_string_or_table")]
    pub optimizer: OptimizerConfig,
    pub loss: Loss,
    #[serde(default)]
    pub metrics: Vec<Metric>,
    /// Keras's `weighted_metrics`: metrics weighted by `[fit] class_weight` (the
    /// `metrics` are not, as in Keras).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub weighted_metrics: Vec<Metric>,
}

/// Accept both Keras spellings: a name with default arguments, or a full table.
fn optimizer_string_or_table<'de, D: Deserializer<'de>>(d: D) -> Result<OptimizerConfig, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = OptimizerConfig;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str(
                "an optimizer name (sgd, rmsprop, adam, adamw, adagrad, nadam) or a table with \
                 `type`",
            )
        }
        fn visit_str<E: de::Error>(self, s: &str) -> Result<OptimizerConfig, E> {
            s.parse::<OptimizerConfig>().map_err(|_| {
                E::unknown_variant(s, &["sgd", "rmsprop", "adam", "adamw", "adagrad", "nadam"])
            })
        }
        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<OptimizerConfig, A::Error> {
            OptimizerConfig::deserialize(de::value::MapAccessDeserializer::new(map))
        }
    }
    d.deserialize_any(V)
}
