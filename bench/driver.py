#!/usr/bin/env python3
"""Run the speed benchmarks of `recurrent` against PyTorch and Keras and print one table.

Every workload (bench/workloads.json) runs in recurrent, PyTorch and Keras one after
another, each framework+workload in its own process (so its peak RSS is its own), all on
the same generated data (bench/gen_data.py) and the same thread count. Each process prints
one JSON line; this script collects them, prints markdown tables and (for a full run)
writes BENCHMARKS.md at the repository root with the command, commit, date and CPU.

This file uses the standard library only. The data generator and the PyTorch/Keras
scripts run under the benchmark virtualenv (bench/setup.sh creates bench/.venv; point
BENCH_PYTHON or --python at another interpreter to use an existing one).

Examples:
  python3 bench/driver.py --quick                       # smoke run, all workloads
  python3 bench/driver.py                               # full run, writes BENCHMARKS.md
  python3 bench/driver.py --workloads W1,W3 --frameworks torch,keras
  python3 bench/driver.py --workloads W2,W2m            # W2 without and with mask_zero
  python3 bench/driver.py --rounds 3                    # every run three times, medians

With --rounds N every framework+workload process runs N times, in N interleaved rounds
(round 1 of every workload and framework, then round 2, ...), so a slow minute of a
shared machine hits one round of each rather than every run of one framework; the
tables give each metric's median over the rounds and the ratios of those medians.
"""

import argparse
import datetime
import json
import os
import platform
import shlex
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
FRAMEWORKS = ("recurrent", "recurrent-py", "torch", "keras")
# `--baseline TREE`: the same Rust harness built in another checkout, run as this
# framework right next to `recurrent` in every round.
BASELINE = "recurrent-baseline"
# Run when no --frameworks is given; recurrent-py (the Python package, `pip install ./python`)
# is asked for by name.
DEFAULT_FRAMEWORKS = ("recurrent", "torch", "keras")
PEERS = ("torch", "keras")
DEFAULT_WORKLOADS = "W1,W2,W3,W4,W5"
# Workloads whose 1-thread vs 2-thread training throughput is reported for recurrent.
SCALING_WORKLOADS = ("W2", "W3", "W4")


def log(msg):
    sys.stderr.write(f"[bench {time.strftime('%H:%M:%S')}] {msg}\n")
    sys.stderr.flush()


