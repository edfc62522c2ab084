import os

import numpy as np

from ... import _core


def cached_path(fname, path):
    """The explicit file to read, or None for Keras's cache lookup (hash-checked)."""
    if path is not None and os.path.isabs(os.fspath(path)):
        return os.fspath(path)
    if path is not None and os.fspath(path) != fname:
        raise ValueError(f"path={path!r}: recurrent reads the Keras cache file {fname!r} or an absolute path")
    if os.environ.get("RECURRENT_DATASETS_NO_HASH_CHECK") == "1":
        return os.path.join(_core.keras_home(), "datasets", fname)
    return None


def object_array(seqs):
    """Keras's layout: a 1-D object array of Python lists."""
    out = np.empty(len(seqs), dtype=object)
    for i, s in enumerate(seqs):
        out[i] = s
    return out


def split(pair):
    x, y = pair
    return object_array(x), np.asarray(y, dtype=np.int64)
