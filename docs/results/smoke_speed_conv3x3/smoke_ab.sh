#!/bin/bash
# usage: smoke_ab.sh ROUNDS OUTDIR: `fashion-train experiment=smoke` as shipped (NEW_SRC) against
# the code of the smoke record the issue names (BASE_SRC, commit 36a655a), in turns whose order
# alternates per round, each as shipped (the default torch threads), in a scratch folder holding
# data/FashionMNIST/raw; /usr/bin/time's wall, user and sys seconds, the 1-minute load before and after.
R=$1; O=$2; mkdir -p "$O"
PY=${PY:-python}
for r in $(seq 1 "$R"); do
  if (( r % 2 )); then order=(base new); else order=(new base); fi
  for n in "${order[@]}"; do
    if [ "$n" = base ]; then src=$BASE_SRC; else src=$NEW_SRC; fi
    d=$O/$n.$r
    l0=$(cut -d' ' -f1 /proc/loadavg)
    ( cd "$SCRATCH" && env PYTHONPATH="$src" /usr/bin/time -o "$d.time" -f "%e %U %S" "$PY" -m fashion_resnet.train \
        experiment=smoke paths.log_dir="$d" hydra.run.dir="$d/run" > "$d.log" 2>&1 )
    rc=$?
    l1=$(cut -d' ' -f1 /proc/loadavg)
    echo "$r $n rc=$rc wall_user_sys=$(tr ' ' , < "$d.time") load=$l0-$l1" | tee -a "$O/times.txt"
  done
done
