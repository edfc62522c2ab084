"""`fit(class_weight=..., sample_weight=..., validation_data=(x, y, w))` and
`evaluate(sample_weight=...)` against Keras 3.15.1's own numbers (fixture written by
tests/fixtures/make_sample_weights.py, shared with tests/sample_weights.rs)."""

import json
import os

import numpy as np
import pytest

from recurrent import keras
from recurrent.keras import layers

FIXTURE = os.path.join(os.path.dirname(__file__), "..", "..", "tests", "fixtures", "sample_weights", "fit.json")


def arr(v):
    return np.asarray(v["data"], dtype=np.float32).reshape(v["shape"])


def cases():
    with open(FIXTURE) as f:
        fixture = json.load(f)
    return fixture, {c["name"]: c for c in fixture["cases"]}


def build(case):
    model = keras.Sequential([keras.Input(tuple(case["x"]["shape"][1:]))])
    for kind, units, act, seq in case["layers"]:
        if kind == "dense":
            model.add(layers.Dense(units, activation=act))
        else:
            model.add(layers.LSTM(units, return_sequences=seq))
    model.set_weights([arr(w) for w in case["initial"]])
    return model


@pytest.mark.parametrize(
    "name",
    ["binary_class_weight", "binary_sample_weight_split", "categorical_class_weight_val_weights", "mse_sample_weight_val_weights", "lstm_temporal_sample_weight"],
)
def test_weighted_fit_and_evaluate_match_keras(name):
    fixture, by_name = cases()
    case = by_name[name]
    model = build(case)
    sgd = fixture["sgd"]
    # The metrics the package offers today (the loss is what the weights change).
    metrics = [m for m in case["metrics"] if m == "accuracy"]
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=sgd["learning_rate"], momentum=sgd["momentum"]), loss=case["loss"], metrics=metrics)
    kwargs = {}
    if "class_weight" in case:
        kwargs["class_weight"] = {int(k): v for k, v in case["class_weight"].items()}
    if "sample_weight" in case:
        # A float64 array, as numpy users pass it: converted, not refused.
        kwargs["sample_weight"] = arr(case["sample_weight"]).astype(np.float64)
    if "validation_split" in case:
        kwargs["validation_split"] = case["validation_split"]
    if "validation_data" in case:
        kwargs["validation_data"] = tuple(arr(v) for v in case["validation_data"])
    x, y = arr(case["x"]), arr(case["y"])
    history = model.fit(x, y, batch_size=fixture["batch_size"], epochs=fixture["epochs"], shuffle=False, verbose=0, **kwargs)
    assert "loss" in history.history and set(history.history) <= set(case["history"])
    for key, got in history.history.items():
        np.testing.assert_allclose(got, case["history"][key], rtol=2e-6, atol=2e-6, err_msg=key)
    for got, want in zip(model.get_weights(), case["weights"]):
        np.testing.assert_allclose(got, arr(want), rtol=2e-6, atol=2e-6)
    logs = model.evaluate(x, y, sample_weight=arr(case["eval_w"]), batch_size=fixture["batch_size"], verbose=0, return_dict=True)
    for key, got in logs.items():
        assert got == pytest.approx(case["evaluate"][key], rel=2e-6, abs=2e-6), key


def test_bad_weights_raise_value_errors():
    _, by_name = cases()
    case = by_name["binary_class_weight"]
    model = build(case)
    model.compile(optimizer="sgd", loss="binary_crossentropy")
    x, y = arr(case["x"]), arr(case["y"])
    with pytest.raises(ValueError, match="5 weights for 10 samples"):
        model.fit(x, y, sample_weight=np.ones(5, np.float32), verbose=0)
    with pytest.raises(ValueError, match=r"sample_weight\[2\] is -1"):
        w = np.ones(10, np.float32)
        w[2] = -1
        model.fit(x, y, sample_weight=w, verbose=0)
    with pytest.raises(ValueError, match="class 3"):
        model.fit(x, y, class_weight={0: 1.0, 3: 2.0}, verbose=0)
    with pytest.raises(ValueError, match="not a class index"):
        model.fit(x, y, class_weight={-1: 1.0}, verbose=0)
    with pytest.raises(ValueError, match="sample_weight"):
        model.fit(x, y, class_weight={1: 2.0}, sample_weight=np.ones(10, np.float32), verbose=0)
    with pytest.raises(ValueError, match="5 weights for 10 samples"):
        model.evaluate(x, y, sample_weight=np.ones(5, np.float32), verbose=0)


@pytest.mark.parametrize("name", ["binary_weighted_metrics", "sparse_class_weight_weighted_metrics", "binary_sample_weight_split", "mse_sample_weight_val_weights"])
def test_weighted_metrics_match_keras(name, tmp_path):
    """`compile(weighted_metrics=...)`: weighted by the sample/class weights, logged under
    Keras's names (`weighted_accuracy` beside an unweighted `accuracy`), every metric of
    the fixture, history keys exactly Keras's."""
    fixture, by_name = cases()
    case = by_name[name]
    model = build(case)
    sgd = fixture["sgd"]
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=sgd["learning_rate"], momentum=sgd["momentum"]),
        loss=case["loss"],
        metrics=case["metrics"],
        weighted_metrics=case["weighted_metrics"],
    )
    kwargs = {}
    if "class_weight" in case:
        kwargs["class_weight"] = {int(k): v for k, v in case["class_weight"].items()}
    if "sample_weight" in case:
        kwargs["sample_weight"] = arr(case["sample_weight"])
    if "validation_split" in case:
        kwargs["validation_split"] = case["validation_split"]
    if "validation_data" in case:
        kwargs["validation_data"] = tuple(arr(v) for v in case["validation_data"])
    x, y = arr(case["x"]), arr(case["y"])
    history = model.fit(x, y, batch_size=fixture["batch_size"], epochs=fixture["epochs"], shuffle=False, verbose=0, **kwargs)
    assert set(history.history) == set(case["history"])
    for key, got in history.history.items():
        np.testing.assert_allclose(got, case["history"][key], rtol=2e-6, atol=2e-6, err_msg=key)
    logs = model.evaluate(x, y, sample_weight=arr(case["eval_w"]), batch_size=fixture["batch_size"], verbose=0, return_dict=True)
    assert set(logs) == set(case["evaluate"])
    for key, got in logs.items():
        assert got == pytest.approx(case["evaluate"][key], rel=2e-6, abs=2e-6), key
    values = model.evaluate(x, y, sample_weight=arr(case["eval_w"]), batch_size=fixture["batch_size"], verbose=0)
    assert len(np.atleast_1d(values)) == len(case["evaluate"])
    # A saved model keeps its weighted metrics, also in evaluate's list.
    model.save(str(tmp_path / "m.safetensors"))
    back = keras.models.load_model(str(tmp_path / "m.safetensors"))
    again = back.evaluate(x, y, sample_weight=arr(case["eval_w"]), batch_size=fixture["batch_size"], verbose=0)
    np.testing.assert_allclose(np.atleast_1d(again), np.atleast_1d(values), rtol=1e-6)
