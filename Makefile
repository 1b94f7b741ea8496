# Two commands for a fresh machine: `make briefings` and `make test`.
# Each makes or refreshes .venv itself and is quick when nothing changed.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
KERNEL := nq21model
JOBS   ?=
# Python here may be told not to write bytecode; the package and the notebook kernels
# start much faster with it (each briefing is a new process).
unexport PYTHONDONTWRITEBYTECODE

.PHONY: briefings forecast test bench chromium clean-outputs

$(STAMP): pyproject.toml
	@echo "Setting up $(VENV) (first run: about a minute)"
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check uv
	$(VENV)/bin/uv pip install -q --compile-bytecode --python $(PY) -e '.[test]'
	$(PY) -m ipykernel install --sys-prefix --name $(KERNEL) --display-name "Python 3 (nq21model)" >/dev/null
	touch $(STAMP)

# The main job: one HTML briefing per district of the bundled data, in outputs/.
briefings: $(STAMP)
	$(VENV)/bin/nq21model briefings $(if $(JOBS),--jobs $(JOBS),)

forecast: $(STAMP)
	$(VENV)/bin/nq21model forecast

# Debian's Chromium for the browser tests (Playwright drives it; no browser download).
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "Installing Debian's chromium for the browser tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

test: $(STAMP) chromium
	$(PY) -m pytest -q

bench: $(STAMP)
	$(PY) benchmarks/run.py

clean-outputs:
	find outputs -mindepth 1 ! -name README.md -exec rm -rf {} +
