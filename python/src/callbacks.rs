//! Keras's built-in callbacks from the arguments the Python objects hold (Keras
//! names; only the ones the user passed, the rest keep Keras's defaults).

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use serde::de::DeserializeOwned;

use recurrent::callbacks::{
    Callback, CsvLogger, EarlyStopping, ModelCheckpoint, ReduceLrOnPlateau, TerminateOnNan,
};
use recurrent::config::{
    CsvLoggerConfig, EarlyStoppingConfig, ModelCheckpointConfig, ReduceLrOnPlateauConfig,
};

fn args<T: DeserializeOwned>(kind: &str, v: &serde_json::Value) -> PyResult<T> {
    serde_json::from_value(v.clone()).map_err(|e| PyValueError::new_err(format!("{kind}: {e}")))
}

pub(crate) fn build(kind: &str, v: &serde_json::Value) -> PyResult<Box<dyn Callback + Send>> {
    Ok(match kind {
        "EarlyStopping" => Box::new(EarlyStopping::new(args::<EarlyStoppingConfig>(kind, v)?)),
        "ModelCheckpoint" => Box::new(ModelCheckpoint::new(args::<ModelCheckpointConfig>(
            kind, v,
        )?)),
        "CSVLogger" => {
            Box::new(CsvLogger::new(args::<CsvLoggerConfig>(kind, v)?).map_err(crate::to_py)?)
        }
        "ReduceLROnPlateau" => Box::new(
            ReduceLrOnPlateau::new(args::<ReduceLrOnPlateauConfig>(kind, v)?)
                .map_err(crate::to_py)?,
        ),
        "TerminateOnNaN" => Box::new(TerminateOnNan::new()),
        other => {
            return Err(PyValueError::new_err(format!(
                "unknown built-in callback `{other}`"
            )));
        }
    })
}
