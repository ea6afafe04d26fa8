#!/bin/bash
# Time installing the tracking extra's packages into a fresh venv (pip's cache warm), and size them.
set -e
rm -rf ${VENV:-/tmp/tracking-venv} && python3 -m venv ${VENV:-/tmp/tracking-venv}
${VENV:-/tmp/tracking-venv}/bin/pip install -q --upgrade pip >/dev/null 2>&1 || true
for spec in "mlflow-skinny>=3.14,<3.15 flask>=3,<4 flask-cors>=6,<7 pandas>=2,<4" "wandb>=0.31,<0.32"; do
  start=$(date +%s.%N)
  ${VENV:-/tmp/tracking-venv}/bin/pip install -q $spec
  end=$(date +%s.%N)
  echo "install [$spec]: $(echo "$end - $start" | bc) s"
done
echo "site-packages: $(du -sm ${VENV:-/tmp/tracking-venv}/lib/python3*/site-packages | cut -f1) MiB"
${VENV:-/tmp/tracking-venv}/bin/pip list 2>/dev/null | grep -iE "^(mlflow|flask|pandas|wandb|sqlalchemy)"
