"""`keras.metrics`: accuracy (Keras resolves "accuracy"/"acc" to binary, categorical or
sparse categorical accuracy from the label and output shapes; so does recurrent)."""


class Metric:
    def __init__(self, name=None, dtype=None, threshold=0.5):
        if threshold != 0.5:
            raise ValueError("accuracy metrics: only threshold=0.5 is supported by recurrent")
        self.name = name or self._default


class Accuracy(Metric):
    _default = "accuracy"


class BinaryAccuracy(Metric):
    _default = "binary_accuracy"


class CategoricalAccuracy(Metric):
    _default = "categorical_accuracy"


class SparseCategoricalAccuracy(Metric):
    _default = "sparse_categorical_accuracy"


def _name(metric):
    """(name in logs, recurrent metric)."""
    if isinstance(metric, Metric):
        return metric.name, "accuracy"
    if isinstance(metric, str) and metric in ("accuracy", "acc", "binary_accuracy", "categorical_accuracy", "sparse_categorical_accuracy"):
        return metric, "accuracy"
    raise ValueError(f"unknown metric {metric!r}; recurrent computes 'accuracy' (or 'acc')")
