"""`keras.backend`: the few functions the RNN tutorials call.

`clear_session()` resets what Keras's does for a script: the automatic layer and model
names (`lstm`, `lstm_1`, ... start again) and the seed counter of new models (the next
model draws its weights from the seed set by `keras.utils.set_random_seed`, as a fresh
session would). Models already made keep working: each owns its Rust model."""

import numpy as np

from . import layers as _layers
from . import utils as _utils


def clear_session(free_memory=True):
    _layers._UIDS.clear()
    _utils._state["models"] = 0


def get_value(x):
    """A learning rate (`model.optimizer.learning_rate`) or array as numpy."""
    if hasattr(x, "numpy"):
        return x.numpy()
    return np.asarray(x)


def set_value(x, value):
    """`set_value(model.optimizer.learning_rate, 1e-4)`: sets the optimizer's rate."""
    if not hasattr(x, "assign"):
        raise TypeError(f"set_value takes a variable read from recurrent (e.g. model.optimizer.learning_rate), got {type(x).__name__}")
    x.assign(value)


def backend():
    return "recurrent"


def floatx():
    return "float32"


def epsilon():
    return 1e-7
