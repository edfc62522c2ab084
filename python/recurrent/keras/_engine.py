"""`keras.Sequential` / `keras.Model` / `keras.Input` on the Rust `Sequential`.

One Rust model per Python model (`recurrent._core.Model`); this file turns Keras's
arguments into its calls. What goes in:

- token ids (model starting with `Embedding`) as a C-contiguous int32 array and float
  features as float32 are passed to Rust without a copy; other integer / float dtypes
  are converted once (ids are range-checked before narrowing to int32);
- ragged lists, strings, objects and wrongly shaped arrays are refused here with a
  message naming the argument; value errors (token id outside the vocabulary, NaN,
  labels that do not fit the output) come from Rust with the sample they are in.
"""

import json
import math
import operator
import sys
import time

import numpy as np

from .. import _core
from . import _json
from . import layers as _layers
from . import losses as _losses
from . import metrics as _metrics
from . import optimizers as _optimizers
from . import utils as _utils
from .callbacks import Callback, _Dispatch, _split_callbacks


class KerasTensor:
    """A symbolic input (`keras.Input`) and the layers applied to it so far."""

    def __init__(self, shape, dtype=None, name=None, _layers_so_far=(), _origin=None):
        self.shape = tuple(shape)
        self.dtype = dtype
        self.name = name
        self._chain = tuple(_layers_so_far)
        self._origin = _origin if _origin is not None else self

    def _then(self, layer):
        return KerasTensor(self.shape, self.dtype, self.name, self._chain + (layer,), self._origin)

    def __repr__(self):
        return f"<KerasTensor shape={self.shape} after {len(self._chain)} layers>"


def Input(shape=None, batch_size=None, dtype=None, sparse=None, batch_shape=None, name=None, tensor=None, optional=False):
    """`keras.Input(shape=(time_steps,))`: the input of a functional `keras.Model`."""
    if batch_shape is not None:
        shape = tuple(batch_shape)[1:]
        batch_size = batch_shape[0] if batch_size is None else batch_size
    if shape is None:
        raise ValueError("keras.Input needs `shape` (without the batch axis), e.g. shape=(100,)")
    shape = _layers._shape(shape, "keras.Input")
    return KerasTensor((batch_size,) + shape, dtype=dtype, name=name)


def _with_batch(config, batch_size):
    """A stateful layer's config given the model input's fixed batch size (Keras keeps
    it on the Input; ours is on the layer)."""
    if config.get("type") == "bidirectional":
        return {**config, "layer": _with_batch(config["layer"], batch_size)}
    if config.get("stateful") and config.get("batch_size") is None and batch_size is not None:
        return {**config, "batch_size": int(batch_size)}
    return config


class History(Callback):
    """What `fit` returns: `.history` (metric name -> one value per epoch, keys as
    Keras logs them), `.epoch`, `.params`, `.model`."""

    def __init__(self, history=None, epoch=None, params=None, model=None):
        super().__init__()
        self.history = history or {}
        self.epoch = epoch or []
        self.params = params or {}
        self.model = model

    def __repr__(self):
        return f"<History epochs={len(self.epoch)} keys={list(self.history)}>"


def _print_progress(steps, t0, values, verbose):
    """The line Keras prints when `evaluate`/`predict` end, drawn by the engine's
    progress bar (the one `fit` uses)."""
    elapsed = time.perf_counter() - t0
    line = _core.progress_line(steps, elapsed, list(values), verbose, _isatty())
    sys.stdout.write(line)
    sys.stdout.flush()


def _ragged_message(what, x):
    lengths = []
    for s in list(x)[:1000]:
        try:
            lengths.append(len(s))
        except TypeError:
            lengths.append(None)
    distinct = sorted({n for n in lengths if n is not None})
    if len(distinct) > 1:
        return (
            f"{what} is a ragged list of sequences (lengths from {distinct[0]} to {distinct[-1]}); "
            "pad them to one length first with keras.utils.pad_sequences(sequences, maxlen=...)"
        )
    return f"{what} could not be turned into a numeric array (elements of mixed types or shapes)"


def _as_array(x, what):
    if isinstance(x, np.ndarray):
        arr = x
    else:
        if x is None:
            raise TypeError(f"{what} is None; pass a numpy array")
        try:
            arr = np.asarray(x)
        except (ValueError, TypeError):
            raise ValueError(_ragged_message(what, x)) from None
    if arr.dtype == object:
        raise ValueError(_ragged_message(what, arr))
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{what} has dtype {arr.dtype}; expected integer token ids or floats")
    if arr.ndim == 0:
        raise ValueError(f"{what} is a scalar; expected one row per sample")
    return arr


