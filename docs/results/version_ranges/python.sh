#!/bin/bash
# The core (newest releases pip picks) plus the test tools on another Python, then part of the
# suite: training, the configs, a wheel from an empty folder.
#   PYTHON=python3.13 bash docs/results/version_ranges/python.sh
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../../.." && pwd)
PY=${PYTHON:?the interpreter to test}
VENV=${VENV:-/tmp/py-$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')-venv}
if [ -z "${REUSE:-}" ]; then  # REUSE=1: the venv of an earlier call, as it is
  rm -rf "$VENV" && "$PY" -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip
  "$VENV/bin/python" -m pip install -q -e "$ROOT[test]"
fi
"$VENV/bin/python" --version
"$VENV/bin/python" -m pip list --format=freeze | grep -iE "^(torch|torchvision|pytorch-lightning|hydra-core|numpy|matplotlib)=="
cd "$ROOT"
OMP_NUM_THREADS=1 "$VENV/bin/python" -m pytest -q -p no:cacheprovider \
  ${TESTS:-tests/test_train.py tests/test_configs.py tests/test_wheel.py}
