"""What issue 24 added to the library, through `recurrent.keras`: metrics by name and
class, AdamW / Adagrad / Nadam and `weight_decay`, the learning-rate schedules,
`LearningRateScheduler`, and initializers by name and class. Each model is trained
both through the Python API and through the Rust API (examples/rust_parity.rs
`features`, the same models written with the library's types); the weights must be
equal bit for bit and the histories equal value for value."""

import json
import os
import shutil
import subprocess

import numpy as np
import pytest

from recurrent import keras
from recurrent.keras import initializers, layers, metrics, optimizers
from recurrent.keras.optimizers import schedules

HERE = os.path.dirname(os.path.abspath(__file__))
MANIFEST = os.path.join(HERE, "..", "Cargo.toml")


def data():
    rng = np.random.RandomState(3)
    x = rng.randint(0, 50, size=(70, 12)).astype(np.int32)
    y = rng.randint(0, 2, size=70).astype(np.int64)
    return x, y


def model_a():
    keras.utils.set_random_seed(11)
    m = keras.Sequential(
        [
            layers.Embedding(50, 8, embeddings_initializer=initializers.RandomNormal(stddev=0.1)),
            layers.GRU(5, kernel_initializer=initializers.HeUniform(), recurrent_initializer=initializers.Orthogonal(gain=0.5)),
            layers.Dense(1, activation="sigmoid", kernel_initializer="lecun_normal"),
        ]
    )
    opt = optimizers.AdamW(learning_rate=schedules.ExponentialDecay(0.01, decay_steps=3, decay_rate=0.9), weight_decay=0.01)
    m.compile(optimizer=opt, loss="binary_crossentropy", metrics=[metrics.AUC(), metrics.Precision(thresholds=0.4, name="p40"), metrics.Recall(), "acc"])
    return m, []


def model_b():
    keras.utils.set_random_seed(12)
    m = keras.Sequential([layers.Embedding(50, 8), layers.LSTM(4), layers.Dense(1, activation="sigmoid")])
    m.compile(optimizer=optimizers.Adagrad(learning_rate=0.05, weight_decay=0.001), loss="binary_crossentropy", metrics=["auc"])
    return m, [keras.callbacks.LearningRateScheduler(lambda epoch, lr: lr if epoch == 0 else lr * 0.5)]


def model_c():
    keras.utils.set_random_seed(13)
    m = keras.Sequential(
        [
            layers.Embedding(50, 8, embeddings_initializer=initializers.GlorotNormal),
            layers.LSTM(4, kernel_initializer=initializers.VarianceScaling(scale=2.0, mode="fan_out", distribution="uniform")),
            layers.Dense(1, activation="sigmoid"),
        ]
    )
    lr = schedules.CosineDecay(0.001, decay_steps=6, alpha=0.1, warmup_target=0.02, warmup_steps=3)
    m.compile(optimizer=optimizers.Nadam(learning_rate=lr), loss="binary_crossentropy", metrics=[metrics.F1Score(threshold=0.5)])
    return m, []


def model_d():
    keras.utils.set_random_seed(14)
    m = keras.Sequential([layers.Embedding(50, 8), layers.GRU(4), layers.Dense(1, activation="sigmoid")])
    lr = schedules.PiecewiseConstantDecay(boundaries=[4, 8], values=[0.01, 0.005, 0.001])
    m.compile(optimizer=optimizers.RMSprop(learning_rate=lr), loss="binary_crossentropy", metrics=["Precision"])
    return m, []


@pytest.fixture(scope="module")
def rust_models(tmp_path_factory):
    if shutil.which("cargo") is None:
        pytest.skip("needs cargo to build the Rust side")
    tmp = tmp_path_factory.mktemp("rust_features")
    x, y = data()
    np.save(tmp / "x.npy", x.astype(np.int64))
    np.save(tmp / "y.npy", y)
    env = dict(os.environ)
    env.setdefault("CARGO_TARGET_DIR", os.path.join(HERE, "..", "target"))
    out = tmp / "out"
    subprocess.run(
        ["cargo", "run", "--quiet", "--release", "--manifest-path", MANIFEST, "--example", "rust_parity", "--", str(tmp / "x.npy"), str(tmp / "y.npy"), str(out), "features"],
        check=True,
        env=env,
    )
    return out


@pytest.mark.parametrize("name, build", [("a", model_a), ("b", model_b), ("c", model_c), ("d", model_d)])
def test_python_api_trains_as_the_rust_api(rust_models, name, build):
    x, y = data()
    model, callbacks = build()
    history = model.fit(x, y, epochs=3, batch_size=16, validation_split=0.25, verbose=0, callbacks=callbacks)
    rust = keras.models.load_model(rust_models / f"{name}.model")
    ours, theirs = model.get_weights(), rust.get_weights()
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs):
        np.testing.assert_array_equal(a, b)
    with open(rust_models / f"{name}.json") as f:
        rust_history = json.load(f)
    assert history.history == rust_history
    # The optimizer, with its schedule, comes back from the file.
    assert type(rust.optimizer) is type(model.optimizer)
    assert float(rust.optimizer.learning_rate) == float(model.optimizer.learning_rate)


