//! The training history on disk: JSON (Keras's `history.history` dict plus the epoch
//! numbers) and CSV (as `CSVLogger`: `epoch` then the metrics in sorted order).

use std::path::Path;

use super::atomic::write_atomic;
use crate::error::{Error, Result};
use crate::model::History;

/// Write `history` as pretty JSON.
pub fn write_history_json(history: &History, path: &Path) -> Result<()> {
    let text = serde_json::to_string_pretty(history)
        .map_err(|e| Error::State(format!("cannot serialise the history: {e}")))?;
    write_atomic(path, text.as_bytes())
}

/// Read a history written by `write_history_json` (or a bare Keras
/// `{"loss": [...], ...}` dict as `json.dump(history.history)` writes it).
pub fn read_history_json(path: &Path) -> Result<History> {
    let text = super::read_input_to_string(path)?;
    if let Ok(h) = serde_json::from_str::<History>(&text)
        && !h.history.is_empty()
    {
        return Ok(h);
    }
    let map: std::collections::BTreeMap<String, Vec<f64>> = serde_json::from_str(&text)
        .map_err(|e| {
            Error::format(
                path,
                format!("not a training history (expected {{\"history\": {{...}}}} or {{\"loss\": [...]}}): {e}"),
            )
        })?;
    let n = map.values().map(Vec::len).max().unwrap_or(0);
    Ok(History {
        history: map,
        epoch: (0..n).collect(),
    })
}

/// Write `history` as CSV: `epoch,<metric>...`, one row per epoch (epoch from 0).
pub fn write_history_csv(history: &History, path: &Path) -> Result<()> {
    let keys: Vec<&String> = history.history.keys().collect();
    let mut out = String::from("epoch");
    for k in &keys {
        out.push(',');
        out.push_str(k);
    }
    out.push('\n');
    for (row, epoch) in history.epoch.iter().enumerate() {
        out.push_str(&epoch.to_string());
        for k in &keys {
            out.push(',');
            match history.history[*k].get(row) {
                Some(v) => out.push_str(&v.to_string()),
                None => out.push_str("NA"),
            }
        }
        out.push('\n');
    }
    write_atomic(path, out.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_roundtrip_csv_and_keras_dict() {
        let mut h = History::default();
        h.history.insert("loss".into(), vec![0.5, 0.25]);
        h.history.insert("accuracy".into(), vec![0.75, 0.875]);
        h.epoch = vec![0, 1];
        let dir = tempfile::tempdir().unwrap();
        let j = dir.path().join("h.json");
        write_history_json(&h, &j).unwrap();
        assert_eq!(read_history_json(&j).unwrap(), h);
        let c = dir.path().join("h.csv");
        write_history_csv(&h, &c).unwrap();
        assert_eq!(
            std::fs::read_to_string(&c).unwrap(),
            "epoch,accuracy,loss\n0,0.75,0.5\n1,0.875,0.25\n"
        );
        let k = dir.path().join("keras.json");
        std::fs::write(&k, r#"{"loss": [1.0, 0.5, 0.25]}"#).unwrap();
        assert_eq!(read_history_json(&k).unwrap().epoch, vec![0, 1, 2]);
        std::fs::write(&k, "[1, 2]").unwrap();
        let e = read_history_json(&k).unwrap_err().to_string();
        assert!(
            e.contains("keras.json") && e.contains("not a training history"),
            "{e}"
        );
    }
}
