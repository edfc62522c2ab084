"""`keras.optimizers`: SGD, RMSprop, Adam, AdamW, Adagrad, Nadam with Keras's arguments
and defaults (the strings "sgd", "rmsprop", "adam", "adamw", "adagrad", "nadam" give
the defaults), `weight_decay`, gradient clipping, and a
`keras.optimizers.schedules` object as `learning_rate`.

After `compile`, `model.optimizer.learning_rate` reads the rate the engine will use
for its next step (changed by ReduceLROnPlateau and LearningRateScheduler), and
assigning it (`model.optimizer.learning_rate = 1e-4`, or `.learning_rate.assign(..)`)
sets the engine's rate, as in Keras.
"""

import sys

import numpy as np

from . import schedules

# `from recurrent.keras.optimizers.schedules import ExponentialDecay`, as Keras's path.
sys.modules[__name__ + ".schedules"] = schedules


class _LearningRate(float):
    """A learning rate read from an optimizer: a float with Keras's variable methods
    (`.numpy()`, `.assign(v)`), so `float(lr)`, `lr.numpy()` and
    `keras.backend.set_value(opt.learning_rate, v)` work."""

    def __new__(cls, value, optimizer):
        self = super().__new__(cls, value)
        self._optimizer = optimizer
        return self

    def numpy(self):
        return np.float32(self)

    def assign(self, value):
        self._optimizer.learning_rate = value
        return self._optimizer.learning_rate


class Optimizer:
    _type = None
    _core = None

    def __init__(self, learning_rate, args, kwargs):
        self._schedule = None
        if isinstance(learning_rate, schedules.LearningRateSchedule):
            self._schedule = learning_rate
            learning_rate = learning_rate._initial()
        self._args = {"learning_rate": float(learning_rate)}
        self._args.update(args)
        self._args.update(_common(kwargs, type(self).__name__))

    def _config(self):
        c = {"type": self._type}
        c.update(self._args)
        if self._schedule is not None:
            c["learning_rate"] = self._schedule._config()
        return c

    def get_config(self):
        c = dict(self._args)
        if self._schedule is not None:
            c["learning_rate"] = self._schedule
        return c

    def _bind(self, core):
        """Called by `compile`: from now on the rate lives in the engine's model."""
        self._core = core

    @property
    def learning_rate(self):
        core = self._core
        value = core.learning_rate() if core is not None else self._args["learning_rate"]
        if self._schedule is not None and core is None:
            value = self._schedule(0)
        return _LearningRate(value, self)

    @learning_rate.setter
    def learning_rate(self, value):
        if isinstance(value, schedules.LearningRateSchedule):
            raise TypeError(f"{type(self).__name__}: a schedule can only be given when the optimizer is created")
        value = float(value)
        if self._core is not None:
            self._core.set_learning_rate(value)
        self._args["learning_rate"] = value

    # Keras 2 spelling.
    lr = learning_rate

    @property
    def iterations(self):
        return 0 if self._core is None else self._core.optimizer_iterations()

    def __repr__(self):
        return f"<{type(self).__name__} {self._config()}>"


_IGNORED_DEFAULTS = {
    "name": None,
    "use_ema": False,
    "ema_momentum": 0.99,
    "ema_overwrite_frequency": None,
    "loss_scale_factor": None,
    "gradient_accumulation_steps": None,
}


def _common(kwargs, name):
    """The arguments every Keras optimizer takes: clipping and `weight_decay`;
    the EMA / loss-scaling ones only at their defaults (refused otherwise)."""
    out = {}
    for k in ("clipnorm", "clipvalue", "global_clipnorm", "weight_decay"):
        v = kwargs.pop(k, None)
        if v is not None:
            out[k] = float(v)
    for k, v in kwargs.items():
        if k == "name" or (k in _IGNORED_DEFAULTS and v == _IGNORED_DEFAULTS[k]):
            continue
        raise ValueError(f"{name}: argument `{k}={v!r}` is not supported by recurrent")
    return out


class SGD(Optimizer):
    _type = "sgd"

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, **kwargs):
        super().__init__(learning_rate, {"momentum": float(momentum), "nesterov": bool(nesterov)}, kwargs)


class RMSprop(Optimizer):
    _type = "rmsprop"

    def __init__(self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False, **kwargs):
        super().__init__(learning_rate, {"rho": float(rho), "momentum": float(momentum), "epsilon": float(epsilon), "centered": bool(centered)}, kwargs)


class Adam(Optimizer):
    _type = "adam"

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False, **kwargs):
        super().__init__(learning_rate, {"beta_1": float(beta_1), "beta_2": float(beta_2), "epsilon": float(epsilon), "amsgrad": bool(amsgrad)}, kwargs)


class AdamW(Optimizer):
    _type = "adamw"

    def __init__(self, learning_rate=0.001, weight_decay=0.004, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False, **kwargs):
        if weight_decay is None:
            raise ValueError("AdamW: weight_decay must be a number (Keras's default is 0.004)")
        super().__init__(learning_rate, {"weight_decay": float(weight_decay), "beta_1": float(beta_1), "beta_2": float(beta_2), "epsilon": float(epsilon), "amsgrad": bool(amsgrad)}, kwargs)


class Adagrad(Optimizer):
    _type = "adagrad"

    def __init__(self, learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7, **kwargs):
        super().__init__(learning_rate, {"initial_accumulator_value": float(initial_accumulator_value), "epsilon": float(epsilon)}, kwargs)


class Nadam(Optimizer):
    _type = "nadam"

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, **kwargs):
        super().__init__(learning_rate, {"beta_1": float(beta_1), "beta_2": float(beta_2), "epsilon": float(epsilon)}, kwargs)


_BY_NAME = {"sgd": SGD, "rmsprop": RMSprop, "adam": Adam, "adamw": AdamW, "adagrad": Adagrad, "nadam": Nadam}


def get(identifier):
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, str) and identifier.lower() in _BY_NAME:
        return _BY_NAME[identifier.lower()]()
    raise ValueError(f"unknown optimizer {identifier!r}; use one of {sorted(_BY_NAME)} or a keras.optimizers object")


def _from_config(c):
    """An optimizer object from the engine's config (a model read from a file)."""
    c = dict(c)
    cls = _BY_NAME[c.pop("type")]
    opt = cls.__new__(cls)
    opt._schedule = None
    sched = c.pop("learning_rate_schedule", None)
    if sched is not None:
        opt._schedule = schedules._from_config(sched)
    opt._args = {k: v for k, v in c.items() if v is not None}
    return opt


__all__ = ["Optimizer", "SGD", "RMSprop", "Adam", "AdamW", "Adagrad", "Nadam", "schedules", "get"]
