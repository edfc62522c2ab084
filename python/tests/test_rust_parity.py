"""The Python API trains exactly as the Rust API: same seed and data give the same
weights bit for bit. The Rust side is examples/rust_parity.rs of this crate (a small
program using the `recurrent` crate directly), built with cargo as the package is."""

import os
import shutil
import subprocess

import numpy as np
import pytest

from recurrent import keras
from recurrent.keras import layers

HERE = os.path.dirname(os.path.abspath(__file__))
MANIFEST = os.path.join(HERE, "..", "Cargo.toml")


def data():
    rng = np.random.RandomState(3)
    x = rng.randint(0, 50, size=(70, 12)).astype(np.int32)
    y = rng.randint(0, 2, size=70).astype(np.int64)
    return x, y


@pytest.mark.skipif(shutil.which("cargo") is None, reason="needs cargo to build the Rust side")
def test_python_weights_equal_rust_weights_bit_for_bit(tmp_path):
    x, y = data()
    np.save(tmp_path / "x.npy", x.astype(np.int64))
    np.save(tmp_path / "y.npy", y)
    out = tmp_path / "rust.model"
    env = dict(os.environ)
    env.setdefault("CARGO_TARGET_DIR", os.path.join(HERE, "..", "target"))
    subprocess.run(
        ["cargo", "run", "--quiet", "--release", "--manifest-path", MANIFEST, "--example", "rust_parity", "--", str(tmp_path / "x.npy"), str(tmp_path / "y.npy"), str(out)],
        check=True,
        env=env,
    )
    rust = keras.models.load_model(out)

    keras.utils.set_random_seed(7)
    model = keras.Sequential()
    model.add(layers.Embedding(50, 8))
    model.add(layers.LSTM(6))
    model.add(layers.Dense(1, activation="sigmoid"))
    model.compile(optimizer="rmsprop", loss="binary_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=2, batch_size=16, validation_split=0.25, verbose=0)

    ours, theirs = model.get_weights(), rust.get_weights()
    assert len(ours) == len(theirs) == 6
    for a, b in zip(ours, theirs):
        assert a.dtype == b.dtype == np.float32
        np.testing.assert_array_equal(a, b)
    # And the starting point was not what made them equal: training moved the weights.
    keras.utils.set_random_seed(7)
    fresh = keras.Sequential([layers.Embedding(50, 8), layers.LSTM(6), layers.Dense(1, activation="sigmoid")])
    assert not np.array_equal(fresh.get_weights()[1], ours[1])
