# One command for each job; every target builds the environment first if it is missing or stale.
# The environment is the lock (uv.lock), installed by a pinned uv: the same set on every machine, whatever the
# registry serves that day. `make lock` regenerates the lock after a change to pyproject.toml.
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c
UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Never fetch a Python build (only the package registries are reachable); use the one find-python.sh finds.
export UV_PYTHON_DOWNLOADS := never
# This machine's pip config lists local package mirrors that lack most packages; pip warns once per package.
QUIET_PIP := { grep -v "is ignored: it is neither a file nor a directory" || true; }

.PHONY: env demo test test-fast hub lock lock-check clean-env

env: $(STAMP)

# uv itself, pinned, in its own small venv (uv sync would remove it from .venv).
$(UV):
	@python=$$(./scripts/find-python.sh) || exit 1; \
	"$$python" -m venv $(TOOLS) && $(TOOLS)/bin/python -m pip install --quiet "uv==$(UV_VERSION)" 2>&1 | $(QUIET_PIP)

# Rebuilt only when pyproject.toml or the lock changes, so a second run installs nothing.
$(STAMP): pyproject.toml uv.lock $(UV)
	@python=$$(./scripts/find-python.sh) || exit 1; \
	$(UV) sync --locked --extra dev --compile-bytecode --python "$$python" --quiet || { \
	  echo "error: could not install the locked environment (see above); if pyproject.toml changed, run 'make lock'" >&2; exit 1; }
	@$(PY) -m ludwig_hub_export.deps --check
	@touch $(STAMP)

# uv lock needs an interpreter too; without --python it runs the first python3.12 on PATH, which may be a
# pyenv shim that exits 127 on a clean machine.
lock: $(UV)
	@python=$$(./scripts/find-python.sh) || exit 1; \
	$(UV) lock --python "$$python"

# Fails when pyproject.toml changed without a new lock (CI runs this).
lock-check: $(UV)
	@python=$$(./scripts/find-python.sh) || exit 1; \
	$(UV) lock --check --python "$$python"

demo: $(STAMP)
	$(VENV)/bin/ludwig-hub-export demo

# Independent tests side by side (pytest-xdist): most wait on a subprocess, the local Hub or Ludwig's imports.
test: $(STAMP)
	$(PY) -m pytest -n 4

test-fast: $(STAMP)
	$(PY) -m pytest -n 4 -m 'not slow'

hub: $(STAMP)
	$(VENV)/bin/ludwig-hub-export hub serve

clean-env:
	rm -rf $(VENV) $(TOOLS)
