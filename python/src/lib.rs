//! `recurrent._core`: the Python binding of the `recurrent` library. The Keras-shaped
//! API (`recurrent.keras`) is plain Python on top of this module; this file only moves
//! data and control between Python and the Rust engine:
//!
//! - numpy arrays in without copies when they are already C-contiguous `int32` token
//!   ids or `float32` features (`PyReadonlyArray` views handed to the model as
//!   `CowArray::Borrowed`); other dtypes are converted once on the Python side;
//! - the GIL is released while Rust computes (`Python::detach`): a whole epoch runs in
//!   Rust, and the GIL is reacquired between batches only to run a Python callback
//!   that overrides a batch hook (checked once per `fit`), to write the progress bar
//!   and the built-in callbacks' messages to `sys.stdout` (so Jupyter and a redirected
//!   `sys.stdout` see them), and every `SIGNAL_CHECK` to run Python's signal handlers,
//!   which is how Ctrl-C becomes `KeyboardInterrupt` in `fit`, `evaluate` and
//!   `predict` after the batch that is running (W1's batches take ~0.3 ms: entering
//!   the interpreter after each of them cost more than the 3% the binding may cost);
//! - library errors become `ValueError` / `TypeError` / `OSError` with the library's
//!   own message, and a Rust panic becomes `RuntimeError` (never an abort).

use std::io::Write;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use ndarray::{ArrayD, CowArray};
use numpy::{IntoPyArray, PyArrayDyn, PyReadonlyArray2, PyReadonlyArrayDyn};
use pyo3::exceptions::{PyOSError, PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use recurrent::callbacks::progbar_logger::{Display, Progbar};
use recurrent::callbacks::{Callback, Control, Logs, ProgbarLogger, messages};
use recurrent::datasets::{self, FileOptions, ImdbOptions, ReutersOptions};
use recurrent::layers::{Initializer, LayerConfig};
use recurrent::optimizers::LearningRateSchedule;
use recurrent::preprocessing::{Padding, Truncating};
use recurrent::text::{TextVectorization as RsTextVectorization, TextVectorizationConfig};
use recurrent::{
    ClassWeight, Error, FitOptions, Inputs, Loss, Metric, OptimizerConfig, SampleWeight,
    Sequential, Targets,
};

/// A library error as the Python exception a Keras user expects, same message.
fn to_py(e: Error) -> PyErr {
    match &e {
        Error::Io { .. } | Error::Download { .. } => PyOSError::new_err(e.to_string()),
        _ => PyValueError::new_err(e.to_string()),
    }
}

fn json_err(what: &str, e: serde_json::Error) -> PyErr {
    PyValueError::new_err(format!("{what}: {e}"))
}

/// Run `f`, turning a panic into `RuntimeError` instead of unwinding into Python.
fn no_panic<T>(what: &str, f: impl FnOnce() -> PyResult<T>) -> PyResult<T> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(p) => {
            let msg = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "unknown panic".to_string());
            Err(PyRuntimeError::new_err(format!(
                "internal error in {what} (a bug in recurrent, please report it): {msg}"
            )))
        }
    }
}

/// Model input held borrowed from numpy for the duration of a call.
enum XHold<'py> {
    Ids(PyReadonlyArray2<'py, i32>),
    Floats(PyReadonlyArrayDyn<'py, f32>),
}

impl<'py> XHold<'py> {
    fn new(x: &Bound<'py, PyAny>, what: &str) -> PyResult<Self> {
        if let Ok(a) = x.extract::<PyReadonlyArray2<'py, i32>>() {
            return Ok(XHold::Ids(a));
        }
        if let Ok(a) = x.extract::<PyReadonlyArrayDyn<'py, f32>>() {
            return Ok(XHold::Floats(a));
        }
        Err(PyTypeError::new_err(format!(
            "{what} must be a 2-D int32 numpy array of token ids or a float32 numpy array"
        )))
    }

    fn inputs(&self) -> Inputs<'_> {
        match self {
            XHold::Ids(a) => Inputs::Ids(CowArray::from(a.as_array())),
            XHold::Floats(a) => Inputs::Floats(CowArray::from(a.as_array())),
        }
    }
}

fn hold_y<'py>(y: &Bound<'py, PyAny>, what: &str) -> PyResult<PyReadonlyArrayDyn<'py, f32>> {
    y.extract::<PyReadonlyArrayDyn<'py, f32>>()
        .map_err(|_| PyTypeError::new_err(format!("{what} must be a float32 numpy array")))
}

/// Sample weights as a float32 numpy array (borrowed, not copied: `SampleWeight`
/// keeps a contiguous array's buffer).
fn hold_weights<'py>(
    w: Option<&Bound<'py, PyAny>>,
    what: &str,
) -> PyResult<Option<PyReadonlyArrayDyn<'py, f32>>> {
    w.map(|w| {
        w.extract::<PyReadonlyArrayDyn<'py, f32>>()
            .map_err(|_| PyTypeError::new_err(format!("{what} must be a float32 numpy array")))
    })
    .transpose()
}

