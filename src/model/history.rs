//! `History`: what `fit` returns, as Keras's `History.history` (one list per metric,
//! keys sorted as Keras 3 reports them: `accuracy`, `loss`, `val_accuracy`, `val_loss`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::callbacks::Logs;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct History {
    /// Per metric name, one value per completed epoch.
    pub history: BTreeMap<String, Vec<f64>>,
    /// The epoch indices (from 0, offset by `initial_epoch`) the values belong to.
    pub epoch: Vec<usize>,
}

impl History {
    pub(crate) fn push(&mut self, epoch: usize, logs: &Logs) {
        self.epoch.push(epoch);
        for (k, v) in logs {
            self.history.entry(k.clone()).or_default().push(*v);
        }
    }

    /// Values of one metric, e.g. `"val_loss"`.
    pub fn get(&self, key: &str) -> Option<&[f64]> {
        self.history.get(key).map(Vec::as_slice)
    }

    pub fn loss(&self) -> &[f64] {
        self.get("loss").unwrap_or(&[])
    }

    /// Number of completed epochs.
    pub fn len(&self) -> usize {
        self.epoch.len()
    }

    pub fn is_empty(&self) -> bool {
        self.epoch.is_empty()
    }
}
