"""`recurrent`: the Keras RNN tutorials (SimpleRNN, LSTM, GRU) on a Rust CPU engine.

A tutorial written for Keras runs with its import lines changed and nothing else:

    from tensorflow import keras            ->  from recurrent import keras
    from tensorflow.keras.X import Y        ->  from recurrent.keras.X import Y
    import tensorflow as tf                 ->  import recurrent as tf

`recurrent.keras` is laid out as Keras's namespace; the models train in Rust with the
GIL released (see `recurrent.keras.Sequential`).
"""

import threading as _threading

from . import _core
from . import keras

# The main thread joins the engine's thread pool, as the `recurrent` command's does
# (see `join_rayon_pool` in src/lib.rs): training from Python then runs as from Rust,
# also with one thread (calls from other threads then use a side pool).
if _threading.current_thread() is _threading.main_thread():
    _core.join_rayon_pool()

__version__ = _core.__version__

# `import recurrent as tf` then `tf.keras...`, `tf.random.set_seed(...)`.
random = keras.utils._random_namespace

__all__ = ["keras", "random", "__version__"]
