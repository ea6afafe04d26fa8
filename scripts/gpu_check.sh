#!/usr/bin/env bash
# GPU check: everything the performance issue measures on a GPU, in one run of under 8 minutes
# on one H200. Writes every result under OUTDIR:
#   nvidia-smi.txt, env.txt          the machine and the software
#   bench.md, bench.json, bench.log  scripts/bench.py at full size (ResNet-18, 96 px, batch 256)
#   reference/, fast/                     experiment=reference and experiment=fast end to end (run folders
#                                    with metrics.json, TensorBoard logs), plus their stdout
#   summary.txt                      each stage's exit code, wall time, test/acc
#
#   scripts/gpu_check.sh OUTDIR
#
# The GPU machine has torch, torchvision, pytorch-lightning, torchmetrics and tensorboard, but
# neither Hydra nor the data. Carry both in git-ignored folders:
#   .whl/   wheels of hydra-core, omegaconf and antlr4-python3-runtime, made here with
#           pip wheel --no-deps -w .whl hydra-core==1.3.8 omegaconf==2.3.1 antlr4-python3-runtime==4.9.3
#           (installed into a temporary --target, nothing on the machine changes)
#   data/   FashionMNIST/raw/ with the four .gz files, e.g.
#           mkdir -p data/FashionMNIST/raw && cp /usr/share/datasets/fashion-mnist/*.gz data/FashionMNIST/raw/
#           (or DATA_DIR=/elsewhere: passed as paths.data_dir and --data-dir)
# Stage time limits (seconds) add up to under 8 minutes: BENCH_S, SEED_S, FAST_S below.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${1:?usage: scripts/gpu_check.sh OUTDIR}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
PY=${PYTHON:-python3}
DATA_DIR=${DATA_DIR:-data}
BENCH_S=${BENCH_S:-210} SEED_S=${SEED_S:-130} FAST_S=${FAST_S:-110}

SITE=$(mktemp -d)
trap 'rm -rf "$SITE"' EXIT
if ! $PY -c "import hydra, omegaconf" 2>/dev/null; then
  ls .whl/*.whl >/dev/null 2>&1 || { echo "no Hydra here and no wheels in .whl/ (see header)"; exit 2; }
  $PY -m pip install -q --no-index --no-deps --target "$SITE" .whl/*.whl || exit 2
fi
export PYTHONPATH="$SITE:$PWD/src${PYTHONPATH:+:$PYTHONPATH}"

nvidia-smi > "$OUT/nvidia-smi.txt" 2>&1
{ git rev-parse HEAD; git status --short; $PY -c "import torch, pytorch_lightning as pl, hydra
print('torch', torch.__version__, 'lightning', pl.__version__, 'hydra', hydra.__version__)
print(torch.cuda.get_device_name())"; } > "$OUT/env.txt" 2>&1
echo "stage rc wall_s test/acc" > "$OUT/summary.txt"

stage() {  # stage NAME LIMIT_S STDOUT STDERR COMMAND...: time-limited; record rc, wall time
  local name=$1 limit=$2 out=$3 err=$4 t0 rc acc
  shift 4
  t0=$(date +%s.%N)
  if [ "$out" = "$err" ]; then timeout "$limit" "$@" > "$out" 2>&1
  else timeout "$limit" "$@" > "$out" 2> "$err"; fi
  rc=$?
  acc=$(cat "$OUT/$name"/runs/*/metrics.json 2>/dev/null |
        $PY -c "import json,sys; print(json.load(sys.stdin).get('test/acc'))" 2>/dev/null)
  echo "$name $rc $($PY -c "import time; print(round(time.time() - $t0, 1))") ${acc:--}" \
    | tee -a "$OUT/summary.txt"
}

# 1. The benchmark at full size. compile is left to experiment=fast: its first steps alone
#    would take a third of this script's time in every repeat.
stage bench "$BENCH_S" "$OUT/bench.md" "$OUT/bench.log" $PY scripts/bench.py --device cuda \
  --full --variants fp32,bf16+cl --data-dir "$DATA_DIR" --out "$OUT/bench.json"

# 2. The reference recipe, 10 epochs, end to end (data, fit, test of the best checkpoint).
train() {  # train NAME OVERRIDES...: one run, its folder under OUT/NAME, its output in NAME.log
  local name=$1
  shift
  stage "$name" "$LIMIT" "$OUT/$name.log" "$OUT/$name.log" $PY -m fashion_resnet.train "$@" \
    paths.data_dir="$DATA_DIR" paths.log_dir="$OUT/$name" callbacks.progress_bar.refresh_rate=100
}
LIMIT=$SEED_S train reference experiment=reference trainer=gpu model.channels_last=true

# 3. The fast recipe (conf/experiment/fast.yaml): the time to 0.918 test accuracy.
if [ -f conf/experiment/fast.yaml ]; then
  LIMIT=$FAST_S train fast experiment=fast
else
  echo "fast - - (conf/experiment/fast.yaml not in this checkout)" | tee -a "$OUT/summary.txt"
fi
cat "$OUT/bench.md" "$OUT/summary.txt"
