"""Writes a SYNTHETIC file shaped like Keras's imdb.npz for the load benchmark.

    /work/.venv-ref/bin/python benches/make_imdb_sized.py [/tmp/imdb_sized.npz]

25,000 + 25,000 sequences of random word ids (< 88,000, skewed towards small ids like
word ranks), lengths log-normal with a mean near IMDB's 240, saved with np.savez as
object arrays of Python lists exactly like Keras's file, labels int64.
"""

import sys

import numpy as np


def sequences(rng, n):
    lengths = np.clip(rng.lognormal(mean=5.3, sigma=0.65, size=n).astype(int), 10, 2500)
    arr = np.empty(n, dtype=object)
    for i, length in enumerate(lengths):
        ids = np.exp(rng.uniform(0, np.log(88000), size=length)).astype(np.int64)
        arr[i] = [int(w) for w in np.clip(ids, 1, 87999)]
    return arr, lengths


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "/tmp/imdb_sized.npz"
    rng = np.random.RandomState(0)
    x_train, ltr = sequences(rng, 25000)
    x_test, lte = sequences(rng, 25000)
    y_train = rng.randint(0, 2, size=25000).astype(np.int64)
    y_test = rng.randint(0, 2, size=25000).astype(np.int64)
    np.savez(out, x_test=x_test, x_train=x_train, y_train=y_train, y_test=y_test)
    print(f"wrote {out}: mean length {np.concatenate([ltr, lte]).mean():.1f}")


if __name__ == "__main__":
    main()
