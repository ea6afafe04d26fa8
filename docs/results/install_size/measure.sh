#!/bin/bash
# Sizes of the install that `make train` makes (the core) and of each extra on top of it.
#   bash docs/results/install_size/measure.sh [extra ...]   (default: every extra)
# The core: `make install` into a fresh venv, as `make train` runs it. Each extra: a second venv
# whose only view of the core is a .pth line naming the core's site-packages, into which
# `pip install -e '.[extra]'` (what `make install EXTRAS=extra` runs) puts what the extra adds:
# its own site-packages is the extra's size. pip's cache is whatever this machine holds.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../../.." && pwd)
WORK=${WORK:-/tmp/install-size}
EXTRAS=${*:-mlflow wandb optuna slurm ray export timm test dev}
PY=${PYTHON:-python3}
rm -rf "$WORK" && mkdir -p "$WORK"
gib() { du -sb "$1" | awk '{printf "%.2f GiB", $1 / 2^30}'; }
mib() { du -sb "$1" | awk '{printf "%.0f MiB", $1 / 2^20}'; }
site() { "$1/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])'; }
dists() { "$CORE/bin/python" -m pip list --path "$1" --format=freeze 2>/dev/null; }

CORE=$WORK/core
start=$(date +%s)
make -C "$ROOT" install VENV="$CORE" >"$WORK/core.log" 2>&1
CORE_SITE=$(site "$CORE")
echo "python: $("$CORE/bin/python" --version), pip $("$CORE/bin/python" -m pip --version | cut -d' ' -f2)"
echo "core (make train's install): $(dists "$CORE_SITE" | grep -vcE '^(pip|fashion[-_]resnet)==')" \
  "distributions besides pip and fashion_resnet, venv $(gib "$CORE"), in $(( $(date +%s) - start )) s"
echo "  of which torch, triton and the nvidia-* CUDA libraries:" \
  "$(du -scb "$CORE_SITE"/{torch,triton,nvidia} | tail -1 | awk '{printf "%.2f GiB", $1 / 2^30}')"
dists "$CORE_SITE" >"$WORK/core.txt"

for extra in $EXTRAS; do
  layer=$WORK/$extra
  "$PY" -m venv --without-pip "$layer"
  echo "$CORE_SITE" >"$(site "$layer")/core.pth"
  start=$(date +%s)
  "$CORE/bin/python" -m pip --python "$layer/bin/python" install -q -e "$ROOT[$extra]" \
    >"$WORK/$extra.log" 2>&1
  added=$(dists "$(site "$layer")" | grep -v '^fashion[-_]resnet' || true)
  echo "$added" >"$WORK/$extra.txt"
  echo "extra $extra: +$(echo "$added" | grep -c . || true) distributions," \
    "+$(mib "$(site "$layer")") in $(( $(date +%s) - start )) s:" \
    "$(echo "$added" | sed 's/==.*//' | sort -f | tr '\n' ' ')"
done
