"""Keras behaviours beyond the seeds: stop_training after a batch, Ctrl-C in predict
and evaluate, the built-in callbacks' messages on sys.stdout, and the idioms scripts
use around a model (History.params, return_dict, predict on a list, per-layer weights,
the optimizer's learning rate, clear_session, tf.random.set_seed)."""

import contextlib
import io
import os
import signal
import threading
import time

import numpy as np
import pytest

from recurrent import keras
from recurrent.keras import layers


def small_model(vocab=30, metrics=("accuracy",), optimizer="adam"):
    model = keras.Sequential([layers.Embedding(vocab, 4), layers.LSTM(3), layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer=optimizer, loss="binary_crossentropy", metrics=list(metrics))
    return model


def small_data(n=40, t=10, vocab=30, seed=0):
    rng = np.random.RandomState(seed)
    return rng.randint(0, vocab, size=(n, t)).astype(np.int32), rng.randint(0, 2, size=n)


# --- stop_training -------------------------------------------------------------


def test_stop_training_in_a_batch_hook_stops_after_that_batch():
    x, y = small_data(n=80)
    model = small_model()
    seen = []

    class StopAtBatch2(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            seen.append(("batch", batch))
            if batch == 2:
                self.model.stop_training = True

        def on_epoch_end(self, epoch, logs=None):
            seen.append(("epoch_end", epoch, sorted(logs)))

    before = model.get_weights()
    history = model.fit(x, y, epochs=4, batch_size=8, validation_split=0.25, verbose=0, callbacks=[StopAtBatch2()])
    # 60 training samples = 8 batches per epoch; Keras 3 checks stop_training after
    # every step: 3 batches ran, then validation and on_epoch_end, then fit ended.
    assert seen == [("batch", 0), ("batch", 1), ("batch", 2), ("epoch_end", 0, ["accuracy", "loss", "val_accuracy", "val_loss"])]
    assert history.epoch == [0]
    assert not np.array_equal(before[0], model.get_weights()[0])
    # A new fit starts with stop_training reset, as Keras's does.
    history = model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    assert history.epoch == [0, 1]


# --- Ctrl-C in predict and evaluate ---------------------------------------------


def big_model_and_data(seconds):
    """A model and inputs on which predict takes about `seconds` (measured here)."""
    rng = np.random.RandomState(0)
    model = keras.Sequential([layers.Embedding(1000, 32), layers.LSTM(64), layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy")
    probe = rng.randint(0, 1000, size=(512, 200)).astype(np.int32)
    t0 = time.perf_counter()
    model.predict(probe, batch_size=32, verbose=0)
    per_sample = (time.perf_counter() - t0) / len(probe)
    n = int(seconds / per_sample)
    x = rng.randint(0, 1000, size=(n, 200)).astype(np.int32)
    return model, x, rng.randint(0, 2, size=n), per_sample * 32


@pytest.mark.parametrize("call", ["predict", "evaluate"])
def test_ctrl_c_interrupts_predict_and_evaluate_within_a_batch(call):
    model, x, y, per_batch = big_model_and_data(seconds=5.0)
    timer = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT))
    t0 = time.perf_counter()
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        if call == "predict":
            model.predict(x, batch_size=32, verbose=0)
        else:
            model.evaluate(x, y, batch_size=32, verbose=0)
    elapsed = time.perf_counter() - t0
    timer.join()
    # The full call would take ~5 s; it ended right after the signal (one batch
    # plus the 5 ms signal-check period, with slack for a loaded machine).
    assert elapsed < 0.5 + 1.0 + 10 * per_batch, (elapsed, per_batch)
    # The model is usable afterwards.
    p = model.predict(x[:64], verbose=0)
    assert p.shape == (64, 1) and np.all(np.isfinite(p))
    assert np.isfinite(model.evaluate(x[:64], y[:64], verbose=0))


@pytest.mark.parametrize("where", ["training", "validation"])
def test_ctrl_c_interrupts_fit_without_batch_hooks(where):
    # No Python batch hook: the epoch runs in Rust, which runs Python's signal
    # handlers every few milliseconds, between training batches and between the
    # validation pass's batches. "validation": two training batches, then a validation
    # pass of ~5 s, so the signal lands in the pass.
    model, x, y, per_batch = big_model_and_data(seconds=5.0)
    epochs = []
    cb = keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: epochs.append(epoch))
    if where == "training":
        args = dict(x=x, y=y, epochs=2)
        # A training batch costs about 3 inference batches; the epoch would take ~15 s.
        budget = 30 * per_batch
    else:
        args = dict(x=x[:64], y=y[:64], epochs=1, validation_data=(x, y))
        budget = 10 * per_batch
    timer = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT))
    t0 = time.perf_counter()
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        model.fit(batch_size=32, verbose=0, callbacks=[cb], **args)
    elapsed = time.perf_counter() - t0
    timer.join()
    assert elapsed < 0.5 + 1.0 + budget, (elapsed, per_batch)
    assert epochs == []
    model.fit(x[:64], y[:64], epochs=1, verbose=0)
    assert np.all(np.isfinite(model.predict(x[:8], verbose=0)))


