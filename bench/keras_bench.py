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
    epochs, train_s, loss = bc.timed_passes(
        lambda: float(model.fit(x, y, batch_size=b, epochs=1, verbose=0).history["loss"][-1]), args.min_seconds
    )
    result = {
        "framework": "keras",
        "version": f"{keras.__version__} (tensorflow {tf.__version__})",
        "workload": args.workload,
        "threads": args.threads,
        "samples": n,
        **bc.train_fields(n, epochs, train_s, loss),
    }

    if not args.skip_inference:
        ib = bc.INFER_BATCH
        model.predict(x[: min(n, ib + n % ib)], batch_size=ib, verbose=0)  # both batch shapes
        passes, infer_s, _ = bc.timed_passes(lambda: model.predict(x, batch_size=ib, verbose=0), args.min_seconds)

        call = tf.function(lambda t: model(t, training=False))
        x1 = tf.constant(x[0:1])
        result.update(
            {
                **bc.infer_fields(n, passes, infer_s),
                "latency_ms": bc.median_latency_ms(lambda: call(x1).numpy(), bc.latency_calls(spec)),
            }
        )
    bc.emit(result)


main()
