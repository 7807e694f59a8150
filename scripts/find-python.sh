#!/usr/bin/env bash
# Prints the path of a Python >= 3.12 interpreter (Ludwig 0.17 needs it), or explains why none was found.
# Order: $PYTHON, plain python3.12/3.13/3.14/python3 on PATH, then pyenv's installed versions.
set -u
ok() { "$1" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' >/dev/null 2>&1; }
resolve() { "$1" -c 'import sys; print(sys.executable)' 2>/dev/null; }
if [ -n "${PYTHON:-}" ]; then
  if ok "$PYTHON"; then resolve "$PYTHON"; exit 0; fi
  echo "error: PYTHON=$PYTHON is not a working Python >= 3.12" >&2; exit 1
fi
for name in python3.12 python3.13 python3.14 python3; do
  # A pyenv shim exists on PATH even when its version is not selected; running it is the only real test.
  if command -v "$name" >/dev/null 2>&1 && ok "$name"; then resolve "$name"; exit 0; fi
done
root=""
if command -v pyenv >/dev/null 2>&1; then root=$(pyenv root); elif [ -d "${PYENV_ROOT:-$HOME/.pyenv}" ]; then root=${PYENV_ROOT:-$HOME/.pyenv}; fi
if [ -n "$root" ]; then
  for dir in $(ls -d "$root"/versions/3.1[2-9]* 2>/dev/null | sort -V); do
    for exe in "$dir"/bin/python3.1[2-9]; do
      if [ -x "$exe" ] && ok "$exe"; then echo "$exe"; exit 0; fi
    done
  done
fi
cat >&2 <<'MSG'
error: no Python >= 3.12 found (Ludwig 0.17 requires it).
  Tried: $PYTHON, python3.12, python3.13, python3.14, python3 on PATH, and pyenv's versions.
  Fix: install Python 3.12+ (e.g. `pyenv install 3.12` or your OS package), or run with PYTHON=/path/to/python3.12.
MSG
exit 1
