//! What the Keras `.keras` and `.h5` loaders share about HDF5: opening a file held in
//! memory, reading string attributes and float weights with their shapes checked, and
//! containing the `hdf5-reader` crate. It is hardened against malformed input, but a
//! panic inside it on a crafted file must still become a format error, not a crash: every
//! call into it goes through `guarded`.

use std::cell::Cell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Once;

use hdf5_reader::group::Group;
use hdf5_reader::{Attribute, Hdf5File};
use ndarray::{ArrayD, IxDyn};

/// Errors here are plain messages; the loaders add the file's path.
pub(crate) type H5Result<T> = std::result::Result<T, String>;

/// The 8-byte HDF5 format signature.
pub const HDF5_SIGNATURE: &[u8; 8] = b"\x89HDF\r\n\x1a\n";

/// Whether `bytes` is an HDF5 file: the signature at offset 0, or after a user block
/// (offsets 512, 1024, 2048, ...).
pub fn is_hdf5(bytes: &[u8]) -> bool {
    let mut at = 0usize;
    loop {
        match bytes.get(at..at + 8) {
            Some(s) if s == HDF5_SIGNATURE => return true,
            Some(_) => at = if at == 0 { 512 } else { at * 2 },
            None => return false,
        }
    }
}

thread_local! {
    static IN_GUARD: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f` (calls into `hdf5-reader`), turning a panic into an error. The panic
/// message is not printed: the error carries it.
pub(crate) fn guarded<T>(what: &str, f: impl FnOnce() -> H5Result<T>) -> H5Result<T> {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !IN_GUARD.with(Cell::get) {
                previous(info);
            }
        }));
    });
    let was = IN_GUARD.with(|g| g.replace(true));
    let result = catch_unwind(AssertUnwindSafe(f));
    IN_GUARD.with(|g| g.set(was));
    result.unwrap_or_else(|payload| {
        let msg = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown".into());
        Err(format!(
            "{what}: malformed HDF5 data (the HDF5 reader failed: {msg})"
        ))
    })
}

/// Opens HDF5 bytes; `what` names them in errors (`model.weights.h5`, `the file`).
pub(crate) fn open(bytes: &[u8], what: &str) -> H5Result<Hdf5File> {
    let h5 = guarded(what, || {
        Hdf5File::from_bytes(bytes).map_err(|e| format!("{what} is not readable HDF5: {e}"))
    })?;
    // The superblock records where the file ends: a shorter file lost its tail.
    let sb = h5.superblock();
    let end = sb.base_address.saturating_add(sb.eof_address);
    if end > bytes.len() as u64 {
        return Err(format!(
            "{what} is truncated: it has {} bytes, its HDF5 superblock says {end}",
            bytes.len()
        ));
    }
    Ok(h5)
}

/// A group by path (`model_weights/lstm`).
pub(crate) fn group(h5: &Hdf5File, path: &str) -> H5Result<Group> {
    guarded(path, || {
        h5.group(path)
            .map_err(|e| format!("no HDF5 group `{path}`: {e}"))
    })
}

/// Whether `group` has an attribute `name`.
pub(crate) fn has_attribute(group: &Group, name: &str) -> H5Result<bool> {
    guarded(name, || {
        Ok(group
            .attributes()
            .map_err(|e| format!("reading the attributes of `{}`: {e}", group.name()))?
            .iter()
            .any(|a| a.name == name))
    })
}

/// Whether `group` has a member (group or dataset) called `name`.
pub(crate) fn has_member(group: &Group, name: &str) -> H5Result<bool> {
    guarded(name, || {
        let (groups, datasets) = group
            .member_names()
            .map_err(|e| format!("listing `{}`: {e}", group.name()))?;
        Ok(groups.iter().chain(&datasets).any(|n| n == name))
    })
}

/// A string-array attribute as h5py writes it (fixed-length or variable-length
/// strings; an empty list is stored as an empty float64 array). Keras splits long
/// lists into `name0`, `name1`, ... (`save_attributes_to_hdf5_group`); those are joined.
/// `None` when the attribute is absent.
pub(crate) fn string_list(group: &Group, name: &str) -> H5Result<Option<Vec<String>>> {
    guarded(name, || {
        let attrs = group
            .attributes()
            .map_err(|e| format!("reading the attributes of `{}`: {e}", group.name()))?;
        if let Some(a) = attrs.iter().find(|a| a.name == name) {
            return strings(group, a).map(Some);
        }
        let mut out = Vec::new();
        let mut found = false;
        for chunk in 0.. {
            let Some(a) = attrs.iter().find(|a| a.name == format!("{name}{chunk}")) else {
                break;
            };
            found = true;
            out.extend(strings(group, a)?);
        }
        Ok(found.then_some(out))
    })
}

/// One string attribute (`model_config`); `None` when absent.
pub(crate) fn string_attribute(group: &Group, name: &str) -> H5Result<Option<String>> {
    match string_list(group, name)? {
        None => Ok(None),
        Some(v) if v.len() == 1 => Ok(v.into_iter().next()),
        Some(v) => Err(format!(
            "attribute `{name}` holds {} strings, expected one",
            v.len()
        )),
    }
}

fn strings(group: &Group, a: &Attribute) -> H5Result<Vec<String>> {
    let n = a
        .num_elements()
        .map_err(|e| format!("attribute `{}`: {e}", a.name))?;
    if n == 0 {
        return Ok(Vec::new());
    }
    let fixed = a.read_strings();
    match fixed {
        Ok(v) => Ok(v),
        Err(_) => {
            let data = group
                .file_data()
                .map_err(|e| format!("attribute `{}`: {e}", a.name))?;
            a.read_vlen_strings(&data, group.offset_size())
                .map_err(|e| format!("attribute `{}` is not a list of strings: {e}", a.name))
        }
    }
}

/// Reads the float dataset at `at` (float32, or float64 rounded to float32), which must
/// have `shape`; `owner` names the weight it is for (`lstm/kernel`), `file` the HDF5
/// file inside an archive (`model.weights.h5`, or empty).
pub(crate) fn read_weight(
    h5: &Hdf5File,
    file: &str,
    at: &str,
    shape: &[usize],
    owner: &str,
) -> H5Result<ArrayD<f32>> {
    let file = if file.is_empty() {
        String::new()
    } else {
        format!("{file}: ")
    };
    guarded(at, || {
        let ds = h5
            .dataset(at)
            .map_err(|e| format!("{file}no dataset {at} for weight `{owner}`: {e}"))?;
        let found: Vec<usize> = ds.shape().iter().map(|&d| d as usize).collect();
        if found != shape {
            return Err(format!(
                "{file}{at} has shape {found:?}, but weight `{owner}` is {shape:?}"
            ));
        }
        let n: usize = shape.iter().product();
        let mut data = vec![0.0f32; n];
        if let Err(e32) = ds.read_into(&mut data) {
            let mut wide = vec![0.0f64; n];
            ds.read_into(&mut wide)
                .map_err(|_| format!("{file}reading {at} as float32 (or float64): {e32}"))?;
            data = wide.into_iter().map(|v| v as f32).collect();
        }
        ArrayD::from_shape_vec(IxDyn(shape), data).map_err(|e| format!("{file}{at}: {e}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_at_zero_or_after_a_user_block() {
        assert!(is_hdf5(HDF5_SIGNATURE));
        let mut b = vec![0u8; 1024];
        b.extend_from_slice(HDF5_SIGNATURE);
        assert!(is_hdf5(&b));
        assert!(!is_hdf5(b"PK\x03\x04 not hdf5"));
        assert!(!is_hdf5(&[]));
    }

    #[test]
    fn a_panic_inside_becomes_an_error() {
        let e = guarded("model.h5", || -> H5Result<()> {
            panic!("index out of range")
        })
        .unwrap_err();
        assert!(
            e.contains("model.h5") && e.contains("malformed") && e.contains("index out of range"),
            "{e}"
        );
        // The guard is reentrant-safe and leaves normal results alone.
        assert_eq!(guarded("x", || Ok(3)), Ok(3));
    }
}