# --- messages on sys.stdout -------------------------------------------------------


def test_builtin_callback_messages_and_progress_go_to_sys_stdout(tmp_path, capfd):
    x, y = small_data()
    model = small_model(optimizer=keras.optimizers.SGD(learning_rate=0.01))
    buf = io.StringIO()
    cbs = [
        # mode="max" on a falling loss: no improvement, so each acts at once.
        keras.callbacks.ModelCheckpoint(str(tmp_path / "best.h5"), monitor="loss", mode="max", save_best_only=True, verbose=1),
        keras.callbacks.ReduceLROnPlateau(monitor="loss", mode="max", patience=0, factor=0.5, verbose=1),
        keras.callbacks.EarlyStopping(monitor="loss", mode="max", patience=1, verbose=1),
        keras.callbacks.LearningRateScheduler(lambda epoch, lr: lr, verbose=1),
    ]
    with contextlib.redirect_stdout(buf):
        model.fit(x, y, epochs=5, batch_size=20, verbose=2, callbacks=cbs)
    lines = buf.getvalue().splitlines()
    # Nothing went around sys.stdout to the process's file descriptor.
    assert capfd.readouterr().out == ""
    text = "\n".join(lines)
    assert lines[0] == "Epoch 1/5"
    assert "Epoch 1: loss improved from -inf to " in text and ", saving model to " + str(tmp_path / "best.h5") in text
    assert "Epoch 2: loss did not improve from " in text
    assert "Epoch 2: ReduceLROnPlateau reducing learning rate to 0.00499999" in text
    assert "Epoch 2: early stopping" in text
    assert "Epoch 1: LearningRateScheduler setting learning rate to 0.009999999776482582." in text
    # The progress lines and the messages are interleaved in Keras's order: the
    # epoch's line, then the callbacks' messages of that epoch.
    e2 = lines.index("Epoch 2/5")
    bar = next(i for i in range(e2, len(lines)) if lines[i].startswith("2/2 - "))
    message = next(i for i in range(e2, len(lines)) if lines[i].startswith("Epoch 2: loss did not improve"))
    assert " - loss: " in lines[bar] and bar < message


# --- idioms -----------------------------------------------------------------------


def test_history_params_and_evaluate_return_dict():
    x, y = small_data()
    model = small_model(metrics=["acc", keras.metrics.AUC(name="auc")])
    history = model.fit(x, y, epochs=2, batch_size=16, verbose=0, validation_data=(x, y))
    assert history.params == {"verbose": 0, "epochs": 2, "steps": 3}
    assert sorted(history.history) == ["acc", "auc", "loss", "val_acc", "val_auc", "val_loss"]
    assert model.history is history
    r = model.evaluate(x, y, verbose=0)
    d = model.evaluate(x, y, verbose=0, return_dict=True)
    assert d == {"acc": r[1], "auc": r[2], "loss": r[0]}
    assert d["loss"] == pytest.approx(history.history["val_loss"][-1], rel=1e-6)
    assert dict(zip(model.metrics_names, r)) == d
    assert [w.shape for w in model.trainable_weights] == [w.shape for w in model.get_weights()]
    assert model.non_trainable_weights == []