fn targets<'a>(y: &'a PyReadonlyArrayDyn<'_, f32>) -> Targets<'a> {
    Targets(CowArray::from(y.as_array()))
}

fn logs_dict<'py>(py: Python<'py>, logs: &Logs) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    for (k, v) in logs {
        d.set_item(k, *v)?;
    }
    Ok(d)
}

/// `sys.stdout` as a Rust writer (the progress bar), taking the GIL per write.
struct PyStdout;

impl Write for PyStdout {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        Python::attach(|py| -> PyResult<()> {
            let out = py.import("sys")?.getattr("stdout")?;
            if !out.is_none() {
                out.call_method1("write", (text.as_ref(),))?;
            }
            Ok(())
        })
        .map_err(|e| std::io::Error::other(e.to_string()))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Python::attach(|py| -> PyResult<()> {
            let out = py.import("sys")?.getattr("stdout")?;
            if !out.is_none() {
                out.call_method0("flush")?;
            }
            Ok(())
        })
        .map_err(|e| std::io::Error::other(e.to_string()))
    }
}

/// How often the Rust loops of `fit`, `evaluate` and `predict` enter the interpreter
/// to run Python's signal handlers when nothing else does: Ctrl-C is seen after the
/// batch running when this much time has passed (at once for batches longer than
/// this), and the cost is one GIL round trip (~1 µs) per 5 ms of training.
const SIGNAL_CHECK: Duration = Duration::from_millis(5);

/// Runs Python's signal handlers (Ctrl-C raises `KeyboardInterrupt` there) at most
/// every `SIGNAL_CHECK`.
struct SignalCheck {
    last: Instant,
}

impl SignalCheck {
    fn new() -> Self {
        SignalCheck {
            last: Instant::now(),
        }
    }

    /// Whether the time has come (the caller then checks, holding the GIL).
    fn due(&mut self) -> bool {
        let now = Instant::now();
        if now.duration_since(self.last) >= SIGNAL_CHECK {
            self.last = now;
            true
        } else {
            false
        }
    }

    /// Check now if due, taking the GIL for it.
    fn poll(&mut self) -> PyResult<()> {
        if self.due() {
            Python::attach(|py| py.check_signals())
        } else {
            Ok(())
        }
    }
}

/// The message of the library error that carries a Python exception out of a Rust
/// loop; the exception itself is kept aside and re-raised.
const PYTHON_RAISED: &str = "a Python exception ended the call";

/// `after_batch` of `evaluate_with` / `predict_with`: Python's signal handlers every
/// `SIGNAL_CHECK`; their exception is kept in `raised`.
fn signal_checker(raised: &mut Option<PyErr>) -> impl FnMut(usize) -> recurrent::Result<()> + '_ {
    let mut check = SignalCheck::new();
    move |_| {
        check.poll().map_err(|e| {
            *raised = Some(e);
            Error::State(PYTHON_RAISED.to_string())
        })
    }
}

/// The Rust side of the Python callbacks: a `Callback` that reacquires the GIL and
/// calls the Python dispatcher (`recurrent.keras.callbacks._Dispatch`). Around the
/// hooks that receive the model, the model is lent back to the Python `Model` object
/// (`self.model.get_weights()` works inside `on_epoch_end`). Between batches it enters
/// the interpreter only if a Python callback has a batch hook, or to run Python's
/// signal handlers every `SIGNAL_CHECK`: Ctrl-C raises there, the batch that just
/// finished stays applied, and `fit` ends with the `KeyboardInterrupt`.
struct Bridge {
    dispatch: Py<PyAny>,
    handle: Py<Model>,
    batch_hook: bool,
    /// A Python callback logs `learning_rate` (LearningRateScheduler).
    logs_learning_rate: bool,
    /// `model.stop_training` as the last Python hook left it (Keras checks it after
    /// every batch, so a stop asked in `on_epoch_begin` ends the epoch after one).
    stop: bool,
    signals: SignalCheck,
    /// The Python exception that ended training, re-raised by `fit`.
    error: Arc<Mutex<Option<PyErr>>>,
}

impl Bridge {
    fn fail(&self, e: PyErr) -> Error {
        let msg = Python::attach(|py| e.value(py).to_string());
        *self.error.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
        Error::State(format!("a Python callback raised: {msg}"))
    }

