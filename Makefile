# One command for each job; every target builds the environment first if it is missing or stale.
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c
# This machine's pip config lists local package mirrors that lack most packages; pip warns once per package.
QUIET_PIP := { grep -v "is ignored: it is neither a file nor a directory" || true; }
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: env demo test test-fast hub clean-env

env: $(STAMP)

# Rebuilt only when pyproject.toml changes, so a second run installs nothing.
$(STAMP): pyproject.toml
	@python=$$(./scripts/find-python.sh) || exit 1; \
	if [ ! -x $(PY) ]; then echo "creating $(VENV) with $$python"; "$$python" -m venv $(VENV) || exit 1; fi
	$(PY) -m pip install --quiet --upgrade pip 2>&1 | $(QUIET_PIP)
	$(PY) -m pip install --quiet -e '.[ludwig,dev]' 2>&1 | $(QUIET_PIP)
	$(PY) -c "import ludwig_hub_export, huggingface_hub, peft, safetensors, ludwig"
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
