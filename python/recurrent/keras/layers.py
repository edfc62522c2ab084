"""`keras.layers`: every layer `recurrent` has, with Keras's argument names and defaults.

A layer object only holds its arguments; adding it to a model turns them into the
Rust layer (`LayerConfig`, the same JSON the CLI's TOML and saved models use).
Arguments Keras has and `recurrent` does not implement are refused by name when set to
a non-default value (never silently ignored).
"""

import itertools
from collections import defaultdict

import numpy as np

from .. import _core

_UIDS = defaultdict(itertools.count)


def _uid(prefix):
    """Keras's `backend.get_uid`: `lstm`, `lstm_1`, ... over the whole session."""
    n = next(_UIDS[prefix])
    return prefix if n == 0 else f"{prefix}_{n}"


_ACTIVATIONS = {None: "linear", "linear": "linear", "relu": "relu", "sigmoid": "sigmoid", "tanh": "tanh", "softmax": "softmax"}


def _activation(value, layer, arg):
    if callable(value) and getattr(value, "__name__", None) in _ACTIVATIONS:
        value = value.__name__
    if value not in _ACTIVATIONS:
        raise ValueError(f"{layer}: {arg}={value!r} is not supported; use one of {sorted(k for k in _ACTIVATIONS if k)} or None")
    return _ACTIVATIONS[value]


def _initializer(value, layer, arg):
    """An initializer as the engine reads it: a Keras name (any of
    `keras.initializers`' names, checked by the engine), a config dict, or a
    `keras.initializers` object or class."""
    from . import initializers

    if isinstance(value, type) and issubclass(value, initializers.Initializer):
        value = value()
    if isinstance(value, dict):
        return value
    if hasattr(value, "_config"):
        return value._config()
    if isinstance(value, str):
        return value
    raise ValueError(f"{layer}: {arg}={value!r} is not an initializer; pass a name ('glorot_uniform', 'orthogonal', ...) or a keras.initializers object")


def _is_float32(v):
    try:
        return v is None or np.dtype(v) == np.float32
    except TypeError:
        return False


# Keras arguments that change nothing here when given these values (every layer
# computes in float32 and trains; `unroll` only changes how TensorFlow builds the loop).
_IGNORABLE = {"dtype": _is_float32, "trainable": lambda v: v is True, "unroll": lambda v: True}


def _refuse(layer, kwargs, allowed=()):
    """Keras arguments we accept and ignore (`dtype="float32"`, `trainable=True`, ...),
    or refuse, naming them: `trainable=False` or `dtype="float64"` would otherwise give
    other numbers than Keras's without a word."""
    for k, v in kwargs.items():
        if k in allowed:
            continue
        if k in _IGNORABLE:
            if _IGNORABLE[k](v):
                continue
        elif v is None or v is False:
            continue
        raise ValueError(f"{layer}: argument `{k}={v!r}` is not supported by recurrent")


def _shape(shape, who):
    """An input shape without the batch axis: a tuple of positive ints or None (any
    length). Refused here, naming `who`, as Keras refuses it when building."""
    if shape is None:
        return None
    if isinstance(shape, (int, np.integer)):
        shape = (shape,)
    try:
        dims = tuple(shape)
    except TypeError:
        raise TypeError(f"{who}: shape must be a tuple of positive integers or None, got {shape!r}") from None
    for d in dims:
        if d is not None and (not isinstance(d, (int, np.integer)) or isinstance(d, bool) or d < 1):
            raise ValueError(f"{who}: shape must be a tuple of positive integers or None, got {shape!r}")
    return tuple(None if d is None else int(d) for d in dims)


class Layer:
    """Base of the layers: arguments now, a Rust layer once added to a model."""

    _type = None
    _prefix = None

    def __init__(self, name=None, input_shape=None, batch_input_shape=None, batch_size=None, **kwargs):
        cls = type(self).__name__
        _refuse(cls, kwargs)
        self.name = name or _uid(self._prefix)
        # Keras 2's fixed batch size of the model input (what stateful layers need).
        self._batch_size = batch_size
        if batch_input_shape is not None:
            input_shape = tuple(batch_input_shape)[1:]
            self._batch_size = batch_input_shape[0] if batch_size is None else batch_size
        self._input_shape = _shape(input_shape, f"{cls} `{self.name}` input_shape")
        self._model = None

    def _config(self):
        raise NotImplementedError

    # `layer.trainable = False` (freezing a layer) is not implemented: refused, since
    # the layer would go on training.
    @property
    def trainable(self):
        return True

    @trainable.setter
    def trainable(self, value):
        if not value:
            raise ValueError(f"{type(self).__name__} `{self.name}`: trainable=False (freezing a layer) is not supported by recurrent; every layer trains")

    def get_config(self):
        return dict(self._config())

    def __call__(self, inputs):
        from ._engine import KerasTensor

        if not isinstance(inputs, KerasTensor):
            raise TypeError(
                f"{type(self).__name__} `{self.name}` was called on {type(inputs).__name__}; "
                "recurrent supports layers called on keras.Input(...) chains (single input, single output) "
                "to build a keras.Model; use model.predict for data"
            )
        return inputs._then(self)

    # Weights of this layer once it is part of a built model (Keras order).
    def get_weights(self):
        if self._model is None:
            return []
        return [w for n, w in self._model._core.get_weights() if n.split("/")[0] == self.name]

    @property
    def weights(self):
        return self.get_weights()

    def count_params(self):
        return int(sum(w.size for w in self.get_weights()))

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}>"


