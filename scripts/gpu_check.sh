#!/usr/bin/env bash
# GPU check: what the GPU issue measures, in one command of under 9 minutes on one H200 (the
# stage limits below add up to 510 s with their kill margins; the whole check stops starting
# stages at TOTAL_S). Stages, most important first, each time-limited (seconds; override any):
#   gpu_tests  GPU_TESTS_S=90  pytest -m gpu: the gpu tier, collected with the core dependencies
#   reference  REF_S=80        experiment=reference (the notebook's recipe, 10 epochs, 96 px) with
#                              the GPU defaults, end to end
#   fast       FAST_S=45       experiment=fast: the shortest recipe meant to reach 0.918
#   best       BEST_S=75       experiment=best cut at BEST_TRAIN of training (trainer.max_time)
#   notebook   NOTEBOOK_S=60   scripts/reference_loop.py: the notebook's own loop, 1 epoch
#   bench      BENCH_S=130     scripts/bench.py --device cuda --full: shipped default vs CUDA
#                              graphs (model.compile_mode=reduce-overhead) vs fp32, plain, bare
# After every stage results.json and summary.txt are rewritten and the stage logs packed again,
# so a check cut short hands back every stage it finished. OUTDIR gets 4 files, flat:
#   env.txt       nvidia-smi, commit, package versions
#   summary.txt   per stage: exit code, wall time, headline figures; val/acc per epoch; targets
#   results.json  per stage: exit code, wall time, metrics.json, run.json's device record, val/acc
#                 per epoch, the gpu tier's counts, the notebook loop's and the bench's JSON
#   logs.tar.gz   each stage's stdout and stderr (logs/<stage>.log)
# Run folders (checkpoints, logs) go to RUNS (default logs/gpu_check), not OUTDIR.
#
#   scripts/gpu_check.sh OUTDIR            # on a GPU machine
#   scripts/gpu_check.sh --dry-run OUTDIR  # CPU, tiny generated-size runs: the plumbing, minutes
#
# The dry run trains each recipe for 2 epochs of one batch of 8 on the CPU (trainer=cpu) with
# DATA_DIR's files unchecked (generated test data works) and runs the bench's --dry-run. Give it
# the GPU machine's dependency set: PYTHON=$(python scripts/gpu_deps.py --env /tmp/gpu-env)
# (only the image's packages and the wheel list's; tests/test_gpu_check.py does this).
#
# The GPU machine's image lacks part of this package's requirements and has no registry. Carry
# two git-ignored folders:
#   .whl/   the wheels of scripts/gpu_wheels.txt (derived from pyproject.toml minus the image's
#           packages, scripts/gpu_image.txt): python scripts/gpu_deps.py --download .whl
#           (installed into a temporary --target here; nothing on the machine changes)
#   data/   FashionMNIST/raw/ with the four .gz files, e.g.
#           mkdir -p data/FashionMNIST/raw && cp /usr/share/datasets/fashion-mnist/*.gz data/FashionMNIST/raw/
#           (or DATA_DIR=/elsewhere: passed as paths.data_dir and --data-dir)
# The working tree there has no .git: pass COMMIT=$(git rev-parse HEAD) for env.txt.
set -uo pipefail
cd "$(dirname "$0")/.."
DRY=0
if [ "${1:-}" = "--dry-run" ]; then DRY=1; shift; fi
OUT=${1:?usage: scripts/gpu_check.sh [--dry-run] OUTDIR}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
PY=${PYTHON:-python3}
DATA_DIR=${DATA_DIR:-data}
RUNS=${RUNS:-logs/gpu_check}
WHEELS=${WHEELS:-.whl}
GPU_TESTS_S=${GPU_TESTS_S:-90} REF_S=${REF_S:-80} FAST_S=${FAST_S:-45} BEST_S=${BEST_S:-75}
NOTEBOOK_S=${NOTEBOOK_S:-60} BENCH_S=${BENCH_S:-130} TOTAL_S=${TOTAL_S:-530} KILL_S=5
BEST_TRAIN=${BEST_TRAIN:-00:00:00:45}  # DD:HH:MM:SS of training for experiment=best
T0=$(date +%s)
WORK=$(mkdir -p "$RUNS" && cd "$RUNS" && pwd)
rm -rf "$WORK/runs" "$WORK/logs" "$WORK"/*.json "$WORK"/*.xml
mkdir -p "$WORK/logs"

SITE=$(mktemp -d)
trap 'rm -rf "$SITE"' EXIT
if ls "$WHEELS"/*.whl >/dev/null 2>&1; then
  $PY -m pip install -q --no-index --no-deps --no-compile --target "$SITE" "$WHEELS"/*.whl || exit 2
fi
export PYTHONPATH="$SITE:$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
if ! $PY -c "import fashion_resnet.train" 2>"$WORK/logs/imports.log"; then
  echo "cannot import fashion_resnet.train with this Python (see below); carry the wheels of"
  echo "scripts/gpu_wheels.txt in $WHEELS/ (python scripts/gpu_deps.py --download $WHEELS)"
  tail -3 "$WORK/logs/imports.log"; exit 2
fi

{ nvidia-smi 2>&1 || echo "(no nvidia-smi)"
  echo "commit ${COMMIT:-$(git rev-parse HEAD 2>/dev/null || echo unknown)}"
  git status --short 2>/dev/null
  $PY -c "import torch, pytorch_lightning as pl, hydra
print('torch', torch.__version__, 'lightning', pl.__version__, 'hydra', hydra.__version__)
print(torch.cuda.get_device_name() if torch.cuda.is_available() else 'no CUDA device')"
} > "$OUT/env.txt" 2>&1
: > "$WORK/stages.tsv"

stage() {  # stage NAME LIMIT_S COMMAND...: time-limited, logged; then the results so far
  local name=$1 limit=$2 t0 rc left
  shift 2
  left=$(( TOTAL_S - ($(date +%s) - T0) - KILL_S ))
  if [ "$left" -lt 10 ]; then  # no time left in the command: say so instead of being cut
    printf '%s\tskipped\t0\n' "$name" >> "$WORK/stages.tsv"; echo "$name: skipped (time)"
  else
    [ "$limit" -gt "$left" ] && limit=$left
    t0=$(date +%s%N)
    timeout -k "$KILL_S" "$limit" "$@" > "$WORK/logs/$name.log" 2>&1
    rc=$?
    printf '%s\t%s\t%s\n' "$name" "$rc" "$(( ($(date +%s%N) - t0) / 1000000 ))" >> "$WORK/stages.tsv"
    echo "$name: exit $rc"
  fi
  $PY scripts/gpu_check_results.py "$OUT" "$WORK"
  tar -czf "$OUT/logs.tar.gz" -C "$WORK" logs
}

TINY=()
if [ "$DRY" = 1 ]; then
  TINY=(trainer=cpu +data.verify=false +data.system_dir=null data.download=false
        data.val_size=16 data.batch_size=8 data.image_size=28 trainer.max_epochs=2
        +trainer.limit_train_batches=1 +trainer.limit_val_batches=1 +trainer.limit_test_batches=1)
fi
train() {  # train NAME LIMIT_S OVERRIDES...: one run in RUNS/runs/NAME with a CSV log
  local name=$1 limit=$2
  shift 2
  stage "$name" "$limit" $PY -m fashion_resnet.train "$@" paths.data_dir="$DATA_DIR" \
    paths.log_dir="$WORK/runs/$name" logger=csv callbacks.progress_bar.refresh_rate=100 "${TINY[@]}"
}

stage gpu_tests "$GPU_TESTS_S" $PY -m pytest -m gpu -q -p no:cacheprovider \
  --junitxml="$WORK/gpu_tests.xml" tests
train reference "$REF_S" experiment=reference
train fast "$FAST_S" experiment=fast
train best "$BEST_S" experiment=best +trainer.max_time="$BEST_TRAIN"
if [ "$DRY" = 1 ]; then
  stage notebook "$NOTEBOOK_S" $PY scripts/reference_loop.py --epochs 1 --max-steps 2 \
    --image-size 28 --batch-size 8 --workers 0 --device cpu --data-dir "$DATA_DIR" --no-verify \
    --test-subset 16 --out "$WORK/notebook.json"
  stage bench "$BENCH_S" $PY scripts/bench.py --dry-run --no-verify --data-dir "$DATA_DIR" \
    --out "$WORK/bench.json"
else
  stage notebook "$NOTEBOOK_S" $PY scripts/reference_loop.py --epochs 1 --data-dir "$DATA_DIR" \
    --out "$WORK/notebook.json"
  stage bench "$BENCH_S" $PY scripts/bench.py --device cuda --full --repeats 1 \
    --data-dir "$DATA_DIR" --out "$WORK/bench.json"
fi
cat "$OUT/summary.txt"
