"""Weights copied from real Keras models with `set_weights` give Keras's predictions
to 1e-5 (fixture written by tests/fixtures/make_python_set_weights.py with Keras 3)."""

import os

import numpy as np
import pytest

from recurrent import keras
from recurrent.keras import layers

FIXTURE = os.path.join(os.path.dirname(__file__), "..", "..", "tests", "fixtures", "python", "keras_set_weights.npz")

CASES = {
    "lstm": ((20,), lambda: [layers.Embedding(50, 8), layers.LSTM(6), layers.Dense(1, activation="sigmoid")]),
    "gru_masked": ((20,), lambda: [layers.Embedding(50, 8, mask_zero=True), layers.GRU(5), layers.Dense(3, activation="softmax")]),
    "simple_rnn_float": ((12, 7), lambda: [layers.SimpleRNN(4, return_sequences=True), layers.LSTM(3), layers.Dense(2)]),
    "bidirectional": ((15,), lambda: [layers.Embedding(40, 6), layers.Bidirectional(layers.LSTM(4)), layers.Dense(1, activation="sigmoid")]),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_keras_weights_give_keras_predictions(case):
    data = np.load(FIXTURE)
    shape, make = CASES[case]
    model = keras.Sequential([keras.Input(shape=shape)] + make())
    n = len(model.get_weights())
    weights = [data[f"{case}/w{i}"] for i in range(n)]
    assert f"{case}/w{n}" not in data, "Keras has more weight arrays than the model"
    for w, ours in zip(weights, model.get_weights()):
        assert w.shape == ours.shape
    model.set_weights(weights)
    for w, back in zip(weights, model.get_weights()):
        np.testing.assert_array_equal(w, back)
    pred = model.predict(data[f"{case}/x"], verbose=0)
    np.testing.assert_allclose(pred, data[f"{case}/y"], rtol=0, atol=1e-5)


def test_functional_model_takes_the_same_weights():
    data = np.load(FIXTURE)
    inputs = keras.Input(shape=(20,), dtype="int32")
    x = layers.Embedding(50, 8)(inputs)
    x = layers.LSTM(6)(x)
    outputs = layers.Dense(1, activation="sigmoid")(x)
    model = keras.Model(inputs, outputs)
    model.set_weights([data[f"lstm/w{i}"] for i in range(6)])
    np.testing.assert_allclose(model.predict(data["lstm/x"], verbose=0), data["lstm/y"], rtol=0, atol=1e-5)
