//! Helpers shared by integration tests: reading the JSON parity fixtures written by
//! tests/fixtures/make_parity.py and measuring how far our arrays are from them.
#![allow(dead_code)] // each test binary uses a different subset

use std::path::{Path, PathBuf};

use ndarray::{Array2, ArrayD, IxDyn};
use serde_json::Value;

pub fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/parity")
}

/// All fixtures whose `"kind"` is `kind`, sorted by case name.
pub fn fixtures(kind: &str) -> Vec<Value> {
    let dir = fixture_dir();
    let mut out = Vec::new();
    let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("directory entry").path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let v: Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        if v["kind"] == kind {
            out.push(v);
        }
    }
    out.sort_by(|a, b| a["case"].as_str().cmp(&b["case"].as_str()));
    out
}

fn shape(v: &Value) -> Vec<usize> {
    v["shape"]
        .as_array()
        .expect("array shape")
        .iter()
        .map(|d| d.as_u64().expect("dimension") as usize)
        .collect()
}

/// A float fixture array (float32 or float64 data) as f64, to compare without rounding.
pub fn array_f64(v: &Value) -> ArrayD<f64> {
    let data: Vec<f64> = v["data"]
        .as_array()
        .expect("array data")
        .iter()
        .map(|x| x.as_f64().expect("finite number"))
        .collect();
    ArrayD::from_shape_vec(IxDyn(&shape(v)), data).expect("data matches shape")
}

/// A float32 fixture array. The JSON holds each value's shortest float32 decimal, so
/// the f64 -> f32 cast gives back the exact value Keras used.
pub fn array_f32(v: &Value) -> ArrayD<f32> {
    array_f64(v).mapv(|x| x as f32)
}

/// An int32 fixture array of rank 2 (token ids, batch x time).
pub fn ids(v: &Value) -> Array2<i32> {
    assert_eq!(v["dtype"], "int32");
    let data: Vec<i32> = v["data"]
        .as_array()
        .expect("array data")
        .iter()
        .map(|x| x.as_i64().expect("integer") as i32)
        .collect();
    let s = shape(v);
    assert_eq!(s.len(), 2, "token ids must be (batch, time)");
    Array2::from_shape_vec((s[0], s[1]), data).expect("data matches shape")
}

/// max|ours - reference| / max(max|reference|, 1e-6): relative to the array's scale, so
/// elements near zero do not blow it up. Panics on a shape mismatch.
pub fn rel_err(ours: &ArrayD<f32>, reference: &ArrayD<f64>, what: &str) -> f64 {
    assert_eq!(
        ours.shape(),
        reference.shape(),
        "{what}: shape differs from the fixture"
    );
    let mut diff = 0.0f64;
    let mut scale = 0.0f64;
    for (&a, &b) in ours.iter().zip(reference.iter()) {
        let d = (a as f64 - b).abs();
        // NaN in ours must fail, not be swallowed by max().
        diff = if d.is_nan() {
            f64::INFINITY
        } else {
            diff.max(d)
        };
        scale = scale.max(b.abs());
    }
    diff / scale.max(1e-6)
}

/// Collects per-array errors of one case and remembers the worst.
pub struct CaseErrors {
    pub case: String,
    pub worst: f64,
    pub worst_what: String,
    pub failures: Vec<String>,
    pub tol: f64,
}

impl CaseErrors {
    pub fn new(case: &str, tol: f64) -> Self {
        CaseErrors {
            case: case.to_string(),
            worst: 0.0,
            worst_what: String::new(),
            failures: Vec::new(),
            tol,
        }
    }

    /// Record one comparison; over `tol` is a failure.
    pub fn check(&mut self, what: &str, err: f64) {
        if err > self.worst || self.worst_what.is_empty() {
            self.worst = err;
            self.worst_what = what.to_string();
        }
        if err.is_nan() || err > self.tol {
            self.failures.push(format!(
                "{}: {what} rel err {err:.3e} > {:.0e}",
                self.case, self.tol
            ));
        }
    }

    pub fn fail(&mut self, msg: String) {
        self.failures.push(format!("{}: {msg}", self.case));
    }
}
