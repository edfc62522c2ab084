"""`keras.preprocessing.sequence.pad_sequences` (also `keras.utils.pad_sequences`)."""

import numpy as np

from ... import _core


def _sequences(sequences):
    out = []
    for i, s in enumerate(sequences):
        if isinstance(s, (str, bytes)) or not hasattr(s, "__len__"):
            raise TypeError(f"pad_sequences: sequence {i} is a {type(s).__name__}, not a list of integer ids")
        a = np.asarray(s)
        if a.size and a.dtype.kind not in "biu":
            if a.dtype.kind == "f" and np.all(a == np.floor(a)):
                a = a.astype(np.int64)
            else:
                raise TypeError(f"pad_sequences: sequence {i} holds {a.dtype} values, not integer ids")
        if a.ndim > 1:
            raise ValueError(f"pad_sequences: sequence {i} has shape {a.shape}; each sequence must be 1-D")
        if a.size and (a.min() < np.iinfo(np.int32).min or a.max() > np.iinfo(np.int32).max):
            raise ValueError(f"pad_sequences: sequence {i} has values outside int32")
        out.append(a.astype(np.int32).tolist())
    return out


def pad_sequences(sequences, maxlen=None, dtype="int32", padding="pre", truncating="pre", value=0.0):
    """Pad (with `value`) or truncate every sequence to `maxlen` (default: the longest),
    at the start ("pre", Keras's default) or the end ("post"); returns (n, maxlen) int32."""
    if np.dtype(dtype) != np.int32:
        raise ValueError(f"pad_sequences: recurrent pads integer token ids (dtype='int32'), got dtype={dtype!r}")
    if value != int(value):
        raise ValueError(f"pad_sequences: value={value!r} is not an integer")
    if maxlen is not None:
        maxlen = int(maxlen)
        if maxlen < 0:
            raise ValueError(f"pad_sequences: maxlen must be positive, got {maxlen}")
    return _core.pad_sequences(_sequences(sequences), maxlen, padding, truncating, int(value))


__all__ = ["pad_sequences"]