class InputLayer(Layer):
    """Only records the input shape (Keras `InputLayer`); not a layer of the Rust model."""

    _prefix = "input_layer"

    def __init__(self, shape=None, batch_size=None, dtype=None, name=None, input_shape=None, **kwargs):
        super().__init__(name=name, batch_size=batch_size, **kwargs)
        shape = shape if shape is not None else input_shape
        self._input_shape = _shape(shape, f"InputLayer `{self.name}`")


class Embedding(Layer):
    _type = "embedding"
    _prefix = "embedding"

    def __init__(self, input_dim, output_dim, embeddings_initializer="uniform", embeddings_regularizer=None, embeddings_constraint=None, mask_zero=False, input_length=None, sparse=False, lora_rank=None, **kwargs):
        super().__init__(**kwargs)
        _refuse("Embedding", {"embeddings_regularizer": embeddings_regularizer, "embeddings_constraint": embeddings_constraint, "sparse": sparse, "lora_rank": lora_rank})
        self.input_dim = int(input_dim)
        self.output_dim = int(output_dim)
        self.embeddings_initializer = embeddings_initializer
        self.mask_zero = bool(mask_zero)
        self.input_length = input_length
        if input_length is not None and self._input_shape is None:
            self._input_shape = _shape((input_length,), f"Embedding `{self.name}` input_length")

    def _config(self):
        return {
            "type": "embedding",
            "name": self.name,
            "input_dim": self.input_dim,
            "output_dim": self.output_dim,
            "embeddings_initializer": _initializer(self.embeddings_initializer, "Embedding", "embeddings_initializer"),
            "mask_zero": self.mask_zero,
            "input_length": None if self.input_length is None else int(self.input_length),
        }


class _RNN(Layer):
    _cls = None

    def __init__(self, units, activation="tanh", use_bias=True, kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal", bias_initializer="zeros", dropout=0.0, recurrent_dropout=0.0, return_sequences=False, return_state=False, go_backwards=False, stateful=False, kernel_regularizer=None, recurrent_regularizer=None, bias_regularizer=None, activity_regularizer=None, kernel_constraint=None, recurrent_constraint=None, bias_constraint=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        _refuse(
            self._cls,
            {
                "return_state": return_state,
                "kernel_regularizer": kernel_regularizer,
                "recurrent_regularizer": recurrent_regularizer,
                "bias_regularizer": bias_regularizer,
                "activity_regularizer": activity_regularizer,
                "kernel_constraint": kernel_constraint,
                "recurrent_constraint": recurrent_constraint,
                "bias_constraint": bias_constraint,
            },
        )
        self.units = int(units)
        self.activation = activation
        self.use_bias = bool(use_bias)
        self.kernel_initializer = kernel_initializer
        self.recurrent_initializer = recurrent_initializer
        self.bias_initializer = bias_initializer
        self.dropout = float(dropout)
        self.recurrent_dropout = float(recurrent_dropout)
        self.return_sequences = bool(return_sequences)
        self.go_backwards = bool(go_backwards)
        self.stateful = bool(stateful)

    def reset_states(self):
        """Keras `reset_states()`: the next batch starts from zero states."""
        if self._model is not None:
            self._model._core.reset_states(self.name)

    reset_state = reset_states

    def _config(self):
        c = self._cls
        # `stateful` and its batch size only when set: the saved JSON stays as before.
        stateful = {"stateful": True, "batch_size": self._batch_size} if self.stateful else {}
        return {
            **stateful,
            "type": self._type,
            "name": self.name,
            "units": self.units,
            "activation": _activation(self.activation, c, "activation"),
            "use_bias": self.use_bias,
            "kernel_initializer": _initializer(self.kernel_initializer, c, "kernel_initializer"),
            "recurrent_initializer": _initializer(self.recurrent_initializer, c, "recurrent_initializer"),
            "bias_initializer": _initializer(self.bias_initializer, c, "bias_initializer"),
            "dropout": self.dropout,
            "recurrent_dropout": self.recurrent_dropout,
            "return_sequences": self.return_sequences,
            "go_backwards": self.go_backwards,
        }


