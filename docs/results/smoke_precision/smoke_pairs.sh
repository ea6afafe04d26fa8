#!/bin/bash
# usage: smoke_pairs.sh ROUNDS OUTDIR ; runs base(fp32 old code), new default, new fp32 in rotating order
R=$1; O=$2; mkdir -p $O
PY=/work/main/.venv/bin/python
names=(base new_default new_fp32)
for r in $(seq 0 $((R-1))); do
  for k in 0 1 2; do
    i=$(( (k + r) % 3 )); n=${names[$i]}
    case $n in
      base) src=/tmp/i22-base/src; extra=();;
      new_default) src=/work/wt22/src; extra=();;
      new_fp32) src=/work/wt22/src; extra=(trainer.precision=32-true);;
    esac
    d=$O/$n.$r
    l0=$(cut -d' ' -f1 /proc/loadavg)
    t0=$(date +%s.%N)
    ( cd /tmp/i22 && env PYTHONPATH=$src OMP_NUM_THREADS=${THREADS:-1} $PY -m fashion_resnet.train experiment=smoke "${extra[@]}" paths.log_dir=$d hydra.run.dir=$d/run > $d.log 2>&1 )
    rc=$?
    t1=$(date +%s.%N); l1=$(cut -d' ' -f1 /proc/loadavg)
    echo "$r $n rc=$rc wall=$(echo "$t1 - $t0" | bc) load=$l0-$l1" | tee -a $O/times.txt
  done
done
