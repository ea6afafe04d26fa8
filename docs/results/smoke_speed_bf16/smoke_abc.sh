#!/bin/bash
# usage: smoke_abc.sh ROUNDS OUTDIR: `fashion-train experiment=smoke` as shipped (NEW_SRC), the
# same code in full fp32 (trainer.precision=32-true) and the code of the smoke record the issue
# names (BASE_SRC, commit 36a655a), in turns whose order rotates per round, each with the default
# torch threads, in a scratch folder holding data/FashionMNIST/raw; /usr/bin/time's wall, user
# and sys seconds, the 1-minute load before and after.
R=$1; O=$2; mkdir -p "$O"
PY=${PY:-python}
names=(base new new_fp32)
for r in $(seq 1 "$R"); do
  for k in 0 1 2; do
    n=${names[$(( (k + r - 1) % 3 ))]}
    extra=(); src=$NEW_SRC
    [ "$n" = base ] && src=$BASE_SRC
    [ "$n" = new_fp32 ] && extra=(trainer.precision=32-true)
    d=$O/$n.$r
    l0=$(cut -d' ' -f1 /proc/loadavg)
    ( cd "$SCRATCH" && env PYTHONPATH="$src" /usr/bin/time -o "$d.time" -f "%e %U %S" "$PY" -m fashion_resnet.train \
        experiment=smoke "${extra[@]}" paths.log_dir="$d" hydra.run.dir="$d/run" > "$d.log" 2>&1 )
    rc=$?
    l1=$(cut -d' ' -f1 /proc/loadavg)
    echo "$r $n rc=$rc wall_user_sys=$(tr ' ' , < "$d.time") load=$l0-$l1" | tee -a "$O/times.txt"
  done
done
