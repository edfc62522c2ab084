"""`keras.models`: `Sequential`, `Model`, `load_model`."""

import os

from .. import _core
from ._engine import Model, Sequential, _from_core


def load_model(filepath, custom_objects=None, compile=True, safe_mode=True):
    """Read a model saved by `model.save` / `ModelCheckpoint` (recurrent's file, any
    suffix), or a Keras `.keras` archive or legacy `.h5` file (converted on load)."""
    return _from_core(_core.Model.load(os.fspath(filepath)))


__all__ = ["Sequential", "Model", "load_model"]