def load_specs():
    with open(os.path.join(HERE, "workloads.json")) as f:
        specs = json.load(f)
    specs.pop("_comment", None)
    return specs


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workloads", default=DEFAULT_WORKLOADS, help=f"comma-separated (default {DEFAULT_WORKLOADS}; W2m is W2 with mask_zero)")
    ap.add_argument("--frameworks", default=",".join(DEFAULT_FRAMEWORKS), help="comma-separated subset of recurrent,recurrent-py,torch,keras (default recurrent,torch,keras)")
    ap.add_argument("--py-python", default=os.environ.get("RECURRENT_PY_PYTHON", os.path.join(ROOT, "python", ".venv", "bin", "python")), help="interpreter with the recurrent Python package installed, for recurrent-py (default $RECURRENT_PY_PYTHON or python/.venv/bin/python, which python/ci.sh creates)")
    ap.add_argument("--quick", action="store_true", help="8.5 batches per workload and 20 latency calls: a smoke run; does not write BENCHMARKS.md unless --output is given")
    ap.add_argument("--threads", type=int, default=2, help="threads per framework (default 2)")
    ap.add_argument("--no-thread-scaling", action="store_true", help="skip the 1-thread training runs of recurrent on W2-W4")
    ap.add_argument("--omp-passive", action="store_true", help="set OMP_WAIT_POLICY=PASSIVE: on a machine other processes keep busy, PyTorch's spinning OpenMP teams otherwise slow down 10-40x; costs a little on an idle machine")
    ap.add_argument("--python", default=os.environ.get("BENCH_PYTHON", os.path.join(HERE, ".venv", "bin", "python")), help="interpreter with numpy, torch and tensorflow (default $BENCH_PYTHON or bench/.venv/bin/python)")
    ap.add_argument("--data", default=None, help="data directory (default bench/.data/full or bench/.data/quick)")
    ap.add_argument("--output", default=None, help="markdown file to write (default BENCHMARKS.md at the repository root for a full run)")
    ap.add_argument("--no-write", action="store_true", help="print only, write no file")
    ap.add_argument("--from-results", default=None, metavar="JSONL", help="run nothing: render the tables from a results.jsonl an earlier (possibly interrupted) run left behind")
    ap.add_argument("--timeout", type=float, default=3600, help="seconds allowed per framework+workload process")
    ap.add_argument("--min-seconds", type=float, default=0.0, help="each process trains whole epochs, then predicts the whole data set, until this many seconds have passed (at least once each) and reports throughput over all of them (default 0: one epoch and one pass, as the published tables)")
    ap.add_argument("--baseline", default=None, metavar="TREE", help="another checkout of this repository (e.g. a `git worktree` of the commit before a change): its bench/workloads.rs is built there and run as recurrent-baseline right next to recurrent in every round, and a before/after table is added. Pairs a few seconds apart instead of minutes: this machine's speed drifts by 20-40%% over minutes")
    ap.add_argument("--rounds", type=int, default=1, help="run everything this many times, interleaved, and report medians (default 1)")
    args = ap.parse_args()
    # The framework processes run with the bench folder as their working directory.
    args.py_python = os.path.abspath(args.py_python)

    specs = load_specs()
    args.workloads = [w.strip() for w in args.workloads.split(",") if w.strip()]
    for w in args.workloads:
        if w not in specs:
            ap.error(f"unknown workload {w!r}; known: {', '.join(specs)}")
    args.frameworks = [f.strip() for f in args.frameworks.split(",") if f.strip()]
    for f in args.frameworks:
        if f not in FRAMEWORKS:
            ap.error(f"unknown framework {f!r}; known: {', '.join(FRAMEWORKS)}")
    if args.threads < 1:
        ap.error("--threads must be at least 1")
    if args.rounds < 1:
        ap.error("--rounds must be at least 1")
    if not (0 <= args.min_seconds < 3600):
        ap.error("--min-seconds must be between 0 and 3600")
    if args.baseline is not None:
        if "recurrent" not in args.frameworks:
            ap.error("--baseline compares against recurrent: include it in --frameworks")
        if not os.path.isfile(os.path.join(args.baseline, "Cargo.toml")):
            ap.error(f"--baseline {args.baseline}: no Cargo.toml there (give the root of another checkout)")
        args.baseline = os.path.abspath(args.baseline)
        at = args.frameworks.index("recurrent") + 1
        args.frameworks.insert(at, BASELINE)
    if not os.path.exists(args.python):
        ap.error(f"no Python interpreter at {args.python}: run bench/setup.sh, or set BENCH_PYTHON / --python")
    if args.data is None:
        args.data = os.path.join(HERE, ".data", "quick" if args.quick else "full")
    if args.output is None and not args.quick:
        args.output = os.path.join(ROOT, "BENCHMARKS.md")
    if args.no_write:
        args.output = None
    args.specs = specs
    return args


def thread_env(threads, omp_passive):
    """Environment pinning every thread pool we know of to `threads`."""
    env = dict(os.environ)
    if omp_passive:
        env["OMP_WAIT_POLICY"] = "PASSIVE"
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "RAYON_NUM_THREADS", "MATMUL_NUM_THREADS"):
        env[var] = str(threads)
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    env["KERAS_BACKEND"] = "tensorflow"
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def build_recurrent(root=ROOT):
    """Build the Rust benchmark binary of the checkout at `root` once; return its path."""
    cmd = ["cargo", "bench", "--bench", "workloads", "--no-run", "--message-format=json-render-diagnostics"]
    log("building: " + " ".join(cmd))
    proc = subprocess.run(cmd, cwd=root, stdout=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"cargo bench --no-run failed (exit {proc.returncode})")
    exe = None
    for line in proc.stdout.splitlines():
        try:
            msg = json.loads(line)
        except json.JSONDecodeError:
            continue
        if msg.get("reason") == "compiler-artifact" and msg.get("target", {}).get("name") == "workloads" and msg.get("executable"):
            exe = msg["executable"]
    if exe is None:
        raise RuntimeError("cargo did not report the workloads benchmark executable")
    return exe