def test_logged_names_and_values():
    x, y = data()
    model, callbacks = model_b()
    h = model.fit(x, y, epochs=3, batch_size=16, verbose=0, callbacks=callbacks)
    assert sorted(h.history) == ["auc", "learning_rate", "loss"]
    np.testing.assert_allclose(h.history["learning_rate"], [0.05, 0.025, 0.0125], rtol=1e-6)
    model, _ = model_a()
    h = model.fit(x, y, epochs=1, batch_size=16, verbose=0, validation_data=(x, y))
    assert sorted(h.history) == ["acc", "auc", "loss", "p40", "recall", "val_acc", "val_auc", "val_loss", "val_p40", "val_recall"]
    r = model.evaluate(x, y, verbose=0)
    assert len(r) == 5 and all(0.0 <= v <= 1.0 for v in r[1:])
    # TopK on one-hot labels, by class with k and by name.
    m = keras.Sequential([layers.Embedding(50, 8), layers.LSTM(4), layers.Dense(5, activation="softmax")])
    m.compile(optimizer="nadam", loss="categorical_crossentropy", metrics=[metrics.TopKCategoricalAccuracy(k=2, name="top2"), "top_k_categorical_accuracy"])
    h = m.fit(x, keras.utils.to_categorical(y % 5, 5), epochs=1, verbose=0)
    assert sorted(h.history) == ["loss", "top2", "top_k_categorical_accuracy"]
    # With 5 classes, the top 5 always hold the label.
    assert h.history["top_k_categorical_accuracy"] == [1.0]


def test_schedules_give_the_engine_values():
    e = schedules.ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5, staircase=True)
    assert [e(s) for s in (0, 9, 10, 25)] == [np.float32(0.1), np.float32(0.1), np.float32(0.05), np.float32(0.025)]
    p = schedules.PiecewiseConstantDecay([2, 5], [1.0, 0.5, 0.1])
    assert [p(s) for s in (0, 2, 3, 5, 6)] == [1.0, 1.0, 0.5, 0.5, np.float32(0.1)]
    c = schedules.CosineDecay(1.0, decay_steps=4, alpha=0.0)
    assert c(4) == 0.0 and c(2) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="decay_steps"):
        schedules.ExponentialDecay(0.1, decay_steps=0, decay_rate=0.5)
    with pytest.raises(ValueError, match="one more value than boundaries"):
        schedules.PiecewiseConstantDecay([1, 2], [1.0])


def test_initializers_by_name_and_class():
    init = initializers.Constant(0.25)
    np.testing.assert_array_equal(init((2, 3)), np.full((2, 3), 0.25, dtype=np.float32))
    assert initializers.Identity(gain=2.0)((3, 3)).tolist() == (2 * np.eye(3)).tolist()
    q = initializers.Orthogonal()((6, 4))
    np.testing.assert_allclose(q.T @ q, np.eye(4), atol=1e-5)
    w = initializers.get("he_normal")((400, 300))
    assert w.dtype == np.float32 and abs(w.std() - np.sqrt(2 / 400)) < 0.01
    for name in ("glorot_uniform", "GlorotNormal", "lecun_uniform", "truncated_normal", "uniform", "normal", "zeros", "ones", "orthogonal", "identity", "he_uniform", "variance_scaling", "constant", "random_uniform", "random_normal"):
        model = keras.Sequential([layers.Dense(3, kernel_initializer=name, input_shape=(3,))])
        assert model.get_weights()[0].shape == (3, 3)
    with pytest.raises(ValueError, match="unknown initializer `he_normall`"):
        keras.Sequential([layers.Dense(3, kernel_initializer="he_normall", input_shape=(3,))])
    with pytest.raises(ValueError, match="seed"):
        initializers.HeNormal(seed=3)
    with pytest.raises(ValueError, match="more than"):
        initializers.Zeros()((1 << 20, 1 << 20))


def test_optimizers_by_name_and_bad_arguments():
    x, y = data()
    for name in ("adamw", "adagrad", "nadam", "AdamW"):
        m = keras.Sequential([layers.Embedding(50, 4), layers.LSTM(2), layers.Dense(1, activation="sigmoid")])
        m.compile(optimizer=name, loss="binary_crossentropy")
        m.fit(x, y, epochs=1, verbose=0)
        assert type(m.optimizer).__name__.lower() == name.lower()
    assert optimizers.AdamW().get_config()["weight_decay"] == 0.004
    with pytest.raises(ValueError, match="use_ema"):
        optimizers.Adam(use_ema=True)
    with pytest.raises(ValueError, match="thresholds"):
        m.compile(optimizer="adam", loss="binary_crossentropy", metrics=[metrics.Precision(thresholds=[0.3, 0.6])])
    with pytest.raises(ValueError, match="unknown metric"):
        m.compile(optimizer="adam", loss="binary_crossentropy", metrics=["precisionn"])
