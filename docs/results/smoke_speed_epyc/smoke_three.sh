#!/bin/bash
# usage: smoke_three.sh ROUNDS OUTDIR: `fashion-train experiment=smoke` as shipped (NEW_SRC, its
# 32-true), the same with trainer.precision=bf16-mixed, and the code of the smoke record the issue
# names (BASE_SRC, commit 36a655a), in turns whose order rotates per round, each as shipped (the
# default torch threads), in a scratch folder holding data/FashionMNIST/raw; /usr/bin/time's wall,
# user and sys seconds, the 1-minute load before and after.
R=$1; O=$2; mkdir -p "$O"
PY=${PY:-python}
names=(base new new_bf16)
for r in $(seq 1 "$R"); do
  for k in 0 1 2; do
    n=${names[$(( (k + r - 1) % 3 ))]}
    case $n in
      base) src=$BASE_SRC; extra=();;
      new) src=$NEW_SRC; extra=();;
      new_bf16) src=$NEW_SRC; extra=(trainer.precision=bf16-mixed);;
    esac
    d=$O/$n.$r
    l0=$(cut -d' ' -f1 /proc/loadavg)
    ( cd "$SCRATCH" && env PYTHONPATH="$src" /usr/bin/time -o "$d.time" -f "%e %U %S" "$PY" -m fashion_resnet.train \
        experiment=smoke "${extra[@]}" paths.log_dir="$d" hydra.run.dir="$d/run" > "$d.log" 2>&1 )
    rc=$?
    l1=$(cut -d' ' -f1 /proc/loadavg)
    acc=$(python3 -c "import json;print(json.load(open('$d/run/metrics.json'))['test/acc'])" 2>/dev/null)
    echo "$r $n rc=$rc wall_user_sys=$(tr ' ' , < "$d.time") load=$l0-$l1 test_acc=$acc" | tee -a "$O/times.txt"
  done
done