    /// Call `f` with the model lent to the Python `Model` object.
    fn with_model<T>(
        &self,
        model: &mut Sequential,
        f: impl FnOnce(Python<'_>) -> PyResult<T>,
    ) -> recurrent::Result<T> {
        Python::attach(|py| {
            let handle = self.handle.bind(py);
            handle.borrow_mut().inner = Some(std::mem::take(model));
            let r = f(py);
            if let Some(m) = handle.borrow_mut().inner.take() {
                *model = m;
            }
            r
        })
        .map_err(|e| self.fail(e))
    }
}

impl Callback for Bridge {
    fn on_train_begin(&mut self, model: &mut Sequential) -> recurrent::Result<()> {
        let d = &self.dispatch;
        self.stop = self.with_model(model, |py| {
            d.call_method0(py, "on_train_begin")?.extract::<bool>(py)
        })?;
        Ok(())
    }

    fn on_epoch_begin_with_model(
        &mut self,
        epoch: usize,
        model: &mut Sequential,
    ) -> recurrent::Result<()> {
        let d = &self.dispatch;
        self.stop = self.with_model(model, |py| {
            py.check_signals()?;
            d.call_method1(py, "on_epoch_begin", (epoch,))?
                .extract::<bool>(py)
        })?;
        Ok(())
    }

    fn logs_learning_rate(&self) -> bool {
        self.logs_learning_rate
    }

    fn on_train_batch_end(&mut self, batch: usize, logs: &Logs) -> recurrent::Result<()> {
        let r = if self.batch_hook {
            // The check's clock restarts: this visit ran the handlers.
            self.signals.due();
            Python::attach(|py| {
                py.check_signals()?;
                self.dispatch
                    .call_method1(py, "on_train_batch_end", (batch, logs_dict(py, logs)?))?
                    .extract::<bool>(py)
            })
            .map(|stop| self.stop = stop)
        } else {
            self.signals.poll()
        };
        r.map_err(|e| self.fail(e))
    }

    /// Between validation batches: Python's signal handlers, so Ctrl-C ends a long
    /// validation pass within a batch as it ends training's.
    fn on_test_batch_end(&mut self, _batch: usize) -> recurrent::Result<()> {
        let r = self.signals.poll();
        r.map_err(|e| self.fail(e))
    }

    fn stop_training(&self) -> bool {
        self.stop
    }

    fn on_epoch_end(
        &mut self,
        epoch: usize,
        logs: &Logs,
        model: &mut Sequential,
    ) -> recurrent::Result<Control> {
        let d = &self.dispatch;
        let stop = self.with_model(model, |py| {
            py.check_signals()?;
            d.call_method1(py, "on_epoch_end", (epoch, logs_dict(py, logs)?))?
                .extract::<bool>(py)
        })?;
        Ok(if stop {
            Control::Stop
        } else {
            Control::Continue
        })
    }

    fn on_train_end(&mut self, logs: &Logs, model: &mut Sequential) -> recurrent::Result<()> {
        let d = &self.dispatch;
        self.with_model(model, |py| {
            d.call_method1(py, "on_train_end", (logs_dict(py, logs)?,))
                .map(drop)
        })
    }
}

/// Keras's built-in callbacks, from the Python objects' arguments.
fn builtin_callback(kind: &str, args: &str) -> PyResult<Box<dyn Callback + Send>> {
    let v: serde_json::Value = serde_json::from_str(args).map_err(|e| json_err(kind, e))?;
    callbacks::build(kind, &v)
}

mod callbacks;

/// A Sequential model (single chain of layers), owned by Rust. `inner` is `None`
/// only while `fit` runs (the training loop owns it; hooks that receive the model lend
/// it back).
#[pyclass(module = "recurrent._core")]
struct Model {
    inner: Option<Sequential>,
}

impl Model {
    fn model(&mut self) -> PyResult<&mut Sequential> {
        self.inner.as_mut().ok_or_else(|| {
            PyRuntimeError::new_err(
                "the model is training: it can be used from on_train_begin, on_epoch_end and \
                 on_train_end, not from other hooks",
            )
        })
    }
}

impl Model {
    fn compiled_optimizer(&mut self) -> PyResult<&mut recurrent::optimizers::Optimizer> {
        let m = self.model()?;
        let name = m.name().to_string();
        m.optimizer_mut().ok_or_else(|| {
            PyRuntimeError::new_err(format!(
                "model `{name}` is not compiled: its optimizer exists after compile()"
            ))
        })
    }
}

fn shape_list(s: Option<&[Option<usize>]>) -> Option<Vec<Option<usize>>> {
    s.map(<[Option<usize>]>::to_vec)
}

#[pymethods]
impl Model {
    #[new]
    fn new(name: String, seed: u64) -> Self {
        let mut m = Sequential::with_seed(seed);
        m.set_name(name);
        Model { inner: Some(m) }
    }

    /// Append a layer from its config (`LayerConfig` JSON, Keras argument names); `who`
    /// ("LSTM `lstm_2`") names it in errors.
    fn add(&mut self, config: &str, who: &str) -> PyResult<()> {
        let c: LayerConfig = serde_json::from_str(config).map_err(|e| json_err(who, e))?;
        let layer = c.to_layer().map_err(to_py)?;
        self.model()?.add_boxed(layer).map_err(to_py)?;
        Ok(())
    }

