"""`keras.callbacks`: `Callback` subclasses, `LambdaCallback` and
`LearningRateScheduler` run in Python; the built-in ones (`EarlyStopping`,
`ModelCheckpoint`, `CSVLogger`, `ReduceLROnPlateau`, `TerminateOnNaN`) run in Rust with
the arguments given here, and print their messages (verbose=1) to `sys.stdout`.

Python hooks called during `fit`: `on_train_begin`, `on_epoch_begin`,
`on_train_batch_end` (and its old name `on_batch_end`), `on_epoch_end`,
`on_train_end`, with `self.model` set. The whole epoch runs in Rust: the interpreter
is entered between batches only when a callback overrides a batch hook (checked once
per `fit`, as Keras's `_should_call_train_batch_hooks`), else every few milliseconds
to run Python's signal handlers (Ctrl-C). `self.model.stop_training = True` set in
`on_train_batch_end` ends training after that batch (validation and `on_epoch_end`
still run, as in Keras 3); set in `on_epoch_end`, after that epoch. `self.model` can be
used (weights, optimizer, save) in every hook but the batch ones.

`ModelCheckpoint('best-lstm-model.h5')` writes a legacy Keras HDF5 file (`.keras`: a
Keras 3 archive) that Keras itself loads; other names get recurrent's own model file.
`keras.models.load_model` reads both.
"""

import os

import numpy as np


class Callback:
    def __init__(self):
        self.model = None
        self.params = {}

    def set_model(self, model):
        self.model = model

    def set_params(self, params):
        self.params = params

    def on_train_begin(self, logs=None):
        pass

    def on_train_end(self, logs=None):
        pass

    def on_epoch_begin(self, epoch, logs=None):
        pass

    def on_epoch_end(self, epoch, logs=None):
        pass

    def on_train_batch_begin(self, batch, logs=None):
        pass

    def on_train_batch_end(self, batch, logs=None):
        pass

    def on_batch_begin(self, batch, logs=None):
        pass

    def on_batch_end(self, batch, logs=None):
        pass


class LambdaCallback(Callback):
    """Keras `LambdaCallback(on_epoch_begin=..., on_epoch_end=..., on_train_begin=...,
    on_train_end=..., on_train_batch_end=..., on_batch_end=...)`."""

    def __init__(self, on_epoch_begin=None, on_epoch_end=None, on_train_begin=None, on_train_end=None, on_train_batch_begin=None, on_train_batch_end=None, on_batch_begin=None, on_batch_end=None, **kwargs):
        super().__init__()
        self._hooks = {
            "on_epoch_begin": on_epoch_begin,
            "on_epoch_end": on_epoch_end,
            "on_train_begin": on_train_begin,
            "on_train_end": on_train_end,
            "on_train_batch_end": on_train_batch_end or on_batch_end,
        }
        for name, fn in self._hooks.items():
            if fn is not None:
                setattr(self, name, fn)


class LearningRateScheduler(Callback):
    """Keras `LearningRateScheduler(schedule, verbose=0)`: at the start of each epoch the
    optimizer's rate becomes `schedule(epoch, lr)` (or `schedule(epoch)`, Keras's old
    form); the rate is logged as `learning_rate`, as Keras 3 logs it."""

    _logs_learning_rate = True

    def __init__(self, schedule, verbose=0):
        super().__init__()
        self.schedule = schedule
        self.verbose = verbose

    def on_epoch_begin(self, epoch, logs=None):
        try:
            learning_rate = float(self.model.optimizer.learning_rate)
            learning_rate = self.schedule(epoch, learning_rate)
        except TypeError:
            learning_rate = self.schedule(epoch)
        if not isinstance(learning_rate, (float, int, np.floating, np.integer)) or isinstance(learning_rate, bool):
            raise ValueError(f"The output of the `schedule` function should be a float. Got: {learning_rate}")
        self.model.optimizer.learning_rate = float(learning_rate)
        if self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: LearningRateScheduler setting learning rate to {learning_rate}.")


class _Builtin(Callback):
    """A callback that runs in Rust: (Keras class name, arguments)."""

    _kind = None

    def _args(self, model):
        raise NotImplementedError


def _mode(mode):
    if mode not in ("auto", "min", "max"):
        raise ValueError(f"mode must be 'auto', 'min' or 'max', got {mode!r}")
    return mode


class EarlyStopping(_Builtin):
    _kind = "EarlyStopping"

    def __init__(self, monitor="val_loss", min_delta=0, patience=0, verbose=0, mode="auto", baseline=None, restore_best_weights=False, start_from_epoch=0):
        super().__init__()
        self.monitor, self.min_delta, self.patience, self.verbose = monitor, float(min_delta), int(patience), int(verbose)
        self.mode, self.baseline, self.restore_best_weights, self.start_from_epoch = _mode(mode), baseline, bool(restore_best_weights), int(start_from_epoch)

    def _args(self, model):
        return {
            "monitor": model._monitor_name(self.monitor),
            "min_delta": self.min_delta,
            "patience": self.patience,
            "verbose": self.verbose,
            "mode": self.mode,
            "baseline": None if self.baseline is None else float(self.baseline),
            "restore_best_weights": self.restore_best_weights,
            "start_from_epoch": self.start_from_epoch,
        }