class SimpleRNN(_RNN):
    _type = "simple_rnn"
    _prefix = "simple_rnn"
    _cls = "SimpleRNN"


class LSTM(_RNN):
    _type = "lstm"
    _prefix = "lstm"
    _cls = "LSTM"

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", unit_forget_bias=True, **kwargs):
        super().__init__(units, activation=activation, **kwargs)
        self.recurrent_activation = recurrent_activation
        self.unit_forget_bias = bool(unit_forget_bias)

    def _config(self):
        c = super()._config()
        c["recurrent_activation"] = _activation(self.recurrent_activation, "LSTM", "recurrent_activation")
        c["unit_forget_bias"] = self.unit_forget_bias
        return c


class GRU(_RNN):
    _type = "gru"
    _prefix = "gru"
    _cls = "GRU"

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", reset_after=True, **kwargs):
        super().__init__(units, activation=activation, **kwargs)
        self.recurrent_activation = recurrent_activation
        self.reset_after = bool(reset_after)

    def _config(self):
        c = super()._config()
        c["recurrent_activation"] = _activation(self.recurrent_activation, "GRU", "recurrent_activation")
        c["reset_after"] = self.reset_after
        return c


class Dense(Layer):
    _type = "dense"
    _prefix = "dense"

    def __init__(self, units, activation=None, use_bias=True, kernel_initializer="glorot_uniform", bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None, kernel_constraint=None, bias_constraint=None, lora_rank=None, **kwargs):
        super().__init__(**kwargs)
        _refuse("Dense", {"kernel_regularizer": kernel_regularizer, "bias_regularizer": bias_regularizer, "activity_regularizer": activity_regularizer, "kernel_constraint": kernel_constraint, "bias_constraint": bias_constraint, "lora_rank": lora_rank})
        self.units = int(units)
        self.activation = activation
        self.use_bias = bool(use_bias)
        self.kernel_initializer = kernel_initializer
        self.bias_initializer = bias_initializer

    def _config(self):
        return {
            "type": "dense",
            "name": self.name,
            "units": self.units,
            "activation": _activation(self.activation, "Dense", "activation"),
            "use_bias": self.use_bias,
            "kernel_initializer": _initializer(self.kernel_initializer, "Dense", "kernel_initializer"),
            "bias_initializer": _initializer(self.bias_initializer, "Dense", "bias_initializer"),
        }


class Dropout(Layer):
    _type = "dropout"
    _prefix = "dropout"

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        _refuse("Dropout", {"noise_shape": noise_shape})
        self.rate = float(rate)

    def _config(self):
        return {"type": "dropout", "name": self.name, "rate": self.rate}


class Bidirectional(Layer):
    _type = "bidirectional"
    _prefix = "bidirectional"

    def __init__(self, layer, merge_mode="concat", weights=None, backward_layer=None, **kwargs):
        super().__init__(**kwargs)
        _refuse("Bidirectional", {"weights": weights, "backward_layer": backward_layer})
        if not isinstance(layer, _RNN):
            raise TypeError(f"Bidirectional wraps a SimpleRNN, LSTM or GRU, got {type(layer).__name__}")
        self.layer = layer
        self.merge_mode = merge_mode
        if self._input_shape is None:
            self._input_shape = layer._input_shape

    def reset_states(self):
        """Keras: resets both copies of a stateful wrapped layer."""
        if self._model is not None:
            self._model._core.reset_states(self.name)

    reset_state = reset_states

    def _config(self):
        inner = self.layer._config()
        return {"type": "bidirectional", "name": self.name, "layer": inner, "merge_mode": self.merge_mode}


class _GlobalPooling1D(Layer):
    def __init__(self, data_format="channels_last", keepdims=False, **kwargs):
        super().__init__(**kwargs)
        self.data_format = data_format
        self.keepdims = bool(keepdims)

    def _config(self):
        return {"type": self._type, "name": self.name, "data_format": self.data_format, "keepdims": self.keepdims}


class GlobalAveragePooling1D(_GlobalPooling1D):
    _type = "global_average_pooling1d"
    _prefix = "global_average_pooling1d"


class GlobalMaxPooling1D(_GlobalPooling1D):
    _type = "global_max_pooling1d"
    _prefix = "global_max_pooling1d"


