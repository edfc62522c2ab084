"""The Python API of `recurrent` (`from recurrent import keras`) on one workload: the
same model, seed and timing as bench/workloads.rs (the Rust API), so that the
difference between the two is the cost of the binding. One process, one JSON line.

Needs the package installed in the interpreter that runs it (`pip install ./python`);
bench/driver.py runs it with --python (default: the interpreter running the driver)."""

import time

import bench_common as bc

args = bc.parse_args("recurrent-py")

import numpy as np  # noqa: E402

import recurrent  # noqa: E402
from recurrent import keras  # noqa: E402
from recurrent.keras import layers  # noqa: E402


def main():
    spec, x, y, _lengths = bc.load(args.data, args.workload)
    n, b = spec["samples"], spec["batch_size"]
    binary = spec["classes"] == 1
    keras.utils.set_random_seed(0)
    cell = {"lstm": layers.LSTM, "gru": layers.GRU}[spec["cell"]]
    model = keras.Sequential(
        [
            layers.Embedding(spec["vocab"], spec["embed_dim"], mask_zero=spec.get("mask_zero", False)),
            cell(spec["units"]),
            layers.Dense(spec["classes"], activation="sigmoid" if binary else "softmax"),
        ]
    )
    opt = {"rmsprop": keras.optimizers.RMSprop, "adam": keras.optimizers.Adam}[spec["optimizer"]]
    model.compile(optimizer=opt() if spec["lr"] is None else opt(learning_rate=spec["lr"]), loss=spec["loss"])

    w = bc.warmup_samples(spec)
    model.fit(x[:w], y[:w], batch_size=b, epochs=1, verbose=0)
    t0 = time.perf_counter()
    hist = model.fit(x, y, batch_size=b, epochs=1, verbose=0)
    train_s = time.perf_counter() - t0
    result = {
        "framework": "recurrent-py",
        "version": recurrent.__version__,
        "workload": args.workload,
        "threads": args.threads,
        "samples": n,
        "train_epoch_s": train_s,
        "train_samples_per_s": n / train_s,
        "loss": float(hist.history["loss"][-1]),
    }

    if not args.skip_inference:
        ib = bc.INFER_BATCH
        model.predict(x[: min(n, ib + n % ib)], batch_size=ib, verbose=0)
        t0 = time.perf_counter()
        model.predict(x, batch_size=ib, verbose=0)
        infer_s = time.perf_counter() - t0
        x1 = np.ascontiguousarray(x[0:1])
        result.update(
            {
                "infer_s": infer_s,
                "infer_samples_per_s": n / infer_s,
                "latency_ms": bc.median_latency_ms(lambda: model.predict(x1, batch_size=1, verbose=0), bc.latency_calls(spec)),
            }
        )
    bc.emit(result)


main()