def command_for(framework, workload, args, exe, threads, skip_inference):
    common = ["--workload", workload, "--data", args.data, "--threads", str(threads)]
    if skip_inference:
        common.append("--skip-inference")
    if args.min_seconds > 0:
        common += ["--min-seconds", str(args.min_seconds)]
    if framework in ("recurrent", BASELINE):
        return [exe[framework], "--json"] + common
    if framework == "recurrent-py":
        return [args.py_python, os.path.join(HERE, "recurrent_py_bench.py")] + common
    script = {"torch": "torch_bench.py", "keras": "keras_bench.py"}[framework]
    return [args.python, os.path.join(HERE, script)] + common


def run_one(framework, workload, args, exe, threads=None, skip_inference=False, role="main", round_no=0):
    """One benchmark process; `role` "scaling" marks the training-only pair of the
    thread-scaling table; `round_no` counts from 0 (`--rounds`)."""
    threads = threads or args.threads
    cmd = command_for(framework, workload, args, exe, threads, skip_inference)
    of_rounds = f", round {round_no + 1} of {args.rounds}" if args.rounds > 1 else ""
    log(f"{workload} {framework} ({threads} thread{'s' if threads > 1 else ''}{', training only' if skip_inference else ''}{of_rounds})")
    t0 = time.time()
    try:
        proc = subprocess.run(cmd, cwd=HERE, env=thread_env(threads, args.omp_passive), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=args.timeout)
    except subprocess.TimeoutExpired:
        return {"framework": framework, "workload": workload, "threads": threads, "role": role, "round": round_no, "error": f"timed out after {args.timeout:.0f} s"}
    result = None
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith("{"):
            try:
                result = json.loads(line)
                break
            except json.JSONDecodeError:
                pass
    if proc.returncode != 0 or result is None:
        tail = " | ".join(proc.stderr.strip().splitlines()[-3:])
        return {"framework": framework, "workload": workload, "threads": threads, "role": role, "round": round_no, "error": f"exit {proc.returncode}: {tail}"}
    result["wall_s"] = time.time() - t0
    # The baseline's harness calls itself "recurrent" too.
    result["framework"] = framework
    result["role"] = role
    result["round"] = round_no
    result["run"] = args.run_id
    result["finished_utc"] = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    result["omp_wait_policy"] = "PASSIVE" if args.omp_passive else os.environ.get("OMP_WAIT_POLICY", "default")
    # Kept as it comes, so an interrupted run still leaves its numbers behind.
    with open(os.path.join(args.data, "results.jsonl"), "a") as f:
        f.write(json.dumps(result) + "\n")
    log(f"  train {fmt(result.get('train_samples_per_s'))} samples/s, infer {fmt(result.get('infer_samples_per_s'))} samples/s, latency {fmt(result.get('latency_ms'), 2)} ms, peak RSS {fmt(result.get('peak_rss_mb'))} MB, loss {fmt(result.get('loss'), 4)}")
    return result


def fmt(v, digits=0):
    if v is None:
        return "n/a"
    if digits == 0:
        return f"{v:,.0f}"
    return f"{v:,.{digits}f}"


def ratio(ours, peer, higher_is_better):
    if ours is None or peer is None or ours == 0 or peer == 0:
        return "n/a"
    r = ours / peer if higher_is_better else peer / ours
    return f"{r:.2f}x"