    fn build(&mut self, input_shape: Vec<Option<usize>>) -> PyResult<()> {
        let m = self.model()?;
        no_panic("build", || m.build(&input_shape).map_err(to_py))
    }

    #[getter]
    fn built(&mut self) -> PyResult<bool> {
        Ok(self.model()?.is_built())
    }

    #[getter]
    fn name(&mut self) -> PyResult<String> {
        Ok(self.model()?.name().to_string())
    }

    #[getter]
    fn input_shape(&mut self) -> PyResult<Option<Vec<Option<usize>>>> {
        Ok(shape_list(self.model()?.input_shape()))
    }

    #[getter]
    fn output_shape(&mut self) -> PyResult<Option<Vec<Option<usize>>>> {
        Ok(shape_list(self.model()?.output_shape()))
    }

    fn summary(&mut self) -> PyResult<String> {
        Ok(self.model()?.summary())
    }

    fn count_params(&mut self) -> PyResult<usize> {
        Ok(self.model()?.count_params())
    }

    /// Layer configs as JSON strings (for `load_model` to rebuild Python layers).
    fn layer_configs(&mut self) -> PyResult<Vec<String>> {
        Ok(self
            .model()?
            .layer_configs()
            .iter()
            .map(|c| c.to_string())
            .collect())
    }

    #[pyo3(signature = (optimizer, loss, metrics, weighted_metrics=Vec::new()))]
    fn compile(
        &mut self,
        optimizer: &str,
        loss: &str,
        metrics: Vec<String>,
        weighted_metrics: Vec<String>,
    ) -> PyResult<()> {
        let opt: OptimizerConfig =
            serde_json::from_str(optimizer).map_err(|e| json_err("optimizer", e))?;
        let loss: Loss = loss.parse().map_err(to_py)?;
        let parse = |list: &[String]| {
            list.iter()
                .map(|m| {
                    let v: serde_json::Value =
                        serde_json::from_str(m).map_err(|e| json_err("metric", e))?;
                    Metric::from_value(&v).map_err(to_py)
                })
                .collect::<PyResult<Vec<_>>>()
        };
        let (metrics, weighted) = (parse(&metrics)?, parse(&weighted_metrics)?);
        self.model()?
            .compile_with_weighted_metrics(opt, loss, &metrics, &weighted)
            .map_err(to_py)
    }