def _as_x(x, what, ids):
    if isinstance(x, (list, tuple)) and len(x) == 1 and isinstance(x[0], np.ndarray):
        # A one-input model takes its input in a list too, as Keras's does.
        x = x[0]
    arr = _as_array(x, what)
    if ids:
        if arr.ndim != 2:
            raise ValueError(f"{what} has shape {arr.shape}, but a model starting with Embedding takes token ids of shape (samples, time_steps)")
        if arr.dtype.kind == "f":
            if arr.size and not np.all(np.isfinite(arr)) or arr.size and not np.all(arr == np.floor(arr)):
                raise TypeError(f"{what} has dtype {arr.dtype} with non-integer values, but the model starts with Embedding, which takes integer token ids")
        if arr.dtype != np.int32:
            if arr.size and (arr.min() < np.iinfo(np.int32).min or arr.max() > np.iinfo(np.int32).max):
                raise ValueError(f"{what}: token ids must fit in int32 (values from {arr.min()} to {arr.max()})")
            arr = arr.astype(np.int32)
        return np.ascontiguousarray(arr)
    if arr.dtype != np.float32:
        arr = arr.astype(np.float32)
    return arr


def _as_y(y, what):
    arr = _as_array(y, what)
    if arr.dtype != np.float32:
        arr = arr.astype(np.float32)
    return arr


def _class_weight(class_weight):
    """Keras's `class_weight` dict -> {int class: float weight}; the library checks
    the weights and that each class can occur."""
    if class_weight is None:
        return None
    if not isinstance(class_weight, dict):
        raise TypeError(f"fit: class_weight must be a dict mapping class indices to weights, got {type(class_weight).__name__}")
    out = {}
    for k, v in class_weight.items():
        try:
            key = operator.index(k)
        except TypeError:
            raise ValueError(f"fit: class_weight key {k!r} is not a class index (an int >= 0)") from None
        if key < 0:
            raise ValueError(f"fit: class_weight key {key} is not a class index (an int >= 0)")
        out[key] = float(v)
    return out


def _steps(n, batch_size):
    return max(1, math.ceil(n / batch_size))


def _verbose(verbose):
    if isinstance(verbose, str) and verbose == "auto":
        return 1
    try:
        v = operator.index(verbose)
    except TypeError:
        raise TypeError(f"verbose must be 0, 1, 2 or 'auto', got {verbose!r}") from None
    if not 0 <= v <= 2:
        raise ValueError(f"verbose must be 0, 1, 2 or 'auto', got {verbose!r}")
    return v


def _refuse_unsupported(call, steps, callbacks):
    """`steps` (for datasets and generators) and callbacks in `evaluate`/`predict` (whose
    `on_test_*`/`on_predict_*` hooks recurrent does not call) are refused, not ignored."""
    if steps is not None:
        raise ValueError(f"{call}: `steps` is not supported by recurrent (pass numpy arrays; all of them are used)")
    if callbacks:
        raise ValueError(f"{call}: `callbacks` are not supported by recurrent (only fit calls callbacks)")


def _isatty():
    try:
        return bool(sys.stdout.isatty())
    except (AttributeError, ValueError):
        return False