def recurrent_forward_flops(spec):
    """Forward flops of the recurrent layer per sample per time step:
    2 * gates * units * (input_dim + units), gates 4 for LSTM and 3 for GRU."""
    gates = {"lstm": 4, "gru": 3}[spec["cell"]]
    return 2 * gates * spec["units"] * (spec["embed_dim"] + spec["units"])


METRICS = ("train_samples_per_s", "infer_samples_per_s", "latency_ms", "peak_rss_mb", "loss")


def median(values):
    v = sorted(values)
    n = len(v)
    return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2


def combine(runs):
    """One result from the rounds of one framework+workload: each metric's median over
    the rounds that succeeded (with how many there were), or the first failure when
    none did."""
    ok = [r for r in runs if "error" not in r]
    if not ok:
        return runs[0]
    out = dict(ok[-1])
    for key in METRICS:
        values = [r[key] for r in ok if r.get(key) is not None]
        out[key] = median(values) if values else None
    out["rounds"] = len(ok)
    return out


def by_workload(results):
    """(workload, framework) -> the rounds' results combined."""
    groups = {}
    for r in results:
        groups.setdefault((r["workload"], r["framework"]), []).append(r)
    return {k: combine(v) for k, v in groups.items()}


def baseline_table(results, by, args):
    """recurrent against `--baseline`: ratios of the medians, and each round's pair."""
    out = [f"\n### recurrent against the baseline ({BASELINE} = {getattr(args, 'baseline', None) or 'an earlier checkout'} at {git_commit(getattr(args, 'baseline', None) or ROOT)})\n"]
    out.append("Ratio recurrent / baseline (above 1 = faster now; latency: baseline / recurrent), from the medians; then every round's pair, run back to back.\n")
    out.append("| Workload | train | infer | latency | train per round | infer per round |")
    out.append("|---|---:|---:|---:|---|---|")
    rounds = {}
    for r in results:
        rounds.setdefault((r["workload"], r.get("round", 0)), {})[r["framework"]] = r
    for w in args.workloads:
        new, old = by.get((w, "recurrent"), {}), by.get((w, BASELINE), {})
        row = f"| {w} |"
        for key, higher in (("train_samples_per_s", True), ("infer_samples_per_s", True), ("latency_ms", False)):
            a, b = new.get(key), old.get(key)
            row += f" {(a / b if higher else b / a):.3f} |" if a and b else " n/a |"
        for key in ("train_samples_per_s", "infer_samples_per_s"):
            pairs = [d for (ww, _), d in sorted(rounds.items()) if ww == w]
            ratios = [d["recurrent"][key] / d[BASELINE][key] for d in pairs if d.get("recurrent", {}).get(key) and d.get(BASELINE, {}).get(key)]
            row += f" {' '.join(f'{x:.2f}' for x in ratios) or 'n/a'} |"
        out.append(row)
    return out


