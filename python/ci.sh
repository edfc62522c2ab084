#!/usr/bin/env bash
# Build and test the Python package the way a user installs it: a fresh venv,
# `pip install ./python` (maturin, the PEP 517 backend, builds the Rust extension;
# everything comes from the package registries), then pytest.
#
#   bash python/ci.sh            # venv in python/.venv (reused and refreshed if present)
#
# Overrides (environment): PYTHON (interpreter for the venv, CPython >= 3.9),
# RECURRENT_PY_VENV (venv path), CARGO_TARGET_DIR (default python/target, so rebuilds
# are incremental).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="${RECURRENT_PY_VENV:-$here/.venv}"
python="${PYTHON:-python3}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$here/target}"

"$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet pytest numpy matplotlib scikit-learn
"$venv/bin/python" -m pip install "$here"

# From the tests folder: run from python/, `import recurrent` would find the source
# folder (without the compiled extension) instead of the installed package.
cd "$here/tests"
"$venv/bin/pytest" -q -p no:cacheprovider "$@"