class Sequential:
    """Keras `Sequential`: a stack of layers trained in Rust.

    Weights are initialised from a seed (`keras.utils.set_random_seed`, default 1337),
    so the same script gives the same numbers on every run."""

    def __init__(self, layers=None, name=None, trainable=True):
        if trainable is not True:
            raise ValueError("Sequential: trainable=False is not supported by recurrent; every layer trains")
        self.name = name or _layers._uid("sequential")
        self._core = _core.Model(self.name, _utils._seed())
        self._layers = []
        self._input_shape = None
        self._batch_size = None
        self._compiled = None
        self.stop_training = False
        self.history = None
        self.optimizer = None
        for layer in layers or []:
            self.add(layer)

    # --- building ---
    def add(self, layer):
        if isinstance(layer, KerasTensor):
            if self._layers:
                raise ValueError("keras.Input(...) can only come first in a Sequential model")
            self._input_shape = layer.shape[1:]
            self._batch_size = layer.shape[0]
            return
        if isinstance(layer, _layers.InputLayer):
            self._input_shape = layer._input_shape
            self._batch_size = layer._batch_size
            return
        if not isinstance(layer, _layers.Layer):
            raise TypeError(f"Sequential.add takes a layer, got {type(layer).__name__}")
        if layer._model is not None and layer._model is not self:
            raise ValueError(f"layer `{layer.name}` already belongs to model `{layer._model.name}`")
        first = not self._layers
        if first and getattr(self, "_batch_size", None) is None:
            self._batch_size = layer._batch_size
        who = f"{type(layer).__name__} `{layer.name}`"
        config = _with_batch(layer._config(), getattr(self, "_batch_size", None))
        self._core.add(_json.dumps(config, who), who)
        self._layers.append(layer)
        layer._model = self
        if first:
            shape = self._input_shape or layer._input_shape
            if shape is None and isinstance(layer, _layers.Embedding):
                # Keras builds an Embedding-first model for sequences of any length at
                # once: `summary()` shows the parameter counts before `fit`.
                shape = (None,)
            if shape is not None:
                self._core.build([None if d is None else int(d) for d in shape])

    def pop(self):
        raise NotImplementedError("Sequential.pop is not supported by recurrent; build a new model")

    def build(self, input_shape=None):
        if input_shape is None:
            return
        shape = tuple(input_shape)[1:]
        if not self._core.built:
            self._core.build([None if d is None else int(d) for d in shape])

    @property
    def built(self):
        return self._core.built

    @property
    def layers(self):
        return list(self._layers)

    @property
    def input_shape(self):
        s = self._core.input_shape
        return None if s is None else (None,) + tuple(s)

    @property
    def output_shape(self):
        s = self._core.output_shape
        return None if s is None else (None,) + tuple(s)

    def get_layer(self, name=None, index=None):
        if index is not None:
            return self._layers[index]
        for layer in self._layers:
            if layer.name == name:
                return layer
        raise ValueError(f"no layer named `{name}` in model `{self.name}`")

    def _wants_ids(self):
        first = self._layers[0] if self._layers else None
        if first is None:
            raise ValueError(f"model `{self.name}` has no layers")
        # Asked on every predict call: cached (a config dict per call shows in the
        # latency of one-sample predicts).
        cached = getattr(self, "_ids_of", None)
        if cached is None or cached[0] is not first:
            cached = (first, first._config().get("type") == "embedding")
            self._ids_of = cached
        return cached[1]

    def summary(self, line_length=None, positions=None, print_fn=None, **kwargs):
        text = self._core.summary()
        (print_fn or print)(text.rstrip("\n"))

    def reset_states(self):
        """Keras 2's `model.reset_states()`: every stateful layer starts its next batch
        from zero states (Keras 3 has only the layers' `reset_states()`)."""
        self._core.reset_states(None)

    def count_params(self):
        return self._core.count_params()

    # --- training ---
    def compile(self, optimizer="rmsprop", loss=None, loss_weights=None, metrics=None, weighted_metrics=None, run_eagerly=False, steps_per_execution=1, jit_compile="auto", auto_scale_loss=True):
        if loss is None:
            raise ValueError("compile: `loss` is required (e.g. loss='binary_crossentropy')")
        if loss_weights is not None:
            raise ValueError("compile: loss_weights is not supported by recurrent (one output)")
        opt = _optimizers.get(optimizer)
        loss_name = _losses._name(loss)
        names = []
        specs = []
        for m in metrics or []:
            user, spec = _metrics._name(m)
            names.append(user)
            specs.append(_json.dumps(spec, f"compile: metric {user!r}"))
        weighted_specs = [_json.dumps(_metrics._name(m)[1], "compile: weighted_metrics") for m in weighted_metrics or []]
        self._core.compile(_json.dumps(opt._config(), f"optimizer {type(opt).__name__}"), loss_name, specs, weighted_specs)
        # The weighted metrics' logged names, as the engine chose them (`weighted_<name>`
        # beside a metric of the same name, as Keras's CompileMetrics names them).
        names += self._core.compile_config()[2][len(names):]
        opt._bind(self._core)
        self.optimizer = opt
        self.loss = loss
        # The engine logs each metric under the name it was given, as Keras does
        # (`acc` stays `acc`, `AUC(name="pr")` is `pr`).
        self._renames = {}
        self._compiled = (opt, loss_name, names)

    def _rename(self, logs):
        if not self._renames:
            return dict(logs)
        out = {}
        for k, v in logs.items():
            base = k[4:] if k.startswith("val_") else k
            prefix = "val_" if k.startswith("val_") else ""
            out[prefix + self._renames.get(base, base)] = v
        return out

    def _monitor_name(self, name):
        """A monitored name as the user wrote it (`val_acc`) -> as Rust logs it."""
        for rust, user in self._renames.items():
            if name == user:
                return rust
            if name == "val_" + user:
                return "val_" + rust
        return name

    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None, validation_split=0.0, validation_data=None, shuffle=True, class_weight=None, sample_weight=None, initial_epoch=0, steps_per_epoch=None, validation_steps=None, validation_batch_size=None, validation_freq=1):
        if self._compiled is None:
            raise RuntimeError(f"model `{self.name}` must be compiled before fit: call model.compile(optimizer, loss, metrics)")
        for arg, value in (("steps_per_epoch", steps_per_epoch), ("validation_steps", validation_steps), ("validation_batch_size", validation_batch_size)):
            if value is not None:
                raise ValueError(f"fit: `{arg}` is not supported by recurrent")
        if validation_freq != 1:
            raise ValueError("fit: validation_freq other than 1 is not supported by recurrent")
        if y is None:
            raise ValueError("fit: `y` is required (datasets and generators are not supported: pass numpy arrays)")
        for arg, value in (("epochs", epochs), ("initial_epoch", initial_epoch)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
                raise ValueError(f"fit: `{arg}` must be a non-negative integer, got {value!r}")
        if not 0.0 <= float(validation_split) < 1.0:
            raise ValueError(f"invalid argument `validation_split` for fit: must be in [0, 1), got {validation_split}")
        ids = self._wants_ids()
        xa = _as_x(x, "x", ids)
        ya = _as_y(y, "y")
        val = None
        val_sw = None
        if validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
                raise ValueError("fit: validation_data must be a tuple (x_val, y_val) or (x_val, y_val, val_sample_weights)")
            val = (_as_x(validation_data[0], "validation_data x", ids), _as_y(validation_data[1], "validation_data y"))
            if len(validation_data) == 3 and validation_data[2] is not None:
                val_sw = _as_y(validation_data[2], "validation_data sample weights")
        cw = _class_weight(class_weight)
        sw = None if sample_weight is None else _as_y(sample_weight, "sample_weight")
        bs = 32 if batch_size is None else int(batch_size)
        if bs < 1:
            raise ValueError(f"fit: batch_size must be at least 1, got {batch_size}")
        n = len(xa)
        vs = float(validation_split)
        train_len = n if (val is not None or vs <= 0.0) else math.floor(n * (1.0 - vs))
        steps = _steps(train_len, bs)
        verbose = _verbose(verbose)
        python_cbs, builtins = _split_callbacks(callbacks, self)
        history = History(model=self, params={"verbose": verbose, "epochs": epochs, "steps": steps})
        dispatch = _Dispatch(python_cbs, self)
        self.stop_training = False
        hist, epoch = self._core.fit(
            xa,
            ya,
            bs,
            int(epochs),
            verbose,
            vs,
            val,
            bool(shuffle),
            int(initial_epoch),
            builtins,
            dispatch,
            dispatch.wants_batches(),
            steps,
            _isatty(),
            class_weight=cw,
            sample_weight=sw,
            val_sample_weight=val_sw,
        )
        history.history = self._rename(hist)
        history.epoch = list(epoch)
        self.history = history
        return history

    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", sample_weight=None, steps=None, callbacks=None, return_dict=False):
        if self._compiled is None:
            raise RuntimeError(f"model `{self.name}` must be compiled before evaluate")
        _refuse_unsupported("evaluate", steps, callbacks)
        verbose = _verbose(verbose)
        xa = _as_x(x, "x", self._wants_ids())
        ya = _as_y(y, "y")
        sw = None if sample_weight is None else _as_y(sample_weight, "sample_weight")
        bs = 32 if batch_size is None else int(batch_size)
        t0 = time.perf_counter()
        logs = self._rename(self._core.evaluate(xa, ya, bs, sample_weight=sw))
        if verbose:
            _print_progress(_steps(len(xa), bs), t0, logs.items(), verbose)
        if return_dict:
            return logs
        names = self._compiled[2]
        if not names:
            return logs["loss"]
        return [logs["loss"]] + [logs[m] for m in names]

    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None):
        _refuse_unsupported("predict", steps, callbacks)
        verbose = _verbose(verbose)
        xa = _as_x(x, "x", self._wants_ids())
        bs = 32 if batch_size is None else int(batch_size)
        t0 = time.perf_counter()
        out = self._core.predict(xa, bs)
        if verbose:
            _print_progress(_steps(len(xa), bs), t0, (), verbose)
        return out

    def __call__(self, x, training=False):
        return self.predict(x, verbose=0)

    # --- weights and files ---
    def get_weights(self):
        return [w for _, w in self._core.get_weights()]

    @property
    def weights(self):
        return self.get_weights()

    # Every weight recurrent has is trained (no BatchNormalization statistics).
    @property
    def trainable_weights(self):
        return self.get_weights()

    trainable_variables = trainable_weights

    @property
    def non_trainable_weights(self):
        return []

    @property
    def metrics_names(self):
        """`["loss", "acc"]`: the order of `evaluate`'s list (as Keras 2 names it, so
        `dict(zip(model.metrics_names, model.evaluate(x, y)))` works)."""
        if self._compiled is None:
            return []
        return ["loss"] + list(self._compiled[2])

    def set_weights(self, weights):
        shapes = self._core.weight_shapes()
        weights = list(weights)
        if len(weights) != len(shapes):
            raise ValueError(f"set_weights: model `{self.name}` has {len(shapes)} weight arrays ({', '.join(n for n, _ in shapes)}), {len(weights)} were given")
        arrays = []
        for (name, shape), w in zip(shapes, weights):
            a = _as_array(w, f"weight `{name}`")
            if tuple(a.shape) != tuple(shape):
                raise ValueError(f"set_weights: weight `{name}` has shape {tuple(a.shape)}, the model needs {tuple(shape)}")
            arrays.append(np.ascontiguousarray(a, dtype=np.float32))
        self._core.set_weights(arrays)

    def save(self, filepath, overwrite=True, **kwargs):
        """Save under the name given: a `.keras` name gets a Keras 3 archive, `.h5` /
        `.hdf5` a legacy Keras HDF5 file (architecture, weights, compile settings; Keras
        loads both), any other name recurrent's model file (safetensors, also the
        optimizer state). `load_model` reads all of them."""
        import os

        path = os.fspath(filepath)
        if not overwrite and os.path.exists(path):
            raise FileExistsError(f"{path} exists and overwrite=False")
        self._core.save(path)

    def save_weights(self, filepath, overwrite=True):
        import os

        self._core.save_weights(os.fspath(filepath))

    def load_weights(self, filepath, skip_mismatch=False):
        import os

        self._core.load_weights(os.fspath(filepath))

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}, {len(self._layers)} layers>"


