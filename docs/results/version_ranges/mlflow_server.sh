#!/bin/bash
# Does `mlflow server` (file store) start with mlflow-skinny VERSION and the server packages
# (MORE, pip specs), over the core (BASE: a core-only venv, no SQLAlchemy)?
#   BASE=<core venv> MORE="flask>=3 flask-cors>=6 pandas>=2 sqlalchemy<2" bash mlflow_server.sh 3.15.0
set -uo pipefail
VERSION=$1 LAYER=${LAYER:-/tmp/mlflow-$1}
site() { "$1/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])'; }
rm -rf "$LAYER" && "$BASE/bin/python" -m venv --without-pip "$LAYER"
site "$BASE" >"$(site "$LAYER")/base.pth"
# shellcheck disable=SC2086
"$BASE/bin/python" -m pip --python "$LAYER/bin/python" install -q "mlflow-skinny==$VERSION" \
  ${MORE:-flask>=3 flask-cors>=6 pandas>=2} >/dev/null 2>&1
echo "mlflow-skinny $VERSION with ${MORE:-flask>=3 flask-cors>=6 pandas>=2}:" \
  "$("$BASE/bin/python" -m pip list --path "$(site "$LAYER")" --format=freeze | grep -iE '^(sqlalchemy|alembic|flask|pandas)==' | tr '\n' ' ')"
"$LAYER/bin/python" -c 'import importlib.util as u; print("sqlalchemy installed:", bool(u.find_spec("sqlalchemy")))'
port=$(( 20000 + RANDOM % 20000 ))
MLFLOW_ALLOW_FILE_STORE=true setsid "$LAYER/bin/python" -m mlflow server --host 127.0.0.1 \
  --port $port --workers 1 --backend-store-uri "file://$LAYER/store" >"$LAYER/server.log" 2>&1 &
pid=$!
for _ in $(seq 120); do
  if curl -sf "http://127.0.0.1:$port/health" >/dev/null; then echo "mlflow-skinny $VERSION: server up"; break; fi
  if ! kill -0 $pid 2>/dev/null; then echo "mlflow-skinny $VERSION: server exited:"; tail -3 "$LAYER/server.log"; break; fi
  sleep 1
done
kill -- -$pid 2>/dev/null; wait $pid 2>/dev/null