def tables(results, scaling, specs, args):
    by = by_workload(results)
    rounds = max((r.get("rounds", 1) for r in by.values()), default=1)
    out = []
    out.append("### Throughput, latency and memory\n")
    spans = (f"whole epochs repeated for at least {args.min_seconds:g} s" if getattr(args, "min_seconds", 0) > 0 else "one full epoch")
    out.append(f"{args.threads} threads per framework. Training: samples/s over {spans} after warm-up. "
               "Inference: samples/s over the whole data set in batches of 256"
               + (f", passes repeated for at least {args.min_seconds:g} s" if getattr(args, "min_seconds", 0) > 0 else "")
               + ". Latency: median of "
               f"{'20' if args.quick else '200'} single-sequence calls (Keras through `tf.function`, PyTorch under "
               "`inference_mode`). Peak RSS: the process's VmHWM."
               + (f" Every figure is the median of {rounds} interleaved rounds (`--rounds`), every ratio one of those medians."
                  if rounds > 1 else "") + "\n")
    out.append("| Workload | Framework | Train samples/s | Infer samples/s | Latency ms | Peak RSS MB | Loss |")
    out.append("|---|---|---:|---:|---:|---:|---:|")
    for w in args.workloads:
        for f in args.frameworks:
            r = by.get((w, f))
            if r is None:
                continue
            label = f"{w} {specs[w]['title']}"
            if "error" in r:
                out.append(f"| {label} | {f} | failed: {r['error'][:120].replace('|', '/')} | | | | |")
                continue
            out.append(f"| {label} | {f} | {fmt(r.get('train_samples_per_s'))} | {fmt(r.get('infer_samples_per_s'))} | "
                       f"{fmt(r.get('latency_ms'), 2)} | {fmt(r.get('peak_rss_mb'))} | {fmt(r.get('loss'), 4)} |")

    peers = [p for p in PEERS if p in args.frameworks]
    if "recurrent" in args.frameworks and peers:
        out.append("\n### recurrent relative to each peer\n")
        out.append("Each ratio is >1 when recurrent is better: throughput ours/peer, latency and memory peer/ours.\n")
        head = "| Workload |"
        rule = "|---|"
        for metric in ("train", "infer", "latency", "RSS"):
            for p in peers:
                head += f" {metric} vs {p} |"
                rule += "---:|"
        out.append(head)
        out.append(rule)
        for w in args.workloads:
            ours = by.get((w, "recurrent"), {})
            row = f"| {w} |"
            for key, hib in (("train_samples_per_s", True), ("infer_samples_per_s", True), ("latency_ms", False), ("peak_rss_mb", False)):
                for p in peers:
                    row += f" {ratio(ours.get(key), by.get((w, p), {}).get(key), hib)} |"
            out.append(row)

    if BASELINE in args.frameworks:
        out += baseline_table(results, by, args)

    if "recurrent" in args.frameworks and "recurrent-py" in args.frameworks:
        out.append("\n### Python API (recurrent-py) against the Rust API (recurrent)\n")
        out.append("Same model, seed and timing; the ratio is Python/Rust (1.00 = no overhead).\n")
        out.append("| Workload | train | infer | latency |")
        out.append("|---|---:|---:|---:|")
        for w in args.workloads:
            rs, py = by.get((w, "recurrent"), {}), by.get((w, "recurrent-py"), {})
            row = f"| {w} |"
            for key in ("train_samples_per_s", "infer_samples_per_s", "latency_ms"):
                a, b = py.get(key), rs.get(key)
                row += f" {a / b:.3f} |" if a and b else " n/a |"
            out.append(row)

    flop_rows = []
    for w in args.workloads:
        spec = specs[w]
        if spec.get("mask_zero"):
            continue  # masked steps do no work; a padded-length flop count would mislead
        fwd = recurrent_forward_flops(spec) * spec["seq_len"]
        for f in args.frameworks:
            r = by.get((w, f), {})
            tr, inf = r.get("train_samples_per_s"), r.get("infer_samples_per_s")
            if tr is None and inf is None:
                continue
            g_tr = tr * 3 * fwd / 1e9 if tr else None
            g_inf = inf * fwd / 1e9 if inf else None
            flop_rows.append(f"| {w} | {f} | {fmt(g_tr, 2)} | {fmt(g_inf, 2)} |")
    if flop_rows:
        out.append("\n### Recurrent-layer GFLOP/s\n")
        out.append("Recurrent-layer flops only, over the whole step time: forward = 2 x gates x units x "
                   "(input_dim + units) per sample per time step (gates: LSTM 4, GRU 3), training counted "
                   "as 3 x forward. W3 is the reference workload for this figure.\n")
        out.append("| Workload | Framework | Training GFLOP/s | Inference GFLOP/s |")
        out.append("|---|---|---:|---:|")
        out.extend(flop_rows)

    if scaling:
        out.append("\n### recurrent training throughput, 1 thread vs 2 threads\n")
        if rounds > 1:
            out.append("Each round runs the pair back to back; the speed-up is the median of the rounds' own "
                       "speed-ups, the throughputs the medians of each column.\n")
        out.append("| Workload | 1 thread samples/s | 2 threads samples/s | Speed-up |")
        out.append("|---|---:|---:|---:|")
        for w, pairs in scaling.items():
            good = [p for p in pairs if "error" not in p["one"] and "error" not in p["many"]]
            if not good:
                one, many = pairs[0]["one"], pairs[0]["many"]
                failed = [r for r in (one, many) if "error" in r]
                out.append(f"| {w} | failed: {failed[0]['error'][:100].replace('|', '/')} | {fmt(many.get('train_samples_per_s'))} | n/a |")
                continue
            t1 = median([p["one"]["train_samples_per_s"] for p in good])
            two = median([p["many"]["train_samples_per_s"] for p in good])
            speedup = median([p["many"]["train_samples_per_s"] / p["one"]["train_samples_per_s"] for p in good])
            out.append(f"| {w} | {fmt(t1)} | {fmt(two)} | {speedup:.2f}x |")
    return "\n".join(out) + "\n"


