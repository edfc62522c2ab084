"""`keras.utils`: `pad_sequences`, `to_categorical`, `set_random_seed`."""

import random as _py_random
import types

import numpy as np

from .preprocessing.sequence import pad_sequences

_DEFAULT_SEED = 1337
_state = {"seed": None, "models": 0}


def set_random_seed(seed):
    """Seed Python's `random`, numpy's global generator and every model created
    afterwards (weights, shuffling, dropout), as Keras's `set_random_seed`."""
    # Keras seeds numpy with it, which takes 0 to 2**32 - 1.
    if not isinstance(seed, (int, np.integer)) or not 0 <= seed <= 2**32 - 1:
        raise ValueError(f"set_random_seed: seed must be an integer between 0 and 2**32 - 1, got {seed!r}")
    seed = int(seed)
    _py_random.seed(seed)
    np.random.seed(seed)
    _state["seed"] = seed
    _state["models"] = 0


def _seed():
    """The seed of a new model: the one set (successive models get successive seeds so
    two models of one script do not start from identical weights), else 1337."""
    base = _DEFAULT_SEED if _state["seed"] is None else _state["seed"]
    n = _state["models"]
    _state["models"] += 1
    return base + n


def to_categorical(x, num_classes=None):
    """Class ids to one-hot float32 rows (Keras's `to_categorical`, any input shape:
    (n,) -> (n, classes), (n, t) -> (n, t, classes))."""
    x = np.asarray(x)
    if x.dtype == object or x.dtype.kind not in "biuf":
        raise TypeError(f"to_categorical takes integer class ids, got dtype {x.dtype}")
    if x.dtype.kind == "f":
        if x.size and not np.all(x == np.floor(x)):
            raise ValueError("to_categorical takes integer class ids; the input has non-integer values")
    x = x.astype(np.int64)
    input_shape = x.shape
    if input_shape and input_shape[-1] == 1 and len(input_shape) > 1:
        input_shape = input_shape[:-1]
    x = x.reshape(-1)
    if x.size and x.min() < 0:
        raise ValueError(f"to_categorical: class ids must be >= 0, found {x.min()}")
    if num_classes is None:
        num_classes = int(x.max()) + 1 if x.size else 0
    elif x.size and x.max() >= num_classes:
        raise ValueError(f"to_categorical: class id {x.max()} is not below num_classes={num_classes}")
    out = np.zeros((x.shape[0], num_classes), dtype=np.float32)
    out[np.arange(x.shape[0]), x] = 1.0
    return out.reshape(input_shape + (num_classes,))


# `import recurrent as tf; tf.random.set_seed(42)`.
_random_namespace = types.SimpleNamespace(set_seed=set_random_seed)

__all__ = ["pad_sequences", "to_categorical", "set_random_seed"]
