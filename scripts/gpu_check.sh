#!/usr/bin/env bash
# GPU check: what the GPU issue measures, in one run of under 8 minutes on one H200, ordered by
# value (a cut-short run still hands back the most important figures first):
#   1. reference  experiment=reference, the notebook's recipe (10 epochs, 96 px), end to end,
#                 with the GPU defaults
#   2. fast       experiment=fast: the shortest recipe meant to reach 0.918 test accuracy
#   3. best       experiment=best, cut by its time limit; per-epoch val/acc from its CSV log
#   4. bench      scripts/bench.py at full size (fp32 vs bf16 + channels-last)
# OUTDIR gets 8 files, flat (all that a remote GPU run hands back):
#   env.txt       nvidia-smi, commit, package versions
#   summary.txt   per stage: exit code, wall time, test/acc; then best's val/acc per epoch
#   results.json  per stage: exit code, wall time, metrics.json, val/acc per epoch, run.json's
#                 device record (precision, channels-last, ... as chosen)
#   reference.log fast.log best.log bench.log   each stage's stdout and stderr
#   bench.json    the benchmark's full results
# The run folders (checkpoints, TensorBoard) go to RUNS (default logs/gpu_check), not OUTDIR.
#
#   scripts/gpu_check.sh OUTDIR            # on a GPU machine
#   scripts/gpu_check.sh --dry-run OUTDIR  # CPU, tiny data: the plumbing only, in seconds
#
# The dry run trains each recipe for 2 epochs of one batch of 8 on the CPU (trainer=cpu) with DATA_DIR's files
# unchecked (generated test data works) and skips the benchmark, which needs the real data.
#
# The GPU machine has torch, torchvision, pytorch-lightning, torchmetrics and tensorboard, but
# neither Hydra nor the data. Carry both in git-ignored folders:
#   .whl/   wheels of hydra-core, omegaconf and antlr4-python3-runtime, made here with
#           pip wheel --no-deps -w .whl hydra-core==1.3.8 omegaconf==2.3.1 antlr4-python3-runtime==4.9.3
#           (installed into a temporary --target, nothing on the machine changes)
#   data/   FashionMNIST/raw/ with the four .gz files, e.g.
#           mkdir -p data/FashionMNIST/raw && cp /usr/share/datasets/fashion-mnist/*.gz data/FashionMNIST/raw/
#           (or DATA_DIR=/elsewhere: passed as paths.data_dir and --data-dir)
# Stage time limits (seconds, each plus at most 10 s to stop) add up to under 8 minutes:
# REF_S, FAST_S, BEST_S, BENCH_S below.
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
REF_S=${REF_S:-95} FAST_S=${FAST_S:-75} BEST_S=${BEST_S:-115} BENCH_S=${BENCH_S:-140}
BENCH_REPEATS=${BENCH_REPEATS:-1}  # each repeat starts 8 processes: 1 fits in BENCH_S

SITE=$(mktemp -d)
trap 'rm -rf "$SITE"' EXIT
if ! $PY -c "import hydra, omegaconf" 2>/dev/null; then
  ls .whl/*.whl >/dev/null 2>&1 || { echo "no Hydra here and no wheels in .whl/ (see header)"; exit 2; }
  $PY -m pip install -q --no-index --no-deps --target "$SITE" .whl/*.whl || exit 2
fi
export PYTHONPATH="$SITE:$PWD/src${PYTHONPATH:+:$PYTHONPATH}"

{ nvidia-smi 2>&1 || echo "(no nvidia-smi)"; git rev-parse HEAD; git status --short
  $PY -c "import torch, pytorch_lightning as pl, hydra
print('torch', torch.__version__, 'lightning', pl.__version__, 'hydra', hydra.__version__)
print(torch.cuda.get_device_name() if torch.cuda.is_available() else 'no CUDA device')"
} > "$OUT/env.txt" 2>&1
: > "$OUT/stages.tsv"

stage() {  # stage NAME LIMIT_S COMMAND...: time-limited, output in NAME.log; rc and wall time
  local name=$1 limit=$2 t0 rc
  shift 2
  t0=$(date +%s%N)
  timeout -k 10 "$limit" "$@" > "$OUT/$name.log" 2>&1
  rc=$?
  printf '%s\t%s\t%s\n' "$name" "$rc" "$(( ($(date +%s%N) - t0) / 1000000 ))" >> "$OUT/stages.tsv"
  echo "$name: exit $rc"
}

TINY=()
if [ "$DRY" = 1 ]; then
  TINY=(trainer=cpu +data.verify=false +data.system_dir=null data.download=false
        data.val_size=16 data.batch_size=8 data.image_size=28 trainer.max_epochs=2
        +trainer.limit_train_batches=1 +trainer.limit_val_batches=1 +trainer.limit_test_batches=1)
fi
train() {  # train NAME LIMIT_S OVERRIDES...: one run in RUNS/NAME with a CSV log
  local name=$1 limit=$2
  shift 2
  rm -rf "${RUNS:?}/$name"
  stage "$name" "$limit" $PY -m fashion_resnet.train "$@" paths.data_dir="$DATA_DIR" \
    paths.log_dir="$RUNS/$name" logger=csv callbacks.progress_bar.refresh_rate=100 "${TINY[@]}"
}

train reference "$REF_S" experiment=reference
train fast "$FAST_S" experiment=fast
train best "$BEST_S" experiment=best
if [ "$DRY" = 1 ]; then
  echo "bench (dry run: skipped, it needs the real data)" > "$OUT/bench.log"
  printf 'bench\tskipped\t0\n' >> "$OUT/stages.tsv"
else
  stage bench "$BENCH_S" $PY scripts/bench.py --device cuda --full --variants fp32,bf16+cl \
    --repeats "$BENCH_REPEATS" --data-dir "$DATA_DIR" --out "$OUT/bench.json"
fi

# results.json and summary.txt from the stages and each run's metrics.json, metrics.csv, run.json
$PY - "$OUT" "$RUNS" <<'EOF'
import csv, json, sys
from pathlib import Path

out, runs = Path(sys.argv[1]), Path(sys.argv[2])
results, lines = {}, ["stage rc wall_s test/acc"]
for row in (out / "stages.tsv").read_text().splitlines():
    name, rc, wall_ms = row.split("\t")
    run = max((runs / name).glob("train/runs/*"), default=None, key=lambda p: p.stat().st_mtime)
    res = {"rc": rc, "wall_s": round(int(wall_ms) / 1000, 1), "run_dir": str(run) if run else None}
    if run is not None:
        read = lambda f: json.loads((run / f).read_text()) if (run / f).is_file() else None
        res["metrics"] = read("metrics.json")
        res["device"] = (read("run.json") or {}).get("device")
        log = run / "csv" / "metrics.csv"
        rows = list(csv.DictReader(log.open())) if log.is_file() else []
        res["val_acc_per_epoch"] = [
            [int(r["epoch"]), float(r["val/acc"])] for r in rows if r.get("val/acc")
        ]
    results[name] = res
    acc = (res.get("metrics") or {}).get("test/acc")
    lines.append(f"{name} {rc} {res['wall_s']} {acc if acc is not None else '-'}")
for name, res in results.items():
    if res.get("val_acc_per_epoch"):
        pairs = " ".join(f"{e}:{a:.4f}" for e, a in res["val_acc_per_epoch"])
        lines.append(f"{name} val/acc per epoch: {pairs}")
(out / "results.json").write_text(json.dumps(results, indent=2))
(out / "summary.txt").write_text("\n".join(lines) + "\n")
EOF
rm -f "$OUT/stages.tsv"
cat "$OUT/summary.txt"
