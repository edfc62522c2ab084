"""`recurrent.keras`: Keras's API (the parts the RNN tutorials use), backed by Rust.

Imports resolve as in Keras: `keras.Sequential`, `keras.Model`, `keras.Input`,
`keras.layers`, `keras.models`, `keras.optimizers`, `keras.losses`, `keras.metrics`,
`keras.callbacks`, `keras.datasets.{imdb, reuters}`, `keras.preprocessing.sequence`,
`keras.utils`, `keras.initializers`, `keras.optimizers.schedules`, `keras.backend`.
"""

from . import (
    backend,
    callbacks,
    datasets,
    initializers,
    layers,
    losses,
    metrics,
    models,
    optimizers,
    preprocessing,
    utils,
)
from ._engine import History, Input, Model, Sequential
from .models import load_model

__version__ = "3 (recurrent)"

__all__ = [
    "Sequential",
    "Model",
    "Input",
    "History",
    "load_model",
    "backend",
    "callbacks",
    "datasets",
    "initializers",
    "layers",
    "losses",
    "metrics",
    "models",
    "optimizers",
    "preprocessing",
    "utils",
]
