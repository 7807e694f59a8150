#!/usr/bin/env bash
# Fresh-setup time of the locked environment: uv (what `make env` runs) versus plain pip installing the same
# locked set, each cold (empty package cache) and warm (cache filled by the cold run), into a new venv.
# Usage: benchmarks/setup_time.sh [WORKDIR]   (needs ~15 GB free in WORKDIR; prints one line per run)
set -euo pipefail
cd "$(dirname "$0")/.."
work=${1:-$(mktemp -d /tmp/setup-time.XXXX)}
mkdir -p "$work"
python=$(./scripts/find-python.sh)
make -s .tools/bin/uv >/dev/null
uv=$PWD/.tools/bin/uv
export UV_PYTHON_DOWNLOADS=never
"$uv" export --quiet --frozen --extra dev --no-emit-project --format requirements-txt -o "$work/requirements.txt"

run() {  # label, command...
  local label=$1; shift
  local start end
  start=$(date +%s.%N)
  "$@" >"$work/$label.log" 2>&1
  end=$(date +%s.%N)
  printf '%-10s %7.1f s\n' "$label" "$(echo "$end - $start" | bc)"
}

uv_sync() {  # a copy of the project, so the real .venv is untouched
  rm -rf "$work/proj" && mkdir "$work/proj" && cp -r pyproject.toml uv.lock README.md ludwig_hub_export "$work/proj/"
  (cd "$work/proj" && UV_CACHE_DIR="$work/uv-cache" "$uv" sync --locked --extra dev --python "$python" --quiet)
}
pip_install() {
  rm -rf "$work/pipvenv" && "$python" -m venv "$work/pipvenv"
  PIP_CACHE_DIR="$work/pip-cache" "$work/pipvenv/bin/pip" install --quiet --no-deps --require-hashes \
    -r "$work/requirements.txt" && "$work/pipvenv/bin/pip" install --quiet --no-deps -e .
}

rm -rf "$work/uv-cache" "$work/pip-cache"
run uv-cold uv_sync
run uv-warm uv_sync
rm -rf "$work/proj"
run pip-cold pip_install
run pip-warm pip_install
rm -rf "$work/pipvenv" "$work/proj"
echo "work dir: $work (caches kept; remove when done)"