class ModelCheckpoint(_Builtin):
    _kind = "ModelCheckpoint"

    def __init__(self, filepath, monitor="val_loss", verbose=0, save_best_only=False, save_weights_only=False, mode="auto", save_freq="epoch", initial_value_threshold=None):
        super().__init__()
        if save_freq != "epoch":
            raise ValueError("ModelCheckpoint: only save_freq='epoch' is supported by recurrent")
        self.filepath = os.fspath(filepath)
        self.monitor, self.verbose, self.save_best_only, self.save_weights_only = monitor, int(verbose), bool(save_best_only), bool(save_weights_only)
        self.mode, self.initial_value_threshold = _mode(mode), initial_value_threshold

    def _args(self, model):
        return {
            "filepath": self.filepath,
            "monitor": model._monitor_name(self.monitor),
            "verbose": self.verbose,
            "save_best_only": self.save_best_only,
            "save_weights_only": self.save_weights_only,
            "mode": self.mode,
            "initial_value_threshold": None if self.initial_value_threshold is None else float(self.initial_value_threshold),
        }


class CSVLogger(_Builtin):
    _kind = "CSVLogger"

    def __init__(self, filename, separator=",", append=False):
        super().__init__()
        self.filename, self.separator, self.append = os.fspath(filename), separator, bool(append)

    def _args(self, model):
        return {"filename": self.filename, "separator": self.separator, "append": self.append}


class ReduceLROnPlateau(_Builtin):
    _kind = "ReduceLROnPlateau"

    def __init__(self, monitor="val_loss", factor=0.1, patience=10, verbose=0, mode="auto", min_delta=1e-4, cooldown=0, min_lr=0.0, **kwargs):
        super().__init__()
        if "epsilon" in kwargs:
            min_delta = kwargs.pop("epsilon")
        if kwargs:
            raise ValueError(f"ReduceLROnPlateau: unknown arguments {sorted(kwargs)}")
        self.monitor, self.factor, self.patience, self.verbose = monitor, float(factor), int(patience), int(verbose)
        self.mode, self.min_delta, self.cooldown, self.min_lr = _mode(mode), float(min_delta), int(cooldown), float(min_lr)

    def _args(self, model):
        return {
            "monitor": model._monitor_name(self.monitor),
            "factor": self.factor,
            "patience": self.patience,
            "verbose": self.verbose,
            "mode": self.mode,
            "min_delta": self.min_delta,
            "cooldown": self.cooldown,
            "min_lr": self.min_lr,
        }


class TerminateOnNaN(_Builtin):
    _kind = "TerminateOnNaN"

    def _args(self, model):
        return {}


class History(Callback):
    pass


def _split_callbacks(callbacks, model):
    """(Python callbacks, [(kind, JSON args)] of the Rust ones)."""
    from . import _json

    python, rust = [], []
    for cb in callbacks or []:
        if isinstance(cb, _Builtin):
            rust.append((cb._kind, _json.dumps(cb._args(model), type(cb).__name__)))
        elif isinstance(cb, Callback):
            python.append(cb)
        else:
            raise TypeError(f"callbacks must be keras.callbacks.Callback instances, got {type(cb).__name__}")
    return python, rust


def _overrides(cb, name):
    if isinstance(cb, LambdaCallback):
        return cb._hooks.get(name) is not None
    return getattr(type(cb), name) is not getattr(Callback, name)


class _Dispatch:
    """Called from the Rust training loop (with the GIL) for the Python callbacks."""

    def __init__(self, callbacks, model):
        self.callbacks = callbacks
        self.model = model

    def wants_batches(self):
        return any(_overrides(cb, "on_train_batch_end") or _overrides(cb, "on_batch_end") for cb in self.callbacks)

    def logs_learning_rate(self):
        return any(getattr(cb, "_logs_learning_rate", False) for cb in self.callbacks)

    # Each hook returns `model.stop_training`, which the engine checks after every
    # batch (as Keras 3 does).
    def on_train_begin(self):
        for cb in self.callbacks:
            cb.set_model(self.model)
            cb.on_train_begin(None)
        return bool(self.model.stop_training)

    def on_epoch_begin(self, epoch):
        for cb in self.callbacks:
            cb.on_epoch_begin(epoch, None)
        return bool(self.model.stop_training)

    def on_train_batch_end(self, batch, logs):
        logs = self.model._rename(logs)
        for cb in self.callbacks:
            cb.on_train_batch_end(batch, logs)
            if _overrides(cb, "on_batch_end"):
                cb.on_batch_end(batch, logs)
        return bool(self.model.stop_training)

    def on_epoch_end(self, epoch, logs):
        logs = self.model._rename(logs)
        for cb in self.callbacks:
            cb.on_epoch_end(epoch, logs)
        return bool(self.model.stop_training)

    def on_train_end(self, logs):
        logs = self.model._rename(logs)
        for cb in self.callbacks:
            cb.on_train_end(logs)
