#!/usr/bin/env bash
# The README's "When things go wrong" commands, run for real: a SIGTERM and a resume, then each
# bad input, printing the exit code and the last line of each message. Tiny runs (debug=limit,
# 28 px); uses the real FashionMNIST when installed.
#   scripts/fault_drill.sh [LOG_DIR]
#   PY=python WAIT_S=600 scripts/fault_drill.sh     # another interpreter; longer first-checkpoint wait
set -uo pipefail
cd "$(dirname "$0")/.."
LOG=${1:-$(mktemp -d)}
mkdir -p "$LOG"
PY=${PY:-.venv/bin/python}
WAIT_S=${WAIT_S:-300}   # the first run's first checkpoint: a few seconds alone, more under load
# The progress bar and model summary off: the drill prints the last line of each message, which
# a progress bar's redraw would otherwise be.
TRAIN=("$PY" -m fashion_resnet.train debug=limit data.image_size=28 trainer.accelerator=cpu
       callbacks.progress_bar=null callbacks.model_summary=null "paths.log_dir=$LOG")
show() { echo "== $1 -> exit $2"; grep -E "$3" "$LOG/out.txt" | tail -n 3; }

echo "### SIGTERM during training, then resume the run folder"
"${TRAIN[@]}" trainer.max_epochs=4 >"$LOG/out.txt" 2>&1 &
pid=$!
deadline=$((SECONDS + WAIT_S))
until ls "$LOG"/train/runs/*/checkpoints/last.ckpt >/dev/null 2>&1; do
  if ! kill -0 $pid 2>/dev/null || [ $SECONDS -ge $deadline ]; then
    kill -TERM $pid 2>/dev/null; wait $pid
    echo "no checkpoint from the training run within ${WAIT_S} s (it exited or hung); its output:"
    tail -n 20 "$LOG/out.txt"
    exit 1
  fi
  sleep 0.2
done
kill -TERM $pid; wait $pid; rc=$?
show "SIGTERM" $rc "Stopped|Saved|Resume with"
run=$(ls -d "$LOG"/train/runs/*/)
run=${run%/}
"$PY" -m fashion_resnet.train ckpt_path="$run" >"$LOG/out.txt" 2>&1
show "fashion-train ckpt_path=$run" $? "Restored all states|max_epochs"
"$PY" -c "import json,sys; m=json.load(open(sys.argv[1])); print('global_step', m['global_step'], 'epochs', m['epochs'])" "$run/metrics.json"
echo "run folders: $(ls "$LOG"/train/runs | wc -l)"

echo "### bad inputs"
"${TRAIN[@]}" model=resnet19 >"$LOG/out.txt" 2>&1; show "model=resnet19" $? "Could not find"
"${TRAIN[@]}" +trainer.max_epoch=3 >"$LOG/out.txt" 2>&1; show "+trainer.max_epoch=3" $? "max_epoch"
"${TRAIN[@]}" data.image_size=12 >"$LOG/out.txt" 2>&1; show "data.image_size=12" $? "too small"
"${TRAIN[@]}" data.hflip=2 >"$LOG/out.txt" 2>&1; show "data.hflip=2" $? "probability"
head -c 1000 "$run/checkpoints/last.ckpt" >"$LOG/truncated.ckpt"
"${TRAIN[@]}" ckpt_path="$LOG/truncated.ckpt" >"$LOG/out.txt" 2>&1
show "ckpt_path=<truncated file>" $? "CheckpointError"
"${TRAIN[@]}" model=resnet34 ckpt_path="$run/checkpoints/last.ckpt" >"$LOG/out.txt" 2>&1
show "model=resnet34 ckpt_path=<a resnet18 checkpoint>" $? "CheckpointError"
"${TRAIN[@]}" ckpt_path="$LOG/nothing-here" >"$LOG/out.txt" 2>&1; show "ckpt_path=<missing>" $? "exist"
touch "$LOG/a-file"
"${TRAIN[@]}" hydra.run.dir="$LOG/a-file/run" >"$LOG/out.txt" 2>&1
show "hydra.run.dir=<under a file>" $? "Error|error"
"${TRAIN[@]}" optimizer=sgd optimizer.lr=1e12 ~scheduler >"$LOG/out.txt" 2>&1
show "optimizer=sgd optimizer.lr=1e12" $? "DivergenceError"