def _model_trainable_setter(self, value):
    if not value:
        raise ValueError(f"model `{self.name}`: trainable=False (freezing the model) is not supported by recurrent; every layer trains")


Sequential.trainable = property(lambda self: True, _model_trainable_setter)


class Model(Sequential):
    """Keras functional `Model(inputs, outputs)` for a single chain of layers
    (`x = keras.Input(shape=(100,)); y = layers.Dense(1)(layers.LSTM(8)(layers.Embedding(500, 16)(x)))`)."""

    def __init__(self, inputs=None, outputs=None, name=None, **kwargs):
        if kwargs.get("trainable", True) is not True:
            raise ValueError("Model: trainable=False is not supported by recurrent")
        if inputs is None or outputs is None:
            raise ValueError("keras.Model(inputs, outputs): subclassed models are not supported by recurrent; pass the Input and the output of its layer chain")
        if isinstance(inputs, (list, tuple, dict)) or isinstance(outputs, (list, tuple, dict)):
            if isinstance(inputs, (list, tuple)) and len(inputs) == 1:
                inputs = inputs[0]
            if isinstance(outputs, (list, tuple)) and len(outputs) == 1:
                outputs = outputs[0]
            if isinstance(inputs, (list, tuple, dict)) or isinstance(outputs, (list, tuple, dict)):
                raise ValueError("keras.Model: recurrent supports one input and one output (a single chain of layers)")
        if not isinstance(inputs, KerasTensor) or not isinstance(outputs, KerasTensor):
            raise TypeError("keras.Model(inputs, outputs) takes keras.Input(...) and a layer output computed from it")
        if outputs._origin is not inputs or inputs._chain:
            raise ValueError("keras.Model: `outputs` must be computed from `inputs` by a chain of layer calls")
        super().__init__(name=name or _layers._uid("functional"))
        self._input_shape = inputs.shape[1:]
        self._batch_size = inputs.shape[0]
        for layer in outputs._chain:
            self.add(layer)
        if not self._core.built:
            self._core.build([None if d is None else int(d) for d in self._input_shape])


def _from_core(core):
    """A Python model around a Rust model read from a file."""
    m = Sequential.__new__(Sequential)
    m._core = core
    m.name = core.name
    m._input_shape = None
    m.stop_training = False
    m.history = None
    m._layers = []
    for c in core.layer_configs():
        layer = _layers._FromConfig(json.loads(c))
        layer._model = m
        m._layers.append(layer)
    m._compiled = None
    m._renames = {}
    m.optimizer = None
    cc = core.compile_config()
    if cc is not None:
        opt_json, loss, metrics = cc
        m.optimizer = _optimizers._from_config(json.loads(opt_json))
        m.loss = loss
        m.optimizer._bind(core)
        m._compiled = (m.optimizer, loss, list(metrics))
    return m
