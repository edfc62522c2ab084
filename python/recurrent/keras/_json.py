"""Arguments travel to the engine as JSON text. JSON has no NaN or infinity (Python's
`json.dumps` writes a bare `NaN`, which the engine's parser refuses with a message about
a line and column) and no numpy scalars (`json.dumps(np.float32(0.5))` raises), so
`dumps` turns numpy scalars into Python numbers and refuses a non-finite number, naming
the argument that holds it."""

import json
import math

import numpy as np


def dumps(obj, who):
    """`obj` as JSON; `who` (e.g. "LSTM `lstm_2`") names the owner in errors."""
    bad = _non_finite(obj, ())
    if bad is not None:
        path, value = bad
        raise ValueError(f"{who}: argument `{path}` must be a finite number, got {value!r}")
    return json.dumps(obj, default=_plain)


def _plain(v):
    if isinstance(v, np.generic):
        return v.item()
    raise TypeError(f"an argument of type {type(v).__name__} ({v!r}) cannot be passed to the engine")


def _non_finite(obj, path):
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return ".".join(path) or "value", obj
    if isinstance(obj, dict):
        items = obj.items()
    elif isinstance(obj, (list, tuple)):
        items = enumerate(obj)
    else:
        return None
    for k, v in items:
        bad = _non_finite(v, path + (str(k),))
        if bad is not None:
            return bad
    return None
