"""Shared setup: a temporary KERAS_HOME holding small SYNTHETIC Keras-format
`imdb.npz` / `reuters.npz` (random ids, same layout as Keras's files: object arrays of
lists and int64 labels), matplotlib on Agg, each test in its own folder, and Python's
own Ctrl-C handler installed."""

import os
import signal

os.environ.setdefault("MPLBACKEND", "Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def ctrl_c_raises():
    """Python installs `default_int_handler` (Ctrl-C -> KeyboardInterrupt) only when it
    starts with SIGINT at its default; a shell running a job in the background starts it
    with SIGINT ignored, and there the Ctrl-C tests' SIGINT would vanish. Each test sees
    SIGINT as an interactive user's Python does."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def object_array(seqs):
    out = np.empty(len(seqs), dtype=object)
    for i, s in enumerate(seqs):
        out[i] = list(s)
    return out


def random_seqs(rng, n, min_len, max_len, max_id, last_id=None):
    seqs = []
    for _ in range(n):
        s = [int(v) for v in rng.randint(1, max_id, size=rng.randint(min_len, max_len + 1))]
        if last_id is not None:
            # Keeps the top id of a `num_words` vocabulary in every padded row, so
            # `to_categorical(padded)` has the width the seed's model expects.
            s[-1] = last_id
        seqs.append(s)
    return seqs


def write_imdb(path, n_train=200, n_test=200, seed=0):
    rng = np.random.RandomState(seed)
    # Stored ids are ranks; load_data adds index_from=3, so rank 496 becomes id 499.
    np.savez(
        path,
        x_train=object_array(random_seqs(rng, n_train, 20, 300, 700, last_id=496)),
        y_train=rng.randint(0, 2, size=n_train).astype(np.int64),
        x_test=object_array(random_seqs(rng, n_test, 20, 300, 700, last_id=496)),
        y_test=rng.randint(0, 2, size=n_test).astype(np.int64),
    )


def write_reuters(path, n=400, seed=1):
    rng = np.random.RandomState(seed)
    np.savez(
        path,
        x=object_array(random_seqs(rng, n, 10, 150, 1200)),
        y=(np.arange(n) % 46).astype(np.int64),
    )


@pytest.fixture(scope="session")
def keras_home(tmp_path_factory):
    home = tmp_path_factory.mktemp("keras_home")
    (home / "datasets").mkdir()
    write_imdb(str(home / "datasets" / "imdb.npz"))
    write_reuters(str(home / "datasets" / "reuters.npz"))
    return home


@pytest.fixture(autouse=True)
def _env(keras_home, tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(keras_home))
    # The synthetic files do not have Keras's published hashes.
    monkeypatch.setenv("RECURRENT_DATASETS_NO_HASH_CHECK", "1")
    monkeypatch.chdir(tmp_path)
    yield
    try:
        import matplotlib.pyplot as plt

        plt.close("all")
    except ImportError:
        pass
