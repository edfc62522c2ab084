#!/usr/bin/env bash
# Create the benchmark virtualenv (bench/.venv) with the peers recurrent is compared
# against: PyTorch and Keras 3 on tensorflow-cpu, plus numpy for the data generator.
# Everything comes from PyPI. Re-running it is safe: an existing venv is upgraded to the
# pinned versions.
#
#   bash bench/setup.sh              # create/refresh bench/.venv
#   bash bench/setup.sh --dry-run    # resolve the packages only, install nothing
#
# Overrides (environment): PYTHON (interpreter to build the venv from, default python3;
# TensorFlow 2.21 needs Python 3.10-3.13), BENCH_VENV (venv path), TORCH_SPEC, TF_SPEC,
# KERAS_SPEC (pip requirement strings), TORCH_INDEX_URL (e.g. a CPU-only wheel index;
# PyPI's Linux torch wheel pulls the CUDA libraries, several GB).
# Debian/Ubuntu need the python3-venv package for `python3 -m venv`.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="${BENCH_VENV:-$here/.venv}"
python="${PYTHON:-python3}"
torch_spec="${TORCH_SPEC:-torch==2.15.0}"
tf_spec="${TF_SPEC:-tensorflow-cpu==2.21.0}"
keras_spec="${KERAS_SPEC:-keras==3.15.1}"
numpy_spec="${NUMPY_SPEC:-numpy>=1.26}"

dry_run=()
case "${1:-}" in
  "") ;;
  --dry-run) dry_run=(--dry-run) ;;
  *) echo "usage: bash bench/setup.sh [--dry-run]" >&2; exit 2 ;;
esac

if ! command -v "$python" >/dev/null 2>&1; then
  echo "error: no Python interpreter '$python' (set PYTHON)" >&2
  exit 1
fi
"$python" - <<'PY'
import sys
if not ((3, 10) <= sys.version_info[:2] <= (3, 13)):
    sys.exit(f"error: TensorFlow 2.21 needs Python 3.10-3.13, {sys.executable} is {sys.version.split()[0]} (set PYTHON)")
PY

if [ ! -x "$venv/bin/python" ]; then
  echo "creating $venv"
  "$python" -m venv "$venv"
fi
pip=("$venv/bin/python" -m pip install --disable-pip-version-check)
"${pip[@]}" "${dry_run[@]}" --upgrade pip
"${pip[@]}" "${dry_run[@]}" "$numpy_spec" "$tf_spec" "$keras_spec"
if [ -n "${TORCH_INDEX_URL:-}" ]; then
  "${pip[@]}" "${dry_run[@]}" --index-url "$TORCH_INDEX_URL" "$torch_spec"
else
  "${pip[@]}" "${dry_run[@]}" "$torch_spec"
fi

if [ ${#dry_run[@]} -eq 0 ]; then
  KERAS_BACKEND=tensorflow TF_CPP_MIN_LOG_LEVEL=2 "$venv/bin/python" -c '
import keras, numpy, tensorflow as tf, torch
print(f"ok: torch {torch.__version__}, tensorflow {tf.__version__}, keras {keras.__version__}, numpy {numpy.__version__}")'
  echo "run the benchmarks with: python3 bench/driver.py"
fi
