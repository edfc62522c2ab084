"""The Python API of `recurrent` (`from recurrent import keras`) on one workload: the
same model, seed and timing as bench/workloads.rs (the Rust API), so that the
difference between the two is the cost of the binding. One process, one JSON line.

Needs the package installed in the interpreter that runs it (`pip install ./python`);
bench/driver.py runs it with --python (default: the interpreter running the driver)."""


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
    epochs, train_s, loss = bc.timed_passes(
        lambda: float(model.fit(x, y, batch_size=b, epochs=1, verbose=0).history["loss"][-1]), args.min_seconds
    )
    result = {
        "framework": "recurrent-py",
        "version": recurrent.__version__,
        "workload": args.workload,
        "threads": args.threads,
        "samples": n,
        **bc.train_fields(n, epochs, train_s, loss),
    }

    if not args.skip_inference:
        ib = bc.INFER_BATCH
        model.predict(x[: min(n, ib + n % ib)], batch_size=ib, verbose=0)
        passes, infer_s, _ = bc.timed_passes(lambda: model.predict(x, batch_size=ib, verbose=0), args.min_seconds)
        x1 = np.ascontiguousarray(x[0:1])
        result.update(
            {
                **bc.infer_fields(n, passes, infer_s),
                "latency_ms": bc.median_latency_ms(lambda: model.predict(x1, batch_size=1, verbose=0), bc.latency_calls(spec)),
            }
        )
    bc.emit(result)


main()