def git_commit(root=ROOT):
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root, capture_output=True, text=True).stdout.strip()
        return head + (" (with uncommitted changes)" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def loadavg():
    try:
        return os.getloadavg()
    except OSError:
        return None


def write_atomic(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def run_all(args):
    log(f"generating data for {','.join(args.workloads)} in {args.data}")
    gen = [args.python, os.path.join(HERE, "gen_data.py"), "--workloads", ",".join(args.workloads), "--out", args.data]
    if args.quick:
        gen.append("--quick")
    subprocess.run(gen, check=True)

    exe = {}
    if "recurrent" in args.frameworks:
        exe["recurrent"] = build_recurrent()
    if args.baseline:
        exe[BASELINE] = build_recurrent(args.baseline)

    results = []
    scaling = {}
    for round_no in range(args.rounds):
        # Every other round runs the frameworks in reverse, so a framework is not always
        # the one that starts right after another process's exit.
        order = args.frameworks if round_no % 2 == 0 else args.frameworks[::-1]
        for w in args.workloads:
            for f in order:
                results.append(run_one(f, w, args, exe, round_no=round_no))

        # Thread scaling from a back-to-back pair of training-only runs (N threads, then
        # 1): this machine's speed drifts over minutes, so the N-thread figure from the
        # main pass, minutes earlier, is not a fair reference for the 1-thread run.
        if "recurrent" in args.frameworks and not args.no_thread_scaling and args.threads != 1:
            for w in args.workloads:
                if w in SCALING_WORKLOADS:
                    many = run_one("recurrent", w, args, exe, skip_inference=True, role="scaling", round_no=round_no)
                    one = run_one("recurrent", w, args, exe, threads=1, skip_inference=True, role="scaling", round_no=round_no)
                    scaling.setdefault(w, []).append({"one": one, "many": many})
    return results, scaling


def scaling_runs(scaling):
    return [r for pairs in scaling.values() for pair in pairs for r in (pair["many"], pair["one"])]


def load_results(args):
    """Results of the selected workloads and frameworks from a results.jsonl: for each
    (workload, framework, threads, role) the lines of the latest driver run that has
    one (older lines carry no run and count as one earlier run), the last line of each
    of its rounds."""
    runs = {}
    with open(args.from_results) as f:
        for line in f:
            if line.strip():
                r = json.loads(line)
                # Older lines have no role: their 1-thread runs were the scaling ones.
                role = r.get("role", "scaling" if r["threads"] == 1 else "main")
                key = (r["workload"], r["framework"], r["threads"], role)
                runs.setdefault(key, {}).setdefault(r.get("run", ""), {})[r.get("round", 0)] = r
    latest = {}
    for key, by_run in runs.items():
        rounds = by_run[max(by_run)]
        latest[key] = [rounds[rnd] for rnd in sorted(rounds)]
    results = [r for w in args.workloads for f in args.frameworks for r in latest.get((w, f, args.threads, "main"), [])]
    scaling = {}
    if "recurrent" in args.frameworks and args.threads != 1:
        for w in args.workloads:
            ones = latest.get((w, "recurrent", 1, "scaling"), [])
            manys = latest.get((w, "recurrent", args.threads, "scaling"), latest.get((w, "recurrent", args.threads, "main"), []))
            if w in SCALING_WORKLOADS and ones and manys:
                scaling[w] = [{"one": o, "many": m} for o, m in zip(ones, manys)]
    return results, scaling


def main():
    args = parse_args()
    command = "python3 bench/driver.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    started = datetime.datetime.now(datetime.timezone.utc)
    args.run_id = started.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    load_before = loadavg()
    busy = load_before is not None and load_before[0] > 0.5 * (os.cpu_count() or 1)
    if busy:
        log(f"warning: load average {load_before[0]:.2f} on {os.cpu_count()} CPUs: other processes compete for the cores, so the numbers will be low and noisy")

    if args.from_results:
        results, scaling = load_results(args)
    else:
        results, scaling = run_all(args)

    load_after = loadavg()
    body = tables(results, scaling, args.specs, args)
    print(body)

    if args.output:
        versions = sorted({f"{r['framework']} {r['version']}" for r in results if r.get("version")})
        la = lambda v: "n/a" if v is None else ", ".join(f"{x:.2f}" for x in v)  # noqa: E731
        header = [
            "# Benchmarks",
            "",
            "Latest results of the speed benchmarks (`bench/`; see `bench/README.md`). Produced by:",
            "",
            "```sh",
            command,
            "```",
            "",
            *([f"- Rendered from {args.from_results} (results of an earlier run; the load averages below are from rendering time)"] if args.from_results else []),
            f"- Commit: {git_commit()}",
            *([f"- Baseline ({BASELINE}): {args.baseline} at {git_commit(args.baseline)}"] if args.baseline else []),
            f"- Date: {min((r['finished_utc'] for r in results if 'finished_utc' in r), default='unknown') if args.from_results else started.strftime('%Y-%m-%d %H:%M UTC')}",
            f"- CPU: {cpu_model()}, {os.cpu_count()} logical CPUs",
            f"- Load average (1, 5, 15 min) before: {la(load_before)}; after: {la(load_after)}",
            f"- Mode: {'quick (smoke run, few samples)' if args.quick else 'full'}",
            f"- Threads per framework: {args.threads}",
            f"- Timed span: {'whole epochs and inference passes repeated for at least ' + str(args.min_seconds) + ' s each (--min-seconds)' if getattr(args, 'min_seconds', 0) > 0 else 'one epoch, one inference pass'}",
            f"- Rounds: {1 + max((r.get('round', 0) for r in results), default=0)}"
            " (each figure the median over the rounds; `--rounds`)",
            f"- OpenMP wait policy: {', '.join(sorted({r.get('omp_wait_policy', 'unknown') for r in results})) if args.from_results else ('PASSIVE (--omp-passive)' if args.omp_passive else os.environ.get('OMP_WAIT_POLICY', 'default'))}",
            f"- Versions: {'; '.join(versions) if versions else 'n/a'}",
            "",
        ]
        if busy:
            header += [
                f"**Warning: the machine was busy when this ran (1-minute load average {load_before[0]:.2f} on "
                f"{os.cpu_count()} CPUs). Throughput and latency are depressed and noisy, PyTorch's OpenMP "
                "thread teams most of all; rerun on an idle machine before comparing.**",
                "",
                "",
            ]
        raw = ["", "<details><summary>Raw results (one JSON line per process)</summary>", "", "```json"]
        raw += [json.dumps(r) for r in results + scaling_runs(scaling)]
        raw += ["```", "", "</details>", ""]
        write_atomic(args.output, "\n".join(header) + body + "\n".join(raw))
        log(f"wrote {args.output}")

    failed = [r for r in results + scaling_runs(scaling) if "error" in r]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
