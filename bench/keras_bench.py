"""Keras 3 (TensorFlow backend) side of the benchmarks: one workload, one process, one
JSON line on stdout. Training and batch inference use the plain `fit` / `predict` a
Keras user would call; single-sequence latency calls the model through `tf.function`."""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import bench_common as bc  # noqa: E402

args = bc.parse_args("Keras")

import tensorflow as tf  # noqa: E402

# Must happen before TensorFlow creates its thread pools, i.e. before any op runs.
tf.config.threading.set_intra_op_parallelism_threads(args.threads)
tf.config.threading.set_inter_op_parallelism_threads(args.threads)

import time  # noqa: E402

import keras  # noqa: E402
from keras import layers  # noqa: E402


def main():
    spec, x, y, _lengths = bc.load(args.data, args.workload)
    n, b = spec["samples"], spec["batch_size"]
    binary = spec["classes"] == 1
    keras.utils.set_random_seed(0)
    cell = {"lstm": layers.LSTM, "gru": layers.GRU}[spec["cell"]]
    model = keras.Sequential(
        [
            keras.Input(shape=(spec["seq_len"],), dtype="int32"),
            layers.Embedding(spec["vocab"], spec["embed_dim"], mask_zero=spec.get("mask_zero", False)),
            cell(spec["units"]),
            layers.Dense(spec["classes"], activation="sigmoid" if binary else "softmax"),
        ]
    )
    lr = spec["lr"] if spec["lr"] is not None else 1e-3
    opt = {"rmsprop": keras.optimizers.RMSprop, "adam": keras.optimizers.Adam}[spec["optimizer"]](learning_rate=lr)
    model.compile(optimizer=opt, loss=spec["loss"])

    w = bc.warmup_samples(spec)
    model.fit(x[:w], y[:w], batch_size=b, epochs=1, verbose=0)
    t0 = time.perf_counter()
    hist = model.fit(x, y, batch_size=b, epochs=1, verbose=0)
    train_s = time.perf_counter() - t0
    result = {
        "framework": "keras",
        "version": f"keras {keras.__version__} / tf {tf.__version__}",
        "workload": args.workload,
        "threads": args.threads,
        "samples": n,
        "train_epoch_s": train_s,
        "train_samples_per_s": n / train_s,
        "loss": float(hist.history["loss"][-1]),
    }

    if not args.skip_inference:
        ib = bc.INFER_BATCH
        model.predict(x[: min(n, ib + n % ib)], batch_size=ib, verbose=0)  # both batch shapes
        t0 = time.perf_counter()
        model.predict(x, batch_size=ib, verbose=0)
        infer_s = time.perf_counter() - t0

        call = tf.function(lambda t: model(t, training=False))
        x1 = tf.constant(x[0:1])
        result.update(
            {
                "infer_s": infer_s,
                "infer_samples_per_s": n / infer_s,
                "latency_ms": bc.median_latency_ms(lambda: call(x1).numpy(), bc.latency_calls(spec)),
            }
        )
    bc.emit(result)


main()