    /// `fit`; returns (history dict, epoch list). `builtins` are (kind, JSON args) of
    /// Keras's built-in callbacks; `dispatch` the Python callback dispatcher.
    #[allow(clippy::too_many_arguments)]
    #[pyo3(signature = (x, y, batch_size, epochs, verbose, validation_split, validation_data,
        shuffle, initial_epoch, builtins, dispatch, batch_hook, steps, tty, class_weight=None,
        sample_weight=None, val_sample_weight=None))]
    fn fit<'py>(
        slf: &Bound<'py, Self>,
        x: &Bound<'py, PyAny>,
        y: &Bound<'py, PyAny>,
        batch_size: Option<usize>,
        epochs: usize,
        verbose: u8,
        validation_split: f64,
        validation_data: Option<(Bound<'py, PyAny>, Bound<'py, PyAny>)>,
        shuffle: bool,
        initial_epoch: usize,
        builtins: Vec<(String, String)>,
        dispatch: Py<PyAny>,
        batch_hook: bool,
        steps: usize,
        tty: bool,
        class_weight: Option<ClassWeight>,
        sample_weight: Option<Bound<'py, PyAny>>,
        val_sample_weight: Option<Bound<'py, PyAny>>,
    ) -> PyResult<(Bound<'py, PyDict>, Vec<usize>)> {
        let py = slf.py();
        let xh = XHold::new(x, "x")?;
        let yh = hold_y(y, "y")?;
        let swh = hold_weights(sample_weight.as_ref(), "sample_weight")?;
        let vswh = hold_weights(val_sample_weight.as_ref(), "validation sample weights")?;
        let val = match &validation_data {
            Some((vx, vy)) => Some((
                XHold::new(vx, "validation_data x")?,
                hold_y(vy, "validation_data y")?,
            )),
            None => None,
        };
        let error = Arc::new(Mutex::new(None));
        // The progress bar first, so its epoch line comes before the other callbacks'
        // messages, as in Keras.
        let mut cbs: Vec<Box<dyn Callback + Send>> = Vec::new();
        if verbose > 0 {
            cbs.push(Box::new(ProgbarLogger::with_output(
                epochs,
                steps,
                Display::for_verbose(verbose, tty),
                Box::new(PyStdout),
            )));
        }
        for (kind, args) in &builtins {
            cbs.push(builtin_callback(kind, args)?);
        }
        let logs_learning_rate = dispatch
            .call_method0(py, "logs_learning_rate")?
            .extract::<bool>(py)?;
        cbs.push(Box::new(Bridge {
            dispatch,
            handle: slf.clone().unbind(),
            batch_hook,
            logs_learning_rate,
            stop: false,
            signals: SignalCheck::new(),
            error: error.clone(),
        }));
        // Views of the numpy buffers (no copies); they are Send, the holders are not.
        let (x_in, y_in) = (xh.inputs(), targets(&yh));
        let val_in = val.as_ref().map(|(vx, vy)| (vx.inputs(), targets(vy)));
        let sw_in = swh.as_ref().map(|w| SampleWeight::from(w.as_array()));
        let vsw_in = vswh.as_ref().map(|w| SampleWeight::from(w.as_array()));
        let mut model = std::mem::take(slf.borrow_mut().model()?);
        let result = detached(py, || {
            catch_unwind(AssertUnwindSafe(|| {
                messages::with_output(Box::new(PyStdout), || {
                    let options = FitOptions {
                        epochs,
                        batch_size,
                        validation_data: val_in,
                        validation_split,
                        shuffle,
                        verbose: 0,
                        initial_epoch,
                        callbacks: cbs
                            .iter_mut()
                            .map(|c| c.as_mut() as &mut dyn Callback)
                            .collect(),
                        class_weight,
                        sample_weight: sw_in,
                        validation_sample_weight: vsw_in,
                    };
                    model.fit(x_in, y_in, options)
                })
            }))
        });
        slf.borrow_mut().inner = Some(model);
        let history = match result {
            Ok(r) => r,
            Err(_) => {
                return Err(PyRuntimeError::new_err(
                    "internal error in fit (a bug in recurrent, please report it); the model \
                     keeps the weights of the last completed batch",
                ));
            }
        };
        if let Some(e) = error.lock().unwrap_or_else(|p| p.into_inner()).take() {
            return Err(e);
        }
        let history = history.map_err(to_py)?;
        let d = PyDict::new(py);
        for (k, v) in &history.history {
            d.set_item(k, PyList::new(py, v)?)?;
        }
        Ok((d, history.epoch))
    }

    #[pyo3(signature = (x, y, batch_size=None, sample_weight=None))]
    fn evaluate<'py>(
        &mut self,
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
        y: &Bound<'py, PyAny>,
        batch_size: Option<usize>,
        sample_weight: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let xh = XHold::new(x, "x")?;
        let yh = hold_y(y, "y")?;
        let swh = hold_weights(sample_weight.as_ref(), "sample_weight")?;
        let (x_in, y_in) = (xh.inputs(), targets(&yh));
        let sw_in = swh.as_ref().map(|w| SampleWeight::from(w.as_array()));
        let m = self.model()?;
        let mut raised = None;
        let logs = detached(py, || {
            no_panic("evaluate", || {
                let mut hook = signal_checker(&mut raised);
                match sw_in {
                    Some(w) => m.evaluate_weighted_with(x_in, y_in, w, batch_size, &mut hook),
                    None => m.evaluate_with(x_in, y_in, batch_size, &mut hook),
                }
                .map_err(to_py)
            })
        });
        if let Some(e) = raised {
            return Err(e);
        }
        logs_dict(py, &logs?)
    }

    #[pyo3(signature = (x, batch_size=None))]
    fn predict<'py>(
        &mut self,
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
        batch_size: Option<usize>,
    ) -> PyResult<Bound<'py, PyArrayDyn<f32>>> {
        let xh = XHold::new(x, "x")?;
        let x_in = xh.inputs();
        let m = self.model()?;
        let mut raised = None;
        let out = detached(py, || {
            no_panic("predict", || {
                m.predict_with(x_in, batch_size, &mut signal_checker(&mut raised))
                    .map_err(to_py)
            })
        });
        if let Some(e) = raised {
            return Err(e);
        }
        Ok(out?.into_pyarray(py))
    }

    /// Weights in Keras order (layer by layer, `kernel, recurrent_kernel, bias`), as
    /// (name, array) pairs.
    fn get_weights<'py>(
        &mut self,
        py: Python<'py>,
    ) -> PyResult<Vec<(String, Bound<'py, PyArrayDyn<f32>>)>> {
        Ok(self
            .model()?
            .get_weights()
            .into_iter()
            .map(|(n, a)| (n, a.into_pyarray(py)))
            .collect())
    }

    fn weight_shapes(&mut self) -> PyResult<Vec<(String, Vec<usize>)>> {
        Ok(self.model()?.weight_shapes())
    }

    /// Replace all weights, given in `get_weights` order (float32 arrays).
    fn set_weights(&mut self, weights: Vec<PyReadonlyArrayDyn<'_, f32>>) -> PyResult<()> {
        let m = self.model()?;
        let names = m.weight_shapes();
        if weights.len() != names.len() {
            return Err(PyValueError::new_err(format!(
                "set_weights: the model `{}` has {} weight arrays, {} were given",
                m.name(),
                names.len(),
                weights.len()
            )));
        }
        let named: Vec<(String, ArrayD<f32>)> = names
            .into_iter()
            .zip(&weights)
            .map(|((n, _), a)| (n, a.as_array().to_owned()))
            .collect();
        m.set_weights(&named).map_err(to_py)
    }

    /// Keras `reset_states()` of the layer named `layer`, or of every layer.
    #[pyo3(signature = (layer=None))]
    fn reset_states(&mut self, layer: Option<&str>) -> PyResult<()> {
        let m = self.model()?;
        match layer {
            Some(name) => m.reset_layer_states(name).map_err(to_py),
            None => {
                m.reset_states();
                Ok(())
            }
        }
    }

    fn save(&mut self, path: PathBuf) -> PyResult<()> {
        let m = self.model()?;
        no_panic("save", || m.save(&path).map_err(to_py))
    }

    fn save_weights(&mut self, path: PathBuf) -> PyResult<()> {
        let m = self.model()?;
        no_panic("save_weights", || m.save_weights(&path).map_err(to_py))
    }

    fn load_weights(&mut self, path: PathBuf) -> PyResult<()> {
        let m = self.model()?;
        no_panic("load_weights", || m.load_weights(&path).map_err(to_py))
    }

    /// Our model file, or a Keras `.keras` / `.h5` file through the importer.
    #[staticmethod]
    fn load(path: PathBuf) -> PyResult<Model> {
        no_panic("load_model", || {
            // Keras files too (told by content), compiled from their training config.
            let m = Sequential::load(&path).map_err(to_py)?;
            Ok(Model { inner: Some(m) })
        })
    }

    /// The learning rate of the next step (Keras `model.optimizer.learning_rate`).
    fn learning_rate(&mut self) -> PyResult<f64> {
        Ok(self.compiled_optimizer()?.learning_rate())
    }

    /// Set the learning rate between steps (refused for a schedule, as Keras does).
    fn set_learning_rate(&mut self, lr: f64) -> PyResult<()> {
        self.compiled_optimizer()?
            .set_learning_rate(lr)
            .map_err(to_py)
    }

    /// Steps the optimizer has taken (Keras `optimizer.iterations`).
    fn optimizer_iterations(&mut self) -> PyResult<u64> {
        Ok(self.compiled_optimizer()?.iterations())
    }

    /// Compile settings as (optimizer JSON, loss, metric names), if compiled; the names
    /// are the logged ones, the `weighted_metrics` after the `metrics` (as the engine
    /// named them: `weighted_<name>` on a clash).
    fn compile_config(&mut self) -> PyResult<Option<(String, String, Vec<String>)>> {
        let m = self.model()?;
        let (Some(opt), Some(loss)) = (m.optimizer(), m.loss()) else {
            return Ok(None);
        };
        let opt = serde_json::to_string(opt.config()).map_err(|e| json_err("optimizer", e))?;
        let loss = serde_json::to_value(loss)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        let metrics = m
            .metrics()
            .iter()
            .chain(m.weighted_metrics())
            .map(|x| x.name().to_string())
            .collect();
        Ok(Some((opt, loss, metrics)))
    }
}

