"""`keras.metrics`: the metrics `recurrent` computes (src/metrics), by Keras name or
class, accumulated over the epoch as Keras does (AUC, Precision, Recall and F1Score
from the epoch's counts, not a mean of batch values).

- a string is passed as written and logged as written (`metrics=["acc"]` logs `acc`
  and `val_acc`; `"accuracy"`/`"acc"` resolve to binary, categorical or sparse
  categorical accuracy from the label and output shapes, as in Keras);
- a class instance (`keras.metrics.AUC(curve="PR", name="pr_auc")`) is logged under
  its `name`, else the class's default name (`auc`, `precision`, ...).

Arguments Keras has and `recurrent` does not implement (a list of `thresholds`,
`top_k`, `class_id`, `multi_label=True`, ...) are refused by the engine with a message
naming the argument, never ignored.
"""


class Metric:
    """Base of the metric classes: the Keras class name and the arguments given."""

    _type = None

    def __init__(self, name=None, dtype=None, **args):
        self.name = name
        self._args = {k: v for k, v in args.items() if v is not None}

    def _config(self):
        c = {"type": self._type}
        c.update(self._args)
        if self.name is not None:
            c["name"] = self.name
        return c

    def get_config(self):
        return dict(self._config())

    def __repr__(self):
        return f"<{type(self).__name__} {self._config()}>"


def _class(type_name, *arg_names, class_name=None):
    """A Keras metric class taking `arg_names` (positional order as in Keras)."""
    class_name = class_name or type_name

    def __init__(self, *args, name=None, dtype=None, **kwargs):
        if len(args) > len(arg_names):
            raise TypeError(f"{type_name} takes at most {len(arg_names)} positional arguments")
        given = dict(zip(arg_names, args))
        for k, v in kwargs.items():
            if k in given:
                raise TypeError(f"{type_name}: argument `{k}` given twice")
            given[k] = v
        Metric.__init__(self, name=name, dtype=dtype, **given)

    return type(class_name, (Metric,), {"_type": type_name, "__init__": __init__, "__doc__": f"`keras.metrics.{class_name}`.", "__module__": __name__})


Accuracy = _class("accuracy", class_name="Accuracy")
Accuracy.__doc__ = "Binary, categorical or sparse categorical accuracy chosen from the label and output shapes (recurrent's reading of `accuracy`)."
BinaryAccuracy = _class("BinaryAccuracy", "threshold")
CategoricalAccuracy = _class("CategoricalAccuracy")
SparseCategoricalAccuracy = _class("SparseCategoricalAccuracy")
TopKCategoricalAccuracy = _class("TopKCategoricalAccuracy", "k")
SparseTopKCategoricalAccuracy = _class("SparseTopKCategoricalAccuracy", "k")
Precision = _class("Precision", "thresholds", "top_k", "class_id")
Recall = _class("Recall", "thresholds", "top_k", "class_id")
AUC = _class("AUC", "num_thresholds", "curve", "summation_method", "thresholds", "multi_label", "num_labels", "label_weights", "from_logits")
F1Score = _class("F1Score", "average", "threshold")
MeanSquaredError = _class("MeanSquaredError")
MeanAbsoluteError = _class("MeanAbsoluteError")


def _default_name(cls):
    import re

    if cls is Accuracy:
        return "accuracy"
    return {"AUC": "auc", "F1Score": "f1_score"}.get(cls._type) or re.sub(r"(?<!^)(?=[A-Z])", "_", cls._type).lower()


def _name(metric):
    """(name in logs, the engine's spelling: a string or a table)."""
    if isinstance(metric, Metric):
        c = metric._config()
        return c.get("name") or _default_name(type(metric)), c
    if isinstance(metric, str):
        return metric, metric
    if callable(metric) and getattr(metric, "__name__", None):
        return metric.__name__, metric.__name__
    raise ValueError(f"unknown metric {metric!r}; pass a metric name ('accuracy', 'auc', 'precision', ...) or a keras.metrics object")


def _function(name):
    def f(y_true, y_pred):
        raise NotImplementedError(f"keras.metrics.{name} is computed inside recurrent's fit; pass it to compile()")

    f.__name__ = name
    return f


binary_accuracy = _function("binary_accuracy")
categorical_accuracy = _function("categorical_accuracy")
sparse_categorical_accuracy = _function("sparse_categorical_accuracy")
top_k_categorical_accuracy = _function("top_k_categorical_accuracy")
sparse_top_k_categorical_accuracy = _function("sparse_top_k_categorical_accuracy")
mean_squared_error = mse = _function("mean_squared_error")
mean_absolute_error = mae = _function("mean_absolute_error")


def get(identifier):
    """`keras.metrics.get`: a name or an instance, as `compile` takes it."""
    _name(identifier)
    return identifier
