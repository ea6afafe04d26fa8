#!/usr/bin/env bash
# A real basic sweep with a tiny budget (a few minutes on a 2-core CPU), then its report:
# Adam vs SGD on 2048 real FashionMNIST training images, 2 epochs, 28 px, imagenet stem.
#   scripts/demo_sweep.sh [extra overrides]      # prints the report table
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
SWEEP=logs/train/multiruns/demo_$(date +%Y-%m-%d_%H-%M-%S)
$PY -m fashion_resnet.train -m optimizer=adam,sgd \
  data.image_size=28 data.train_subset=2048 data.val_size=1000 data.batch_size=128 \
  trainer.max_epochs=2 +trainer.limit_test_batches=4 callbacks.progress_bar=null \
  hydra.sweep.dir="$SWEEP" "$@"
$PY -m fashion_resnet.report "$SWEEP"
