#!/bin/bash
# usage: shipped_ab.sh ROUNDS OUTDIR: `fashion-train` as `make train` runs it (the reference
# recipe: 96 px, batch 256, the device's defaults: bf16-mixed and, on AMX, channels-last) cut to
# 6 training batches and 1 validation batch, no test pass, against the same with
# model.channels_last=false; alternating order; run from a scratch folder with
# data/FashionMNIST/raw. The figure is each run's perf/train_images_per_s (metrics.json).
R=$1; O=$2; mkdir -p "$O"
PY=${PY:-python}
CUT=(+trainer.limit_train_batches=6 +trainer.limit_val_batches=1 test=false)
for r in $(seq 1 "$R"); do
  if (( r % 2 )); then order=(shipped nchw); else order=(nchw shipped); fi
  for n in "${order[@]}"; do
    extra=(); [ "$n" = nchw ] && extra=(model.channels_last=false)
    d=$O/$n.$r
    ( cd "$SCRATCH" && /usr/bin/time -o "$d.time" -f "%e %U %S" "$PY" -m fashion_resnet.train \
        "${CUT[@]}" "${extra[@]}" paths.log_dir="$d" hydra.run.dir="$d/run" > "$d.log" 2>&1 )
    echo "$r $n rc=$? wall_user_sys=$(tr ' ' , < "$d.time") load=$(cut -d' ' -f1 /proc/loadavg)" | tee -a "$O/times.txt"
  done
done
