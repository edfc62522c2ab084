"""`keras.datasets.imdb`: `load_data`, `get_word_index`."""

from ... import _core
from ._common import cached_path, split


def load_data(path="imdb.npz", num_words=None, skip_top=0, maxlen=None, seed=113, start_char=1, oov_char=2, index_from=3, **kwargs):
    if kwargs:
        raise TypeError(f"imdb.load_data: unknown arguments {sorted(kwargs)}")
    train, test = _core.imdb_load_data(cached_path("imdb.npz", path), num_words or None, int(skip_top), maxlen or None, int(seed), start_char, oov_char, int(index_from))
    return split(train), split(test)


def get_word_index(path="imdb_word_index.json"):
    return dict(_core.get_word_index("imdb", cached_path("imdb_word_index.json", path)))
