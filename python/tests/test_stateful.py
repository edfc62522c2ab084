"""Stateful recurrent layers (Keras `stateful=True`) from Python: the batch size from
`keras.Input(batch_size=)` / `batch_shape` / `batch_input_shape`, states carried
between batches and reset by `layer.reset_states()` / `model.reset_states()`, and
Keras's predictions over consecutive batches (fixture of tests/stateful.rs, written by
tests/fixtures/make_stateful.py with Keras 3.15.1)."""

import json
import os

import numpy as np
import pytest

from recurrent import keras
from recurrent.keras import layers

FIXTURE = os.path.join(os.path.dirname(__file__), "..", "..", "tests", "fixtures", "stateful", "stateful.json")


def case(name):
    with open(FIXTURE) as f:
        return next(c for c in json.load(f)["cases"] if c["name"] == name)


def test_stateful_lstm_matches_keras_over_consecutive_batches():
    c = case("lstm")
    m = keras.Sequential([keras.Input(shape=(5, 3), batch_size=4), layers.LSTM(6, stateful=True), layers.Dense(2)])
    m.set_weights([np.array(w, dtype="float32") for w in c["weights"]])
    worst = 0.0
    for x, p in zip(c["xs"], c["predict"]):
        if p["reset_before"]:
            m.layers[0].reset_states()
        y = m.predict(np.array(x, dtype="float32"), batch_size=4, verbose=0)
        worst = max(worst, float(np.abs(y - np.array(p["output"])).max()))
    assert worst < 2e-5, worst


def test_states_carry_and_reset():
    x = np.random.default_rng(0).uniform(-1, 1, (2, 4, 1)).astype("float32")
    for first in (
        layers.GRU(3, stateful=True, batch_input_shape=(2, 4, 1)),
        layers.Bidirectional(layers.SimpleRNN(3, stateful=True), batch_input_shape=(2, 4, 1)),
    ):
        m = keras.Sequential([first, layers.Dense(1)])
        a = m.predict(x, batch_size=2, verbose=0)
        b = m.predict(x, batch_size=2, verbose=0)
        assert np.abs(a - b).max() > 1e-6
        first.reset_states()
        np.testing.assert_array_equal(m.predict(x, batch_size=2, verbose=0), a)
        m.predict(x, batch_size=2, verbose=0)
        m.reset_states()
        np.testing.assert_array_equal(m.predict(x, batch_size=2, verbose=0), a)


def test_batch_of_another_size_and_missing_batch_size_are_errors():
    x = np.zeros((3, 4, 1), dtype="float32")
    inputs = keras.Input(batch_shape=(2, 4, 1))
    m = keras.Model(inputs, layers.Dense(1)(layers.LSTM(2, stateful=True)(inputs)))
    with pytest.raises(ValueError, match="batch of 1"):
        m.predict(x, batch_size=2, verbose=0)
    with pytest.raises(ValueError, match="batch_size"):
        keras.Sequential([keras.Input(shape=(4, 1)), layers.LSTM(2, stateful=True)])
