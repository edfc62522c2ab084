"""`keras.losses`: the losses `recurrent` computes, by Keras name, class or function."""

_NAMES = {
    "binary_crossentropy": "binary_crossentropy",
    "bce": "binary_crossentropy",
    "categorical_crossentropy": "categorical_crossentropy",
    "sparse_categorical_crossentropy": "sparse_categorical_crossentropy",
    "mean_squared_error": "mean_squared_error",
    "mse": "mean_squared_error",
    "mean_absolute_error": "mean_absolute_error",
    "mae": "mean_absolute_error",
}


class Loss:
    _name = None

    def __init__(self, from_logits=False, reduction="sum_over_batch_size", name=None, **kwargs):
        if from_logits:
            raise ValueError(f"{type(self).__name__}: from_logits=True is not supported by recurrent; end the model with its activation")
        if reduction not in ("sum_over_batch_size", "auto"):
            raise ValueError(f"{type(self).__name__}: reduction={reduction!r} is not supported by recurrent")
        for k, v in kwargs.items():
            if k == "label_smoothing" and not v:
                continue
            if k in ("axis", "dtype", "ignore_class") and v in (None, -1):
                continue
            raise ValueError(f"{type(self).__name__}: argument `{k}={v!r}` is not supported by recurrent")


class BinaryCrossentropy(Loss):
    _name = "binary_crossentropy"


class CategoricalCrossentropy(Loss):
    _name = "categorical_crossentropy"


class SparseCategoricalCrossentropy(Loss):
    _name = "sparse_categorical_crossentropy"


class MeanSquaredError(Loss):
    _name = "mean_squared_error"


class MeanAbsoluteError(Loss):
    _name = "mean_absolute_error"


def _function(name):
    def f(y_true, y_pred):
        raise NotImplementedError(f"keras.losses.{name} is computed inside recurrent's fit; pass it to compile()")

    f.__name__ = name
    return f


binary_crossentropy = _function("binary_crossentropy")
categorical_crossentropy = _function("categorical_crossentropy")
sparse_categorical_crossentropy = _function("sparse_categorical_crossentropy")
mean_squared_error = mse = _function("mean_squared_error")
mean_absolute_error = mae = _function("mean_absolute_error")


def _name(loss):
    if isinstance(loss, Loss):
        return loss._name
    if callable(loss) and getattr(loss, "__name__", None) in _NAMES:
        return _NAMES[loss.__name__]
    if isinstance(loss, str) and loss.lower() in _NAMES:
        return _NAMES[loss.lower()]
    raise ValueError(f"unknown loss {loss!r}; expected one of {sorted(set(_NAMES.values()))}")
