"""The engine's thread pool from Python: the interpreter's main thread joins it (see
`join_rayon_pool` in src/lib.rs), also with one thread, and then a model trained,
evaluated and predicted from another Python thread must still run (a pool whose
only worker is the main thread, waiting in Python, would hang it)."""

import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import threading
    import numpy as np
    from recurrent import keras
    from recurrent.keras import layers

    keras.utils.set_random_seed(1)
    x = np.random.randint(1, 50, size=(96, 12)).astype("int32")
    y = (x[:, 0] > 25).astype("float32")

    def run(out):
        m = keras.Sequential([layers.Embedding(50, 8), layers.LSTM(6), layers.Dense(1, activation="sigmoid")])
        m.compile(optimizer="adam", loss="binary_crossentropy", metrics=["acc"])
        h = m.fit(x, y, batch_size=32, epochs=2, verbose=0)
        out.append((h.history["loss"][-1], m.evaluate(x, y, verbose=0)[0], m.predict(x, verbose=0).shape))

    main = []
    run(main)
    side = []
    t = threading.Thread(target=run, args=(side,))
    t.start()
    t.join(60)
    assert not t.is_alive(), "fit from another thread hung"
    # Same seed stream position differs between the two runs, so compare shapes and finiteness.
    assert side and side[0][2] == (96, 1) and np.isfinite(side[0][0]) and np.isfinite(side[0][1]), side
    print("ok", main[0][2], side[0][2])
    """
)


def run_with_threads(n):
    env = {"RAYON_NUM_THREADS": str(n), "PATH": "/usr/bin:/bin"}
    return subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=120)


def test_one_thread_pool_trains_from_the_main_and_another_thread():
    r = run_with_threads(1)
    assert r.returncode == 0 and r.stdout.startswith("ok"), r.stderr[-2000:]


def test_two_thread_pool_trains_from_the_main_and_another_thread():
    r = run_with_threads(2)
    assert r.returncode == 0 and r.stdout.startswith("ok"), r.stderr[-2000:]
