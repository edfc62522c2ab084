//! The on-disk container: one safetensors file holding named f32 tensors plus a
//! string-to-string metadata map (safetensors' `__metadata__`). Other tools
//! (Python's `safetensors`, `huggingface` viewers) can open it; the model-level
//! layout (which tensors, which metadata keys) lives in `model_file.rs`.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use ndarray::{ArrayD, IxDyn};
use safetensors::{Dtype, SafeTensors, tensor::TensorView};

use super::atomic::write_atomic;
use crate::error::{Error, Result};

/// Named tensors (in insertion order) and string metadata, as read from or written to
/// a safetensors file.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TensorFile {
    pub tensors: Vec<(String, ArrayD<f32>)>,
    pub metadata: BTreeMap<String, String>,
}

impl TensorFile {
    /// The tensor called `name`, if present.
    pub fn tensor(&self, name: &str) -> Option<&ArrayD<f32>> {
        self.tensors.iter().find(|(n, _)| n == name).map(|(_, t)| t)
    }

    /// Serialize to bytes (safetensors layout, f32 little-endian).
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let mut seen = std::collections::HashSet::new();
        for (name, _) in &self.tensors {
            if !seen.insert(name.as_str()) {
                return Err(Error::State(format!(
                    "two tensors are named `{name}`; tensor names in a saved file must be unique"
                )));
            }
        }
        let buffers: Vec<(String, Vec<usize>, Vec<u8>)> = self
            .tensors
            .iter()
            .map(|(name, t)| {
                let mut bytes = Vec::with_capacity(t.len() * 4);
                // `iter()` walks in logical (row-major) order whatever the memory layout.
                for v in t.iter() {
                    bytes.extend_from_slice(&v.to_le_bytes());
                }
                (name.clone(), t.shape().to_vec(), bytes)
            })
            .collect();
        let mut views = Vec::with_capacity(buffers.len());
        for (name, shape, bytes) in &buffers {
            let view = TensorView::new(Dtype::F32, shape.clone(), bytes)
                .map_err(|e| Error::State(format!("tensor `{name}`: {e}")))?;
            views.push((name.clone(), view));
        }
        let meta: HashMap<String, String> = self
            .metadata
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        // An empty map must be left out: safetensors cannot read back `{}` metadata.
        let meta = (!meta.is_empty()).then_some(meta);
        safetensors::serialize(views, meta)
            .map_err(|e| Error::State(format!("cannot serialize tensors: {e}")))
    }

    /// Parse bytes read from `path` (the path is only used in error messages).
    pub fn from_bytes(bytes: &[u8], path: &Path) -> Result<Self> {
        let parsed = SafeTensors::deserialize(bytes).map_err(|e| {
            Error::format(
                path,
                format!("not a readable safetensors file (truncated or foreign?): {e}"),
            )
        })?;
        let (_, header) = SafeTensors::read_metadata(bytes)
            .map_err(|e| Error::format(path, format!("bad safetensors header: {e}")))?;
        let metadata: BTreeMap<String, String> = header
            .metadata()
            .as_ref()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default();
        // Keep the file's own order (by data offset) so that reading is deterministic.
        let mut tensors = Vec::new();
        for name in header.offset_keys() {
            let view = parsed
                .tensor(&name)
                .map_err(|e| Error::format(path, format!("tensor `{name}`: {e}")))?;
            if view.dtype() != Dtype::F32 {
                return Err(Error::format(
                    path,
                    format!(
                        "tensor `{name}` has dtype {:?}; only F32 is supported",
                        view.dtype()
                    ),
                ));
            }
            let values: Vec<f32> = view
                .data()
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
            let array = ArrayD::from_shape_vec(IxDyn(view.shape()), values)
                .map_err(|e| Error::format(path, format!("tensor `{name}`: {e}")))?;
            tensors.push((name, array));
        }
        Ok(TensorFile { tensors, metadata })
    }

    /// Write atomically to `path`.
    pub fn write(&self, path: &Path) -> Result<()> {
        let bytes = self.to_bytes()?;
        write_atomic(path, &bytes)
    }

    /// Read from `path`.
    pub fn read(path: &Path) -> Result<Self> {
        let bytes = crate::io::read_input(path)?;
        Self::from_bytes(&bytes, path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    fn sample() -> TensorFile {
        let mut metadata = BTreeMap::new();
        metadata.insert("format".to_string(), "test".to_string());
        TensorFile {
            tensors: vec![
                (
                    "lstm/kernel".into(),
                    array![[1.0f32, -2.5], [3.0, 1e-30]].into_dyn(),
                ),
                ("dense/bias".into(), array![f32::MIN_POSITIVE].into_dyn()),
                (
                    "optimizer/iterations".into(),
                    ArrayD::from_elem(IxDyn(&[]), 7.0),
                ),
            ],
            metadata,
        }
    }

    #[test]
    fn roundtrip_is_bit_exact() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.safetensors");
        let f = sample();
        f.write(&p).unwrap();
        let g = TensorFile::read(&p).unwrap();
        assert_eq!(g.metadata, f.metadata);
        for (name, t) in &f.tensors {
            let u = g.tensor(name).unwrap();
            assert_eq!(t.shape(), u.shape());
            let a: Vec<u32> = t.iter().map(|v| v.to_bits()).collect();
            let b: Vec<u32> = u.iter().map(|v| v.to_bits()).collect();
            assert_eq!(a, b, "{name}");
        }
    }

    #[test]
    fn truncated_and_foreign_files_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("cut.safetensors");
        let bytes = sample().to_bytes().unwrap();
        std::fs::write(&p, &bytes[..bytes.len() - 3]).unwrap();
        let e = TensorFile::read(&p).unwrap_err().to_string();
        assert!(
            e.contains("cut.safetensors") && e.contains("truncated"),
            "{e}"
        );

        let q = dir.path().join("notes.txt");
        std::fs::write(&q, b"hello, this is not a model").unwrap();
        let e = TensorFile::read(&q).unwrap_err().to_string();
        assert!(e.contains("notes.txt"), "{e}");

        let missing = dir.path().join("missing.safetensors");
        let e = TensorFile::read(&missing).unwrap_err().to_string();
        assert!(e.contains("missing.safetensors"), "{e}");
    }

    #[test]
    fn duplicate_names_are_rejected() {
        let mut f = sample();
        f.tensors
            .push(("dense/bias".into(), array![1.0f32].into_dyn()));
        assert!(f.to_bytes().is_err());
    }
}