fn file_options(path: Option<PathBuf>) -> FileOptions {
    FileOptions {
        path,
        ..FileOptions::default()
    }
}

type Ragged = (Vec<Vec<i32>>, Vec<i64>);

#[pyfunction]
#[pyo3(signature = (path, num_words, skip_top, maxlen, seed, start_char, oov_char, index_from))]
#[allow(clippy::too_many_arguments)]
fn imdb_load_data(
    py: Python<'_>,
    path: Option<PathBuf>,
    num_words: Option<usize>,
    skip_top: usize,
    maxlen: Option<usize>,
    seed: u32,
    start_char: Option<i32>,
    oov_char: Option<i32>,
    index_from: i32,
) -> PyResult<(Ragged, Ragged)> {
    let opts = ImdbOptions {
        num_words,
        skip_top,
        maxlen,
        seed,
        start_char,
        oov_char,
        index_from,
        path,
        ..ImdbOptions::default()
    };
    let d = detached(py, || {
        no_panic("imdb.load_data", || {
            datasets::imdb::load_data(&opts).map_err(to_py)
        })
    })?;
    Ok(d.into_tuples())
}

#[pyfunction]
#[pyo3(signature = (path, num_words, skip_top, maxlen, test_split, seed, start_char, oov_char, index_from))]
#[allow(clippy::too_many_arguments)]
fn reuters_load_data(
    py: Python<'_>,
    path: Option<PathBuf>,
    num_words: Option<usize>,
    skip_top: usize,
    maxlen: Option<usize>,
    test_split: f64,
    seed: u32,
    start_char: Option<i32>,
    oov_char: Option<i32>,
    index_from: i32,
) -> PyResult<(Ragged, Ragged)> {
    let opts = ReutersOptions {
        num_words,
        skip_top,
        maxlen,
        test_split,
        seed,
        start_char,
        oov_char,
        index_from,
        path,
        ..ReutersOptions::default()
    };
    let d = detached(py, || {
        no_panic("reuters.load_data", || {
            datasets::reuters::load_data(&opts).map_err(to_py)
        })
    })?;
    Ok(d.into_tuples())
}