def test_predict_on_lists_and_layer_weights():
    x, y = small_data()
    model = small_model()
    p = model.predict(x, verbose=0)
    np.testing.assert_array_equal(model.predict(x.tolist(), verbose=0), p)
    np.testing.assert_array_equal(model.predict([x], verbose=0), p)
    np.testing.assert_array_equal(model(x), p)
    emb, lstm, dense = model.layers
    assert [w.shape for w in emb.get_weights()] == [(30, 4)]
    assert [w.shape for w in lstm.get_weights()] == [(4, 12), (3, 12), (12,)]
    assert [w.shape for w in dense.get_weights()] == [(3, 1), (1,)]
    flat = [w for layer in model.layers for w in layer.get_weights()]
    for a, b in zip(flat, model.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert model.get_layer(index=1) is lstm and model.get_layer(lstm.name) is lstm


def test_optimizer_learning_rate_reads_and_assigns():
    x, y = small_data()
    model = small_model(optimizer=keras.optimizers.SGD(learning_rate=0.1))
    lr = model.optimizer.learning_rate
    assert float(lr) == pytest.approx(0.1) and lr.numpy().dtype == np.float32
    # A rate of 0 leaves SGD's weights where they are.
    model.optimizer.learning_rate = 0.0
    before = model.get_weights()
    model.fit(x, y, epochs=1, verbose=0)
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)
    keras.backend.set_value(model.optimizer.learning_rate, 0.05)
    assert float(keras.backend.get_value(model.optimizer.learning_rate)) == pytest.approx(0.05)
    model.optimizer.learning_rate.assign(0.2)
    assert float(model.optimizer.learning_rate) == pytest.approx(0.2)
    # ReduceLROnPlateau's change is what the optimizer reads afterwards.
    model.fit(x, y, epochs=2, verbose=0, callbacks=[keras.callbacks.ReduceLROnPlateau(monitor="loss", mode="max", patience=0, factor=0.5)])
    assert float(model.optimizer.learning_rate) == pytest.approx(0.1)
    assert model.optimizer.iterations == 2 * 2 + 2
    sched = keras.Sequential([layers.Dense(1, input_shape=(3,))])
    sched.compile(optimizer=keras.optimizers.Adam(keras.optimizers.schedules.ExponentialDecay(0.1, 10, 0.5)), loss="mse")
    with pytest.raises(ValueError, match="schedule"):
        sched.optimizer.learning_rate = 0.3


def test_clear_session_and_tf_random_set_seed():
    import recurrent as tf

    keras.backend.clear_session()
    a = keras.Sequential([layers.Dense(2, input_shape=(3,))])
    b = keras.Sequential([layers.Dense(2, input_shape=(3,))])
    assert (a.name, a.layers[0].name, b.layers[0].name) == ("sequential", "dense", "dense_1")
    keras.backend.clear_session()
    c = keras.Sequential([layers.Dense(2, input_shape=(3,))])
    assert (c.name, c.layers[0].name) == ("sequential", "dense")

    def weights_after_seed():
        tf.random.set_seed(5)
        return tf.keras.Sequential([tf.keras.layers.Dense(4, input_shape=(3,))]).get_weights()[0]

    np.testing.assert_array_equal(weights_after_seed(), weights_after_seed())
    tf.random.set_seed(6)
    other = tf.keras.Sequential([tf.keras.layers.Dense(4, input_shape=(3,))]).get_weights()[0]
    assert not np.array_equal(weights_after_seed(), other)
