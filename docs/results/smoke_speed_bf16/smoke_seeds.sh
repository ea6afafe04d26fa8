#!/bin/bash
# usage: smoke_seeds.sh OUTDIR SEED...: the shipped smoke (NEW_SRC) and 36a655a's (BASE_SRC) at
# other seeds, alternating, as smoke_abc.sh runs them: is the accuracy gap one seed's luck?
O=$1; shift; mkdir -p "$O"
PY=${PY:-python}
for s in "$@"; do
  for n in base new; do
    src=$NEW_SRC; [ "$n" = base ] && src=$BASE_SRC
    d=$O/$n.seed$s
    ( cd "$SCRATCH" && env PYTHONPATH="$src" /usr/bin/time -o "$d.time" -f "%e %U %S" "$PY" -m fashion_resnet.train \
        experiment=smoke seed="$s" paths.log_dir="$d" hydra.run.dir="$d/run" > "$d.log" 2>&1 )
    echo "seed$s $n rc=$? wall_user_sys=$(tr ' ' , < "$d.time")" | tee -a "$O/times.txt"
  done
done