/// `get_word_index` of `dataset` ("imdb" or "reuters") as a list of (word, rank).
#[pyfunction]
#[pyo3(signature = (dataset, path=None))]
fn get_word_index(dataset: &str, path: Option<PathBuf>) -> PyResult<Vec<(String, i64)>> {
    let opts = file_options(path);
    let wi = match dataset {
        "imdb" => datasets::imdb::get_word_index(&opts),
        "reuters" => datasets::reuters::get_word_index(&opts),
        other => return Err(PyValueError::new_err(format!("unknown dataset `{other}`"))),
    }
    .map_err(to_py)?;
    Ok(wi.iter().map(|(w, i)| (w.to_string(), i)).collect())
}

/// Make the calling thread (the interpreter's main thread, from `recurrent/__init__.py`)
/// a worker of rayon's global pool, as the `recurrent` command and the Rust benchmark
/// do: each parallel step of a batch then runs on this thread and the others directly
/// instead of being handed to the pool and waited for (two thread wake-ups per step:
/// 1.2x on small models, measured for the CLI; with one thread the hand-off cost W1
/// training 1.46x: 135.6k against 93.1k samples/s through Python, medians of 9 alternated
/// rounds).
/// Returns whether the pool was set up so (False: already built).
///
/// A pool whose only worker is the main thread would never run work that another
/// Python thread hands to it while the main thread waits in Python (a hang), so with
/// one thread, calls from other threads run on a one-thread side pool (`on_pool`).
#[pyfunction]
fn join_rayon_pool() -> bool {
    let threads = std::env::var("RAYON_NUM_THREADS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|&n| n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let joined = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .use_current_thread()
        .build_global()
        .is_ok();
    SOLO_MAIN_POOL.store(joined && threads == 1, Ordering::Relaxed);
    joined
}

/// The global pool is the main thread alone (see `join_rayon_pool`).
static SOLO_MAIN_POOL: AtomicBool = AtomicBool::new(false);

/// Run `f` where its parallel steps have a worker: directly, unless the global pool is
/// the main thread alone and this is another thread, then on a one-thread side pool.
fn on_pool<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    static SIDE: OnceLock<Option<rayon::ThreadPool>> = OnceLock::new();
    if !SOLO_MAIN_POOL.load(Ordering::Relaxed) || rayon::current_thread_index().is_some() {
        return f();
    }
    let side = SIDE.get_or_init(|| rayon::ThreadPoolBuilder::new().num_threads(1).build().ok());
    match side {
        Some(pool) => pool.install(f),
        None => f(),
    }
}

/// `py.detach`, running the engine on a pool that has a free worker (`on_pool`).
fn detached<T: Send>(py: Python<'_>, f: impl FnOnce() -> T + Send) -> T {
    py.detach(|| on_pool(f))
}

/// A learning-rate schedule's value at `step` (float32, as the optimizer uses it);
/// also how `keras.optimizers.schedules` objects check their arguments.
#[pyfunction]
fn schedule_value(schedule: &str, step: u64) -> PyResult<f64> {
    let s: LearningRateSchedule =
        serde_json::from_str(schedule).map_err(|e| json_err("learning_rate schedule", e))?;
    s.validate().map_err(to_py)?;
    Ok(s.value(step) as f64)
}

fn initializer(config: &str) -> PyResult<Initializer> {
    let v: serde_json::Value =
        serde_json::from_str(config).map_err(|e| json_err("initializer", e))?;
    Initializer::from_value(&v).map_err(to_py)
}

/// Check an initializer (name or table) as a layer would read it.
#[pyfunction]
fn initializer_check(config: &str) -> PyResult<()> {
    initializer(config).map(drop)
}

/// An array of `shape` drawn by an initializer from `seed` (Keras's
/// `initializer(shape)`).
#[pyfunction]
fn initializer_values<'py>(
    py: Python<'py>,
    config: &str,
    shape: Vec<usize>,
    seed: u64,
) -> PyResult<Bound<'py, PyArrayDyn<f32>>> {
    let init = initializer(config)?;
    let fits = shape
        .iter()
        .try_fold(1usize, |n, &d| n.checked_mul(d))
        .is_some_and(|n| n <= MAX_INITIALIZER_VALUES);
    if !fits {
        return Err(PyValueError::new_err(format!(
            "initializer: shape {shape:?} has more than {MAX_INITIALIZER_VALUES} values"
        )));
    }
    let mut rng = recurrent::rng::SeededRng::new(seed);
    let a = no_panic("initializer", || {
        init.try_init(&shape, &mut rng).map_err(to_py)
    })?;
    Ok(a.into_pyarray(py))
}

