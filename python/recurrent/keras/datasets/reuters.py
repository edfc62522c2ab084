"""`keras.datasets.reuters`: `load_data`, `get_word_index`, `get_label_names`."""

from ... import _core
from ._common import cached_path, split


def load_data(path="reuters.npz", num_words=None, skip_top=0, maxlen=None, test_split=0.2, seed=113, start_char=1, oov_char=2, index_from=3, **kwargs):
    if kwargs:
        raise TypeError(f"reuters.load_data: unknown arguments {sorted(kwargs)}")
    train, test = _core.reuters_load_data(cached_path("reuters.npz", path), num_words or None, int(skip_top), maxlen or None, float(test_split), int(seed), start_char, oov_char, int(index_from))
    return split(train), split(test)


def get_word_index(path="reuters_word_index.json"):
    return dict(_core.get_word_index("reuters", cached_path("reuters_word_index.json", path)))
