#!/bin/bash
# Every core floor of pyproject.toml at once, on the oldest Python it admits: a fresh venv with
# each core dependency pinned to its floor (pip checks the pins against the declared ranges),
# then the suite (what needs an extra skips).   bash docs/results/version_ranges/floors.sh
# TESTS="tests/test_x.py ..." runs part of it.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../../.." && pwd)
VENV=${VENV:-/tmp/floors-venv}
PY=${PYTHON:-python3.10}
FLOORS="torch==2.6.0 torchvision==0.21.0 pytorch-lightning==2.6.0 hydra-core==1.3.0
  omegaconf==2.3.0 torchmetrics==1.7.0 tensorboard==2.15.0 numpy==1.26.0 pillow==10.0.0
  tqdm==4.66.0 matplotlib==3.7.0 hydra-colorlog==1.2.0 hydra-joblib-launcher==1.2.0
  rich==13.0.0 python-dotenv==1.0.0"
if [ -z "${REUSE:-}" ]; then  # REUSE=1: the venv of an earlier call, as it is
  rm -rf "$VENV" && "$PY" -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip
  # shellcheck disable=SC2086
  "$VENV/bin/python" -m pip install -q -e "$ROOT[test]" $FLOORS
fi
"$VENV/bin/python" --version
"$VENV/bin/python" -m pip list --format=freeze | grep -iE "^(torch|torchvision|pytorch-lightning|hydra|omegaconf|torchmetrics|tensorboard|numpy|pillow|tqdm|matplotlib|rich|python-dotenv|joblib)=="
cd "$ROOT"
OMP_NUM_THREADS=1 "$VENV/bin/python" -m pytest -q -p no:cacheprovider -n 2 ${TESTS:-tests}
