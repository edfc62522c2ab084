//! Keras's built-in callbacks, built with the library's Keras-argument builders from
//! the arguments the Python objects hold (`recurrent.keras.callbacks`, which always
//! sends every argument under its Keras name).

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use serde_json::Value;

use recurrent::callbacks::{
    Callback, CsvLogger, EarlyStopping, Mode, ModelCheckpoint, ReduceLrOnPlateau, TerminateOnNan,
};

/// Typed access to one callback's arguments, errors naming the callback and argument.
struct Args<'a> {
    kind: &'a str,
    v: &'a Value,
}

impl Args<'_> {
    fn get(&self, name: &str) -> PyResult<&Value> {
        self.v.get(name).ok_or_else(|| {
            PyValueError::new_err(format!("{}: argument `{name}` is missing", self.kind))
        })
    }

    fn bad(&self, name: &str, want: &str) -> PyErr {
        PyTypeError::new_err(format!("{}: `{name}` must be {want}", self.kind))
    }

    fn str(&self, name: &str) -> PyResult<String> {
        let v = self.get(name)?;
        v.as_str()
            .map(str::to_string)
            .ok_or_else(|| self.bad(name, "a string"))
    }

    fn f64(&self, name: &str) -> PyResult<f64> {
        self.get(name)?
            .as_f64()
            .ok_or_else(|| self.bad(name, "a number"))
    }

    fn opt_f64(&self, name: &str) -> PyResult<Option<f64>> {
        match self.get(name)? {
            Value::Null => Ok(None),
            v => v
                .as_f64()
                .map(Some)
                .ok_or_else(|| self.bad(name, "a number or None")),
        }
    }

    fn usize(&self, name: &str) -> PyResult<usize> {
        self.get(name)?
            .as_u64()
            .map(|n| n as usize)
            .ok_or_else(|| self.bad(name, "a non-negative integer"))
    }

    fn u8(&self, name: &str) -> PyResult<u8> {
        let n = self.usize(name)?;
        u8::try_from(n).map_err(|_| self.bad(name, "0, 1 or 2"))
    }

    fn bool(&self, name: &str) -> PyResult<bool> {
        self.get(name)?
            .as_bool()
            .ok_or_else(|| self.bad(name, "True or False"))
    }

    fn mode(&self) -> PyResult<Mode> {
        serde_json::from_value(self.get("mode")?.clone()).map_err(|_| {
            PyValueError::new_err(format!(
                "{}: `mode` must be 'auto', 'min' or 'max'",
                self.kind
            ))
        })
    }
}

pub(crate) fn build(kind: &str, v: &Value) -> PyResult<Box<dyn Callback + Send>> {
    let a = Args { kind, v };
    Ok(match kind {
        "EarlyStopping" => Box::new(
            EarlyStopping::new()
                .monitor(a.str("monitor")?)
                .min_delta(a.f64("min_delta")?)
                .patience(a.usize("patience")?)
                .verbose(a.u8("verbose")?)
                .mode(a.mode()?)
                .baseline(a.opt_f64("baseline")?)
                .restore_best_weights(a.bool("restore_best_weights")?)
                .start_from_epoch(a.usize("start_from_epoch")?),
        ),
        "ModelCheckpoint" => Box::new(
            ModelCheckpoint::new(a.str("filepath")?)
                .monitor(a.str("monitor")?)
                .verbose(a.u8("verbose")?)
                .save_best_only(a.bool("save_best_only")?)
                .save_weights_only(a.bool("save_weights_only")?)
                .mode(a.mode()?)
                .initial_value_threshold(a.opt_f64("initial_value_threshold")?),
        ),
        "CSVLogger" => {
            let sep = CsvLogger::separator_char(&a.str("separator")?).map_err(crate::to_py)?;
            Box::new(
                CsvLogger::new(a.str("filename")?)
                    .separator(sep)
                    .append(a.bool("append")?),
            )
        }
        "ReduceLROnPlateau" => {
            let cb = ReduceLrOnPlateau::new()
                .monitor(a.str("monitor")?)
                .factor(a.f64("factor")?)
                .patience(a.usize("patience")?)
                .verbose(a.u8("verbose")?)
                .mode(a.mode()?)
                .min_delta(a.f64("min_delta")?)
                .cooldown(a.usize("cooldown")?)
                .min_lr(a.f64("min_lr")?);
            cb.validate().map_err(crate::to_py)?;
            Box::new(cb)
        }
        "TerminateOnNaN" => Box::new(TerminateOnNan::new()),
        other => {
            return Err(PyValueError::new_err(format!(
                "unknown built-in callback `{other}`"
            )));
        }
    })
}
