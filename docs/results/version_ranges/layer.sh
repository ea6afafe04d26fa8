#!/bin/bash
# One package at an older version over an environment that has everything else:
#   BASE=<venv> bash docs/results/version_ranges/layer.sh <venv to make> "<pip specs>" <tests...>
# A fresh venv whose .pth line adds BASE's site-packages after its own, so what pip installs
# here (the spec, and whatever it needs that BASE lacks) shadows BASE's copy; then the tests,
# with this checkout's src first on the path.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../../.." && pwd)
LAYER=$1 SPEC=$2
shift 2
site() { "$1/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])'; }
rm -rf "$LAYER" && "$BASE/bin/python" -m venv --without-pip "$LAYER"
site "$BASE" >"$(site "$LAYER")/base.pth"
# shellcheck disable=SC2086
"$BASE/bin/python" -m pip --python "$LAYER/bin/python" install -q $SPEC
"$LAYER/bin/python" -m pip --version >/dev/null 2>&1 || true
echo "installed here: $("$BASE/bin/python" -m pip list --path "$(site "$LAYER")" --format=freeze | tr '\n' ' ')"
cd "$ROOT"
PYTHONPATH="$ROOT/src" OMP_NUM_THREADS=1 "$LAYER/bin/python" -m pytest -q -p no:cacheprovider "$@"
