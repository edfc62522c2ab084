"""The five seed tutorials, transcribed with only their import lines changed
(tests/seeds/), run on the synthetic datasets of conftest.py. Each test checks what
the tutorial prints and keeps: the summary totals, the history keys, evaluate's
return."""

import os
import runpy

import numpy as np

SEEDS = os.path.join(os.path.dirname(__file__), "seeds")


def run_seed(name):
    return runpy.run_path(os.path.join(SEEDS, name), run_name="__main__")


def test_seed_000_imdb_lstm128(capsys):
    g = run_seed("seed_000.py")
    out = capsys.readouterr().out
    assert "Epoch 10/10" in out
    assert isinstance(g["loss"], float) and np.isfinite(g["loss"])
    assert 0.0 <= g["accuracy"] <= 1.0
    assert f"Test Loss: {g['loss']:.2f}" in out
    assert f"Test Accuracy: {g['accuracy'] * 100:.2f}%" in out


def test_seed_001_reuters_summary(capsys):
    g = run_seed("seed_001.py")
    out = capsys.readouterr().out
    assert "Total params: 185,046" in out
    assert "Trainable params: 185,046" in out
    assert g["X_train"].shape == (320, 100) and g["X_train"].dtype == np.int32
    assert g["y_train"].shape == (320, 46)
    assert out.splitlines()[0] == "46"


def test_seed_002_lstm_checkpoint_early_stopping(capsys):
    g = run_seed("seed_002.py")
    out = capsys.readouterr().out
    assert "Total params: 8,809" in out
    assert sorted(g["history"].history) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    assert 1 <= len(g["history"].epoch) <= 10
    assert "Epoch 1/10" in out
    # ModelCheckpoint('best-lstm-model.h5') wrote a model that loads back.
    from recurrent import keras

    for path, model in (("best-lstm-model.h5", g["model"]), ("best-dropout-model.h5", g["model2"])):
        assert os.path.exists(path)
        back = keras.models.load_model(path)
        assert back.count_params() == 8809


def test_seed_003_acc_history_and_evaluate(capsys):
    g = run_seed("seed_003.py")
    out = capsys.readouterr().out
    assert "Total params: 328,353" in out
    assert sorted(g["history"].history) == ["acc", "loss", "val_acc", "val_loss"]
    assert len(g["acc"]) == 10 and len(g["val_loss"]) == 10
    assert "input_train 크기: (200, 500)" in out
    # The notebook's evaluate cell: [loss, acc] as Keras returns it.
    r = g["model"].evaluate(g["input_test"], g["y_test"], verbose=0)
    assert isinstance(r, list) and len(r) == 2
    assert np.isfinite(r[0]) and 0.0 <= r[1] <= 1.0
    assert " - acc: " in out and " - loss: " in out


def test_seed_004_simple_rnn_onehot_and_embedding(capsys):
    g = run_seed("seed_004.py")
    out = capsys.readouterr().out
    assert "Total params: 4,081" in out
    assert "Total params: 8,209" in out
    assert g["train_oh"].shape == (160, 100, 500)
    assert g["train_oh"].dtype == np.float32
    assert sorted(g["history"].history) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    assert g["model"].count_params() == 8809
    assert os.path.exists("best-simplernn-model.h5") and os.path.exists("best-lstm-model.h5")