class Conv1D(Layer):
    _type = "conv1d"
    _prefix = "conv1d"

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format="channels_last", dilation_rate=1, groups=1, activation=None, use_bias=True, kernel_initializer="glorot_uniform", bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None, kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(**kwargs)
        _refuse("Conv1D", {"groups": groups if groups != 1 else None, "kernel_regularizer": kernel_regularizer, "bias_regularizer": bias_regularizer, "activity_regularizer": activity_regularizer, "kernel_constraint": kernel_constraint, "bias_constraint": bias_constraint})
        one = lambda v: int(v[0]) if isinstance(v, (tuple, list)) else int(v)  # noqa: E731
        self.filters, self.kernel_size, self.strides = int(filters), one(kernel_size), one(strides)
        self.padding, self.data_format, self.dilation_rate = padding, data_format, one(dilation_rate)
        self.activation, self.use_bias = activation, bool(use_bias)
        self.kernel_initializer, self.bias_initializer = kernel_initializer, bias_initializer

    def _config(self):
        return {
            "type": "conv1d",
            "name": self.name,
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "strides": self.strides,
            "padding": self.padding,
            "data_format": self.data_format,
            "dilation_rate": self.dilation_rate,
            "activation": _activation(self.activation, "Conv1D", "activation"),
            "use_bias": self.use_bias,
            "kernel_initializer": _initializer(self.kernel_initializer, "Conv1D", "kernel_initializer"),
            "bias_initializer": _initializer(self.bias_initializer, "Conv1D", "bias_initializer"),
        }


class MaxPooling1D(Layer):
    _type = "max_pooling1d"
    _prefix = "max_pooling1d"

    def __init__(self, pool_size=2, strides=None, padding="valid", data_format="channels_last", **kwargs):
        super().__init__(**kwargs)
        one = lambda v: None if v is None else (int(v[0]) if isinstance(v, (tuple, list)) else int(v))  # noqa: E731
        self.pool_size, self.strides, self.padding, self.data_format = one(pool_size), one(strides), padding, data_format

    def _config(self):
        return {"type": "max_pooling1d", "name": self.name, "pool_size": self.pool_size, "strides": self.strides, "padding": self.padding, "data_format": self.data_format}


class TimeDistributed(Layer):
    _type = "time_distributed"
    _prefix = "time_distributed"

    def __init__(self, layer, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(layer, Dense):
            raise TypeError(f"TimeDistributed wraps a Dense layer in recurrent, got {type(layer).__name__}")
        self.layer = layer

    def _config(self):
        return {"type": "time_distributed", "name": self.name, "layer": self.layer._config()}


class _FromConfig(Layer):
    """A layer of a model read from a file: its saved config, shown with its class."""

    def __init__(self, config):
        self._cfg = dict(config)
        self.name = config.get("name")
        self._input_shape = None
        self._model = None

    def _config(self):
        return self._cfg

    def __repr__(self):
        return f"<{self._cfg.get('type')} name={self.name}>"


class TextVectorization:
    """Keras's `TextVectorization` (output_mode="int"): text to token ids.

    `adapt(texts)` learns the vocabulary (most frequent first, after the reserved
    `""` and `"[UNK]"`); calling the layer on a list of strings returns an int32
    array (padded to the longest, or to `output_sequence_length`).
    """

    def __init__(self, max_tokens=None, standardize="lower_and_strip_punctuation", split="whitespace", ngrams=None, output_mode="int", output_sequence_length=None, pad_to_max_tokens=False, vocabulary=None, name=None, **kwargs):
        if split != "whitespace" or ngrams is not None or output_mode != "int":
            raise ValueError("TextVectorization: recurrent supports split='whitespace', ngrams=None, output_mode='int'")
        config = {
            "max_tokens": max_tokens,
            "standardize": "none" if standardize is None else standardize,
            "output_sequence_length": output_sequence_length,
        }
        from . import _json

        self.name = name or _uid("text_vectorization")
        self._tv = _core.TextVectorization(_json.dumps(config, "TextVectorization"), None if vocabulary is None else list(vocabulary))

    @staticmethod
    def _texts(data):
        if isinstance(data, str):
            raise TypeError("TextVectorization takes a list (or array) of strings, not one string")
        out = []
        for t in data:
            if isinstance(t, bytes):
                t = t.decode("utf-8")
            if not isinstance(t, str):
                raise TypeError(f"TextVectorization takes strings, got {type(t).__name__}")
            out.append(t)
        return out

    def adapt(self, data, batch_size=None, steps=None):
        self._tv.adapt(self._texts(np.asarray(data, dtype=object).ravel().tolist() if isinstance(data, np.ndarray) else data))

    def __call__(self, data):
        return self._tv.vectorize(self._texts(data))

    def get_vocabulary(self, include_special_tokens=True):
        v = self._tv.get_vocabulary()
        return v if include_special_tokens else v[2:]

    def vocabulary_size(self):
        return self._tv.vocabulary_size()


__all__ = [
    "Layer",
    "InputLayer",
    "Embedding",
    "SimpleRNN",
    "LSTM",
    "GRU",
    "Dense",
    "Dropout",
    "Bidirectional",
    "GlobalAveragePooling1D",
    "GlobalMaxPooling1D",
    "Conv1D",
    "MaxPooling1D",
    "TimeDistributed",
    "TextVectorization",
]
