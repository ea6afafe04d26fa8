#!/usr/bin/env bash
# A real basic sweep with a tiny budget (a few minutes on a 2-core CPU), then its report:
# Adam at three learning rates on 4096 real FashionMNIST training images, 2 epochs, 28 px,
# normalised, imagenet stem; tested on 1024 test images (4 batches of 256).
#   scripts/demo_sweep.sh [extra overrides]      # prints the report table
#   PY=python SWEEP=<folder> scripts/demo_sweep.sh   # another interpreter, another folder
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
SWEEP=${SWEEP:-logs/train/multiruns/demo_$(date +%Y-%m-%d_%H-%M-%S)}   # where the sweep goes
# callbacks.progress_bar=null: the one change from what ships besides the budget. The demo's
# output is the report table; three jobs' progress bars would bury it (and its record's log).
$PY -m fashion_resnet.train -m optimizer.lr=3e-4,1e-3,3e-3 \
  data.image_size=28 data.normalize=true data.train_subset=4096 data.val_size=1000 data.batch_size=128 \
  trainer.max_epochs=2 +trainer.limit_test_batches=4 callbacks.progress_bar=null \
  hydra.sweep.dir="$SWEEP" "$@"
$PY -m fashion_resnet.report "$SWEEP"
