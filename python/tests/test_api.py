"""The Python side of the loop and the input checks: callbacks, Ctrl-C, errors,
files, bad input."""

import os
import signal
import threading
import time

import numpy as np
import pytest

from recurrent import keras
from recurrent.keras import layers


def small_model(vocab=30, compile=True):
    model = keras.Sequential([layers.Embedding(vocab, 4), layers.LSTM(3), layers.Dense(1, activation="sigmoid")])
    if compile:
        model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    return model


def small_data(n=40, t=10, vocab=30, seed=0):
    rng = np.random.RandomState(seed)
    return rng.randint(0, vocab, size=(n, t)).astype(np.int32), rng.randint(0, 2, size=n)


# --- callbacks ---------------------------------------------------------------


def test_python_callback_hooks_model_and_stop_training():
    x, y = small_data()
    model = small_model()
    seen = []

    class Recorder(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            seen.append(("train_begin", len(self.model.get_weights())))

        def on_epoch_begin(self, epoch, logs=None):
            seen.append(("epoch_begin", epoch))

        def on_train_batch_end(self, batch, logs=None):
            seen.append(("batch", batch, sorted(logs)))

        def on_epoch_end(self, epoch, logs=None):
            seen.append(("epoch_end", epoch, sorted(logs)))
            # The model is usable here (weights, save), as in Keras.
            assert len(self.model.get_weights()) == 6
            if epoch == 1:
                self.model.stop_training = True

        def on_train_end(self, logs=None):
            seen.append(("train_end", sorted(logs)))

    history = model.fit(x, y, epochs=5, batch_size=16, validation_split=0.25, verbose=0, callbacks=[Recorder()])
    assert history.epoch == [0, 1]
    assert seen[0] == ("train_begin", 6)
    assert seen[1] == ("epoch_begin", 0)
    assert seen[2] == ("batch", 0, ["accuracy", "loss"])
    assert ("epoch_end", 0, ["accuracy", "loss", "val_accuracy", "val_loss"]) in seen
    assert seen[-1] == ("train_end", ["accuracy", "loss", "val_accuracy", "val_loss"])
    # 30 training samples in batches of 16: 2 batches per epoch.
    assert sum(1 for s in seen if s[0] == "batch") == 4
    assert history.params == {"verbose": 0, "epochs": 5, "steps": 2}


def test_lambda_callback_and_logs_named_as_compiled():
    x, y = small_data()
    model = keras.Sequential([layers.Embedding(30, 4), layers.GRU(3), layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer=keras.optimizers.RMSprop(learning_rate=0.01), loss="binary_crossentropy", metrics=["acc"])
    epochs = []
    cb = keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: epochs.append((epoch, sorted(logs))))
    model.fit(x, y, epochs=2, verbose=0, callbacks=[cb], validation_data=(x, y))
    assert epochs == [(0, ["acc", "loss", "val_acc", "val_loss"]), (1, ["acc", "loss", "val_acc", "val_loss"])]


def test_exception_in_callback_propagates_and_model_stays_usable():
    x, y = small_data()
    model = small_model()

    class Boom(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch == 1:
                raise ZeroDivisionError("boom from a callback")

    with pytest.raises(ZeroDivisionError, match="boom from a callback"):
        model.fit(x, y, epochs=3, batch_size=8, verbose=0, callbacks=[Boom()])
    assert model.predict(x, verbose=0).shape == (40, 1)
    model.fit(x, y, epochs=1, verbose=0)


def test_ctrl_c_raises_keyboard_interrupt_within_a_batch_and_keeps_the_model():
    rng = np.random.RandomState(0)
    x = rng.randint(0, 1000, size=(4000, 200)).astype(np.int32)
    y = rng.randint(0, 2, size=4000)
    model = keras.Sequential([layers.Embedding(1000, 32), layers.LSTM(64), layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy")
    batches = []
    cb = keras.callbacks.LambdaCallback(on_train_batch_end=lambda b, logs: batches.append(time.perf_counter()))
    timer = threading.Timer(1.0, os.kill, (os.getpid(), signal.SIGINT))
    t0 = time.perf_counter()
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        model.fit(x, y, epochs=50, batch_size=32, verbose=0, callbacks=[cb])
    elapsed = time.perf_counter() - t0
    timer.join()
    # Stopped right after the batch during which the signal came, not at the end of fit.
    assert batches, "no batch finished"
    assert elapsed < 1.0 + 5 * max(np.diff(batches).max() if len(batches) > 1 else 0.5, 0.5)
    assert len(batches) < 50 * 125
    assert np.all(np.isfinite(model.predict(x[:5], verbose=0)))


def test_builtin_callbacks_in_rust(tmp_path):
    x, y = small_data()
    model = small_model()
    cbs = [
        keras.callbacks.CSVLogger(str(tmp_path / "log.csv")),
        keras.callbacks.ReduceLROnPlateau(monitor="loss", patience=1),
        keras.callbacks.TerminateOnNaN(),
        keras.callbacks.EarlyStopping(monitor="val_acc" if False else "val_accuracy", patience=1),
        keras.callbacks.ModelCheckpoint(str(tmp_path / "m.keras")),
    ]
    model.fit(x, y, epochs=3, verbose=0, validation_split=0.25, callbacks=cbs)
    assert (tmp_path / "log.csv").read_text().splitlines()[0].split(",")[0] == "epoch"
    back = keras.models.load_model(tmp_path / "m.keras")
    assert back.count_params() == model.count_params()


# --- output ------------------------------------------------------------------


def test_progress_goes_to_sys_stdout(capsys):
    x, y = small_data()
    model = small_model()
    model.fit(x, y, epochs=2, batch_size=20, verbose=1)
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "Epoch 1/2"
    assert out[1].startswith("2/2 - ") and " - loss: " in out[1] and " - accuracy: " in out[1]
    assert out[2] == "Epoch 2/2"
    assert len(out) == 4
    model.fit(x, y, epochs=2, verbose=2)
    assert len(capsys.readouterr().out.splitlines()) == 4


def test_evaluate_and_predict_lines_are_keras_lines(capsys):
    """`evaluate`/`predict` print the progress bar's final line: verbose 2 as Keras
    (`2/2 - 0s - 56us/step - ...`), verbose 1 off a terminal as `fit`'s epoch line."""
    import re

    x, y = small_data()
    model = small_model()
    model.evaluate(x, y, batch_size=20, verbose=2)
    line = capsys.readouterr().out
    assert re.fullmatch(r"2/2 - \d+s - \d+(us|ms|s)/step - \w+: \d\.\d{4} - \w+: \d\.\d{4}\n", line), line
    model.evaluate(x, y, batch_size=20, verbose=1)
    line = capsys.readouterr().out
    assert re.fullmatch(r"2/2 - \d+s \d+(us|ms|s)/step( - \w+: \d\.\d{4}){2}\n", line), line
    model.predict(x, batch_size=8, verbose=2)
    assert re.fullmatch(r"5/5 - \d+s - \d+(us|ms|s)/step\n", capsys.readouterr().out)
    model.predict(x, verbose=0)
    assert capsys.readouterr().out == ""
    for bad in (3, -1):
        with pytest.raises(ValueError, match="verbose must be 0, 1, 2 or 'auto', got"):
            model.predict(x, verbose=bad)
    with pytest.raises(TypeError, match="verbose must be"):
        model.evaluate(x, y, verbose="loud")
    # Arguments recurrent does not implement are refused, not ignored.
    with pytest.raises(ValueError, match="evaluate: `steps` is not supported"):
        model.evaluate(x, y, steps=1)
    with pytest.raises(ValueError, match="predict: `callbacks` are not supported"):
        model.predict(x, callbacks=[keras.callbacks.Callback()])
    model.predict(x, callbacks=[], steps=None, verbose=0)


def test_summary_evaluate_predict_save_load(tmp_path, capsys):
    x, y = small_data()
    model = small_model()
    model.summary()
    out = capsys.readouterr().out
    assert "Total params: 220" in out  # 30*4 + 4*3*(4+3+1) + (3+1)
    model.fit(x, y, epochs=1, verbose=0)
    r = model.evaluate(x, y, verbose=0)
    assert isinstance(r, list) and len(r) == 2
    d = model.evaluate(x, y, verbose=0, return_dict=True)
    assert d == {"accuracy": r[1], "loss": r[0]}
    model2 = keras.Sequential([layers.Embedding(30, 4), layers.LSTM(3), layers.Dense(1)])
    model2.compile(optimizer="sgd", loss="mse")
    assert isinstance(model2.evaluate(x, y, verbose=0), float)
    p = model.predict(x, verbose=0)
    assert p.dtype == np.float32 and p.shape == (40, 1)
    model.save(tmp_path / "m.h5")
    back = keras.models.load_model(tmp_path / "m.h5")
    np.testing.assert_array_equal(back.predict(x, verbose=0), p)
    assert back.evaluate(x, y, verbose=0) == r


def test_datasets_as_keras(keras_home):
    (xtr, ytr), (xte, yte) = keras.datasets.imdb.load_data(num_words=100)
    assert xtr.dtype == object and isinstance(xtr[0], list) and ytr.dtype == np.int64
    assert len(xtr) == 200 and len(xte) == 200
    assert max(max(s) for s in xtr) < 100 and xtr[0][0] == 1
    (rx, ry), (tx, ty) = keras.datasets.reuters.load_data(test_split=0.25)
    assert len(rx) == 300 and len(tx) == 100


def test_missing_dataset_is_os_error(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    with pytest.raises(OSError, match="imdb.npz"):
        keras.datasets.imdb.load_data()


def test_utils_and_text_vectorization():
    padded = keras.utils.pad_sequences([[1, 2, 3], [4]], maxlen=2)
    np.testing.assert_array_equal(padded, [[2, 3], [0, 4]])
    assert padded.dtype == np.int32
    np.testing.assert_array_equal(keras.preprocessing.sequence.pad_sequences([[1], [2, 3]], padding="post"), [[1, 0], [2, 3]])
    oh = keras.utils.to_categorical([0, 2, 1])
    np.testing.assert_array_equal(oh, np.eye(3, dtype=np.float32)[[0, 2, 1]])
    assert keras.utils.to_categorical(np.zeros((2, 5), dtype=int), 3).shape == (2, 5, 3)
    tv = keras.layers.TextVectorization(max_tokens=10, output_sequence_length=4)
    tv.adapt(["the cat sat", "the dog"])
    assert tv.get_vocabulary()[:3] == ["", "[UNK]", "the"]
    ids = tv(["the cat!", "zebra"])
    assert ids.shape == (2, 4) and ids[0, 0] == 2 and ids[1, 0] == 1


# --- bad input ---------------------------------------------------------------


def test_ragged_lists_are_refused():
    model = small_model()
    with pytest.raises(ValueError, match="ragged.*pad_sequences"):
        model.fit([[1, 2, 3], [4, 5]], [0, 1], verbose=0)
    with pytest.raises(ValueError, match="ragged"):
        model.predict(np.array([[1, 2], [3]], dtype=object), verbose=0)


def test_wrong_dtypes_are_refused():
    model = small_model()
    with pytest.raises(TypeError, match="dtype"):
        model.fit(np.array([["a", "b"]]), np.array([1]), verbose=0)
    with pytest.raises(TypeError, match="Embedding"):
        model.predict(np.full((2, 3), 0.5), verbose=0)
    with pytest.raises(TypeError, match="dtype"):
        model.fit(np.zeros((2, 3), dtype=np.int32), np.array(["x", "y"]), verbose=0)
    # Integral floats and int64 are fine (converted once).
    assert model.predict(np.ones((2, 3)), verbose=0).shape == (2, 1)
    assert model.predict(np.ones((2, 3), dtype=np.int64), verbose=0).shape == (2, 1)


def test_labels_of_the_wrong_shape_are_refused():
    x, y = small_data()
    model = small_model()
    with pytest.raises(ValueError, match="40 samples but y has 39"):
        model.fit(x, y[:39], verbose=0)
    with pytest.raises(ValueError):
        model.fit(x, np.zeros((40, 3)), verbose=0)
    reuters = keras.Sequential([layers.Embedding(30, 4), layers.LSTM(3), layers.Dense(5, activation="softmax")])
    reuters.compile(optimizer="adam", loss="categorical_crossentropy")
    with pytest.raises(ValueError):
        reuters.fit(x, keras.utils.to_categorical(np.arange(40) % 7), verbose=0)


def test_out_of_range_token_ids_are_refused():
    x, y = small_data()
    x[7, 3] = 30
    model = small_model()
    with pytest.raises(ValueError, match="token id 30 at sample 7, time step 3"):
        model.fit(x, y, verbose=0)
    x[7, 3] = -1
    with pytest.raises(ValueError, match="token id -1"):
        model.predict(x, verbose=0)


def test_other_bad_calls_are_clear():
    x, y = small_data()
    model = small_model(compile=False)
    with pytest.raises(RuntimeError, match="compile"):
        model.fit(x, y)
    with pytest.raises(ValueError, match="return_state"):
        layers.LSTM(4, return_state=True)
    with pytest.raises(ValueError, match="unknown loss"):
        model.compile(optimizer="adam", loss="hinge")
    with pytest.raises(ValueError, match="unknown optimizer"):
        model.compile(optimizer="adadelta", loss="mse")
    with pytest.raises(ValueError, match="6 weight arrays"):
        model.set_weights([np.zeros(3)])
    w = model.get_weights()
    w[1] = np.zeros((5, 5))
    with pytest.raises(ValueError, match="shape"):
        model.set_weights(w)
    floats = keras.Sequential([layers.LSTM(3, input_shape=(5, 2)), layers.Dense(1)])
    floats.compile(optimizer="adam", loss="mse")
    bad = np.zeros((4, 5, 2), dtype=np.float32)
    bad[2, 1, 0] = np.nan
    with pytest.raises(ValueError, match="sample 2"):
        floats.fit(bad, np.zeros(4), verbose=0)
    with pytest.raises(ValueError, match="shape"):
        floats.predict(np.zeros((4, 5, 3), dtype=np.float32), verbose=0)
    with pytest.raises(OSError):
        keras.models.load_model("/nonexistent/model.keras")


@pytest.mark.parametrize(
    "call, error, message",
    [
        # Each of these once aborted the interpreter, raised a message about a JSON
        # column or an integer conversion, or was taken and broke later calls.
        (lambda: keras.utils.pad_sequences([[1, 2, 3]] * 10, maxlen=10**12), ValueError, "needs 40.0 TB in memory"),
        (lambda: small_model_with(layers.LSTM(3, dropout=float("nan"))), ValueError, r"LSTM `\w+`: argument `dropout` must be a finite number, got nan"),
        (lambda: small_model_with(layers.Bidirectional(layers.GRU(3, recurrent_dropout=float("inf")))), ValueError, r"argument `layer.recurrent_dropout` must be a finite number, got inf"),
        (lambda: small_model(compile=False).compile(optimizer=keras.optimizers.Adam(learning_rate=float("nan")), loss="mse"), ValueError, "optimizer Adam: argument `learning_rate` must be a finite number"),
        (lambda: small_model_with(layers.Dropout(np.float32(0.25))), None, None),
        (lambda: small_model_with(layers.LSTM(-1)), ValueError, r"LSTM `\w+`: invalid value: integer `-1`"),
        (lambda: small_model().fit(*small_data(), epochs=-1, verbose=0), ValueError, "`epochs` must be a non-negative integer, got -1"),
        (lambda: small_model().fit(*small_data(), epochs=2.5, verbose=0), ValueError, "`epochs` must be a non-negative integer, got 2.5"),
        (lambda: small_model().fit(*small_data(), validation_split=float("nan"), verbose=0), ValueError, r"validation_split.*must be in \[0, 1\), got nan"),
        (lambda: keras.Input(shape=(-5, 2)), ValueError, r"keras.Input: shape must be a tuple of positive integers or None, got \(-5, 2\)"),
        (lambda: layers.LSTM(3, input_shape=(0, 2)), ValueError, "input_shape: shape must be"),
        (lambda: layers.Embedding(10, 2, input_length=-3), ValueError, "input_length: shape must be"),
        (lambda: keras.utils.set_random_seed(2**80), ValueError, r"between 0 and 2\*\*32 - 1"),
        # Freezing and float64 are not implemented: refused, never trained or computed
        # in float32 without a word.
        (lambda: layers.Embedding(30, 4, trainable=False), ValueError, r"`trainable=False` is not supported"),
        (lambda: setattr(layers.Embedding(30, 4), "trainable", False), ValueError, "freezing a layer"),
        (lambda: setattr(small_model(), "trainable", False), ValueError, "freezing the model"),
        (lambda: keras.Sequential(trainable=False), ValueError, "trainable=False"),
        (lambda: layers.LSTM(3, dtype="float64"), ValueError, r"`dtype='float64'` is not supported"),
        (lambda: small_model_with(layers.LSTM(3, dtype="float32", trainable=True, unroll=True)), None, None),
        (lambda: small_model_with(layers.Dense(3, dtype=np.float32)), None, None),
    ],
)
def test_hostile_arguments_raise_clear_errors(call, error, message):
    if error is None:
        call()
        return
    with pytest.raises(error, match=message):
        call()
    # Nothing was left behind that breaks the next model.
    model = small_model()
    model.fit(*small_data(), verbose=0)


def small_model_with(layer):
    model = keras.Sequential([layers.Embedding(30, 4), layer, layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy")
    return model


def test_save_follows_links_and_refuses_special_files(tmp_path):
    x, y = small_data()
    model = small_model()
    model.fit(x, y, verbose=0)
    real = tmp_path / "real.keras"
    real.write_bytes(b"old")
    link = tmp_path / "link.keras"
    link.symlink_to(real)
    model.save(link)
    assert link.is_symlink() and real.stat().st_size > 1000
    np.testing.assert_array_equal(keras.models.load_model(link).predict(x, verbose=0), model.predict(x, verbose=0))
    fifo = tmp_path / "fifo.keras"
    os.mkfifo(fifo)
    with pytest.raises(OSError, match="not a regular file"):
        model.save(fifo)
    assert fifo.is_fifo()
    with pytest.raises(OSError, match="is a directory"):
        model.save(tmp_path)


def test_gil_is_released_while_rust_trains():
    rng = np.random.RandomState(0)
    x = rng.randint(0, 500, size=(4000, 100)).astype(np.int32)
    y = rng.randint(0, 2, size=4000)
    model = keras.Sequential([layers.Embedding(500, 16), layers.LSTM(32), layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy")
    ticks = [0]
    stop = threading.Event()

    def spin():
        while not stop.is_set():
            ticks[0] += 1

    t = threading.Thread(target=spin)
    t.start()
    try:
        # The thread's pace with the GIL free (the main thread sleeping)...
        t0, n0 = time.perf_counter(), ticks[0]
        time.sleep(0.3)
        free_rate = (ticks[0] - n0) / (time.perf_counter() - t0)
        # ... and during a one-batch fit (one callback call at its end).
        t0, n0 = time.perf_counter(), ticks[0]
        model.fit(x, y, epochs=1, batch_size=4000, verbose=0)
        fit_rate = (ticks[0] - n0) / (time.perf_counter() - t0)
    finally:
        stop.set()
        t.join()
    # Holding the GIL through the Rust computation would stop the thread for nearly
    # the whole fit (rate ~0); released, it only shares the CPU with the workers.
    assert fit_rate > 0.1 * free_rate, (fit_rate, free_rate)


def test_import_recurrent_as_tf():
    import recurrent as tf

    tf.random.set_seed(3)
    model = tf.keras.Sequential([tf.keras.layers.Dense(2, input_shape=(4,))])
    assert model.count_params() == 10
