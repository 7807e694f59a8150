# One command for each job; every target builds the environment first if it is missing or stale.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: env demo test test-fast hub clean-env

env: $(STAMP)

# Rebuilt only when pyproject.toml changes, so a second run installs nothing.
$(STAMP): pyproject.toml
	@python=$$(./scripts/find-python.sh) || exit 1; \
	if [ ! -x $(PY) ]; then echo "creating $(VENV) with $$python"; "$$python" -m venv $(VENV) || exit 1; fi
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[ludwig,dev]'
	@touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/ludwig-hub-export demo

test: $(STAMP)
	$(PY) -m pytest

test-fast: $(STAMP)
	$(PY) -m pytest -m 'not slow'

hub: $(STAMP)
	$(VENV)/bin/ludwig-hub-export hub serve

clean-env:
	rm -rf $(VENV)
