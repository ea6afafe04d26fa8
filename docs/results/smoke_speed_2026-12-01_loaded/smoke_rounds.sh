#!/bin/bash
# usage: smoke_rounds.sh FIRST_ROUND LAST_ROUND OUTDIR: base (main's code), new (shipped smoke),
# new_bf16 (smoke with trainer.precision=bf16-mixed), in an order rotating per round, one torch
# thread each, in a scratch folder holding data/FashionMNIST/raw; /usr/bin/time's wall, user, sys.
F=$1; L=$2; O=$3; mkdir -p $O
PY=/work/main/.venv/bin/python
names=(base new new_bf16)
for r in $(seq $F $L); do
  for k in 0 1 2; do
    i=$(( (k + r) % 3 )); n=${names[$i]}
    case $n in
      base) src=/tmp/i22-base/src; extra=();;
      new) src=/work/wt22/src; extra=();;
      new_bf16) src=/work/wt22/src; extra=(trainer.precision=bf16-mixed);;
    esac
    d=$O/$n.$r
    l0=$(cut -d' ' -f1 /proc/loadavg)
    ( cd /tmp/i22 && env PYTHONPATH=$src OMP_NUM_THREADS=1 /usr/bin/time -o $d.time -f "%e %U %S" $PY -m fashion_resnet.train experiment=smoke "${extra[@]}" paths.log_dir=$d hydra.run.dir=$d/run > $d.log 2>&1 )
    rc=$?
    l1=$(cut -d' ' -f1 /proc/loadavg)
    echo "$r $n rc=$rc wall_user_sys=$(tr ' ' , < $d.time) load=$l0-$l1" | tee -a $O/times.txt
  done
done
