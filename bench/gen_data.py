"""Generate the benchmark data once, so every framework trains on identical bytes.

For workload W this writes into the data directory:
  W.json   the workload spec from workloads.json plus `samples` (as generated), `seed`,
           and length statistics for masked workloads
  W.x.i32  token ids, int32 little-endian, row-major (samples, seq_len); ids are uniform
           in [1, vocab); id 0 appears only as padding in masked workloads
  W.y.f32  targets, float32 little-endian, (samples, classes): 0/1 labels for a binary
           workload, one-hot rows for a categorical one
  W.len.i32  (masked workloads only) the unpadded length of each sequence

Masked workloads are pre-padded (zeros first, like keras pad_sequences' default) and
their lengths follow a lognormal distribution: exp(N(ln(median), sigma^2)), rounded and
clipped to [min, max]. With median 175 and sigma 0.77 the unclipped mean is about 235 tokens,
close to the IMDB review lengths (median ~174, mean ~234 words); clipping at maxlen 500
then hits about 9% of sequences and leaves a mean of about 213.

Usage: python gen_data.py --workloads W1,W2 --out DIR [--quick]
"""

import argparse
import json
import os
import sys
import zlib

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def load_specs():
    with open(os.path.join(HERE, "workloads.json")) as f:
        specs = json.load(f)
    specs.pop("_comment", None)
    return specs


def quick_samples(spec):
    # Eight full batches and a half one: enough to time, and the partial last batch
    # is exercised as in a full epoch.
    return spec["batch_size"] * 8 + spec["batch_size"] // 2


def write_atomic(path, data: bytes):
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def generate(name, spec, out_dir, quick):
    n = quick_samples(spec) if quick else spec["samples"]
    seed = zlib.crc32(name.encode())
    meta = dict(spec)
    meta.update({"name": name, "samples": n, "seed": seed, "quick": quick})
    meta_path = os.path.join(out_dir, name + ".json")
    if os.path.exists(meta_path):
        with open(meta_path) as f:
            old = json.load(f)
        old_cmp = {k: v for k, v in old.items() if k != "length_stats"}
        if old_cmp == meta and os.path.exists(os.path.join(out_dir, name + ".x.i32")):
            return  # already generated with the same spec and seed

    rng = np.random.default_rng(seed)
    seq, vocab, classes = spec["seq_len"], spec["vocab"], spec["classes"]
    x = rng.integers(1, vocab, size=(n, seq), dtype=np.int32)
    if classes == 1:
        y = rng.integers(0, 2, size=(n, 1)).astype(np.float32)
    else:
        labels = rng.integers(0, classes, size=n)
        y = np.zeros((n, classes), dtype=np.float32)
        y[np.arange(n), labels] = 1.0

    dist = spec.get("length_distribution")
    if dist is not None:
        if dist["kind"] != "lognormal" or dist.get("padding", "pre") != "pre":
            sys.exit(f"{name}: only pre-padded lognormal lengths are supported, got {dist}")
        lengths = np.exp(rng.normal(np.log(dist["median"]), dist["sigma"], size=n))
        lengths = np.clip(np.rint(lengths), dist["min"], min(dist["max"], seq)).astype(np.int32)
        pad = seq - lengths
        x[np.arange(seq)[None, :] < pad[:, None]] = 0
        write_atomic(os.path.join(out_dir, name + ".len.i32"), lengths.astype("<i4").tobytes())
        meta["length_stats"] = {
            "median": float(np.median(lengths)),
            "mean": float(lengths.mean()),
            "fraction_at_max": float((lengths == seq).mean()),
        }

    write_atomic(os.path.join(out_dir, name + ".x.i32"), x.astype("<i4").tobytes())
    write_atomic(os.path.join(out_dir, name + ".y.f32"), y.astype("<f4").tobytes())
    write_atomic(meta_path, json.dumps(meta, indent=1).encode())


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workloads", required=True, help="comma-separated, e.g. W1,W3")
    ap.add_argument("--out", required=True, help="data directory")
    ap.add_argument("--quick", action="store_true", help="few samples, for a smoke run")
    args = ap.parse_args()
    specs = load_specs()
    os.makedirs(args.out, exist_ok=True)
    for name in args.workloads.split(","):
        if name not in specs:
            sys.exit(f"unknown workload {name!r}; known: {', '.join(specs)}")
        generate(name, specs[name], args.out, args.quick)


if __name__ == "__main__":
    main()
