"""What the PyTorch and Keras benchmark scripts share: arguments, data loading, timing
rules and the one JSON line each prints."""

import argparse
import json
import os
import statistics
import sys
import time

import numpy as np

LATENCY_CALLS = 200
LATENCY_CALLS_QUICK = 20
LATENCY_WARMUP = 10
INFER_BATCH = 256


def parse_args(framework):
    ap = argparse.ArgumentParser(description=f"{framework} side of the recurrent benchmarks")
    ap.add_argument("--workload", required=True)
    ap.add_argument("--data", required=True, help="directory written by gen_data.py")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--skip-inference", action="store_true", help="time training only")
    ap.add_argument("--min-seconds", type=float, default=0.0, help="train whole epochs until this many seconds have passed (at least one); default 0: one epoch")
    return ap.parse_args()


def timed_passes(one_pass, min_seconds):
    """Runs `one_pass()` (a training epoch returning its loss, or an inference pass over
    the data) once, then again until `min_seconds` have passed: (passes, seconds, last
    result). One W1 epoch lasts 0.1 s at two threads, too short to resolve a few percent
    on a machine whose back-to-back epochs vary by 20%; bench/workloads.rs has the same
    rule."""
    t0 = time.perf_counter()
    passes = 0
    while True:
        out = one_pass()
        passes += 1
        seconds = time.perf_counter() - t0
        if seconds >= min_seconds:
            return passes, seconds, out


def train_fields(n, epochs, seconds, loss):
    """The training entries of the JSON line: throughput over all timed epochs."""
    return {
        "train_epochs": epochs,
        "train_epoch_s": seconds / epochs,
        "train_samples_per_s": epochs * n / seconds,
        "loss": loss,
    }


def infer_fields(n, passes, seconds):
    """The batch-inference entries of the JSON line: throughput over all timed passes."""
    return {"infer_passes": passes, "infer_s": seconds / passes, "infer_samples_per_s": passes * n / seconds}


def load(data_dir, name):
    with open(os.path.join(data_dir, name + ".json")) as f:
        spec = json.load(f)
    n, seq, classes = spec["samples"], spec["seq_len"], spec["classes"]
    x = np.fromfile(os.path.join(data_dir, name + ".x.i32"), dtype="<i4").reshape(n, seq)
    y = np.fromfile(os.path.join(data_dir, name + ".y.f32"), dtype="<f4").reshape(n, classes)
    lengths = None
    if spec.get("length_distribution") is not None:
        lengths = np.fromfile(os.path.join(data_dir, name + ".len.i32"), dtype="<i4")
    return spec, x, y, lengths


def warmup_samples(spec):
    """Two full batches and the epoch's partial last batch (if any), so that graph
    frameworks have traced both batch shapes before the timed epoch."""
    b = spec["batch_size"]
    return 2 * b + spec["samples"] % b


def latency_calls(spec):
    return LATENCY_CALLS_QUICK if spec.get("quick") else LATENCY_CALLS


def median_latency_ms(call, calls):
    for _ in range(LATENCY_WARMUP):
        call()
    times = []
    for _ in range(calls):
        t0 = time.perf_counter()
        call()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


def peak_rss_mb():
    """VmHWM: this process's peak resident set size."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    return None


def emit(result):
    result["peak_rss_mb"] = peak_rss_mb()
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()