/// The largest array `initializer_values` makes (1 GiB of float32), so a mistyped
/// shape is an error, not an allocation failure.
const MAX_INITIALIZER_VALUES: usize = 1 << 28;

/// The Keras cache root (`$KERAS_HOME`, else `~/.keras`).
#[pyfunction]
fn keras_home() -> PathBuf {
    datasets::keras_home()
}

fn side<T: serde::de::DeserializeOwned>(arg: &str, v: &str) -> PyResult<T> {
    serde_json::from_value(serde_json::Value::String(v.to_string())).map_err(|_| {
        PyValueError::new_err(format!(
            "pad_sequences: `{arg}` must be \"pre\" or \"post\", got {v:?}"
        ))
    })
}

/// The line `evaluate`/`predict` print when they end, from the progress bar `fit` uses,
/// so the three read alike (`verbose` as Keras's; `tty`: stdout is a terminal).
#[pyfunction]
fn progress_line(
    steps: usize,
    elapsed: f64,
    values: Vec<(String, f64)>,
    verbose: u8,
    tty: bool,
) -> String {
    let elapsed = std::time::Duration::try_from_secs_f64(elapsed).unwrap_or_default();
    Progbar::final_line(steps, elapsed, &values, Display::for_verbose(verbose, tty))
}

#[pyfunction]
#[pyo3(signature = (sequences, maxlen, padding, truncating, value))]
fn pad_sequences<'py>(
    py: Python<'py>,
    sequences: Vec<Vec<i32>>,
    maxlen: Option<usize>,
    padding: &str,
    truncating: &str,
    value: i32,
) -> PyResult<Bound<'py, numpy::PyArray2<i32>>> {
    let padding: Padding = side("padding", padding)?;
    let truncating: Truncating = side("truncating", truncating)?;
    let out = detached(py, || {
        recurrent::preprocessing::pad_sequences(&sequences, maxlen, padding, truncating, value)
            .map_err(to_py)
    })?;
    Ok(out.into_pyarray(py))
}

/// Keras's `TextVectorization` (int output mode).
#[pyclass(module = "recurrent._core")]
struct TextVectorization {
    inner: RsTextVectorization,
}

#[pymethods]
impl TextVectorization {
    #[new]
    fn new(config: &str, vocabulary: Option<Vec<String>>) -> PyResult<Self> {
        let c: TextVectorizationConfig =
            serde_json::from_str(config).map_err(|e| json_err("TextVectorization", e))?;
        let inner = match vocabulary {
            Some(v) => RsTextVectorization::with_vocabulary(c, v),
            None => RsTextVectorization::new(c),
        }
        .map_err(to_py)?;
        Ok(TextVectorization { inner })
    }

    fn adapt(&mut self, py: Python<'_>, texts: Vec<String>) {
        let inner = &mut self.inner;
        detached(py, || inner.adapt(&texts));
    }

    fn vectorize<'py>(
        &self,
        py: Python<'py>,
        texts: Vec<String>,
    ) -> Bound<'py, numpy::PyArray2<i32>> {
        let inner = &self.inner;
        detached(py, || inner.vectorize(&texts)).into_pyarray(py)
    }

    fn vectorize_ragged(&self, py: Python<'_>, texts: Vec<String>) -> Vec<Vec<i32>> {
        let inner = &self.inner;
        detached(py, || inner.vectorize_ragged(&texts))
    }

    fn get_vocabulary(&self) -> Vec<String> {
        self.inner.get_vocabulary().to_vec()
    }

    fn vocabulary_size(&self) -> usize {
        self.inner.vocabulary_size()
    }

    fn output_sequence_length(&self) -> Option<usize> {
        self.inner.config().output_sequence_length
    }
}

#[pymodule]
#[pyo3(name = "_core")]
fn recurrent_core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Model>()?;
    m.add_class::<TextVectorization>()?;
    m.add_function(wrap_pyfunction!(imdb_load_data, m)?)?;
    m.add_function(wrap_pyfunction!(reuters_load_data, m)?)?;
    m.add_function(wrap_pyfunction!(get_word_index, m)?)?;
    m.add_function(wrap_pyfunction!(keras_home, m)?)?;
    m.add_function(wrap_pyfunction!(join_rayon_pool, m)?)?;
    m.add_function(wrap_pyfunction!(pad_sequences, m)?)?;
    m.add_function(wrap_pyfunction!(progress_line, m)?)?;
    m.add_function(wrap_pyfunction!(schedule_value, m)?)?;
    m.add_function(wrap_pyfunction!(initializer_check, m)?)?;
    m.add_function(wrap_pyfunction!(initializer_values, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
