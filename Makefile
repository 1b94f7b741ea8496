# Two commands for a fresh machine: `make briefings` and `make test`.
# Each makes or refreshes .venv itself and is quick when nothing changed.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
KERNEL := nq21model
JOBS   ?=
# uv installs exactly the versions of uv.lock (edit pyproject.toml, then `make lock`),
# into .venv, with the interpreter of PYTHON: never one it downloads itself.
UV_MIN := 0.13
UV     := UV_PROJECT_ENVIRONMENT=$(VENV) UV_PYTHON_DOWNLOADS=never $(VENV)/bin/uv
STALE  := the lock is stale: run make lock
# Python here may be told not to write bytecode; the package and the notebook kernels
# start much faster with it (each briefing is a new process).
unexport PYTHONDONTWRITEBYTECODE

.PHONY: briefings forecast test fuzz bench chromium clean-outputs lock replay-fixture

# .venv with uv in it (uv keeps itself, pip and setuptools when it syncs .venv).
define bootstrap
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check 'uv>=$(UV_MIN)'
endef

$(STAMP): pyproject.toml uv.lock
	@echo "Setting up $(VENV) from uv.lock (first run: about half a minute)"
	$(bootstrap)
	@out=$$($(UV) lock --check --python $(PYTHON) 2>&1) || { \
	  case "$$out" in *"needs to be updated"*) echo "$(STALE)" >&2 ;; *) echo "$$out" >&2 ;; esac; exit 1; }
	$(UV) sync -q --locked --extra test --compile-bytecode --python $(PYTHON)
	$(PY) -m ipykernel install --sys-prefix --name $(KERNEL) --display-name "Python 3 (nq21model)" >/dev/null
	touch $(STAMP)

uv.lock:
	@echo "uv.lock is missing: run make lock" >&2; exit 1

# Refresh uv.lock after editing the dependencies in pyproject.toml (then make test).
lock:
	$(bootstrap)
	$(UV) lock --python $(PYTHON)

# Refresh tests/fixtures/replay.json after a deliberate change of the model's numbers.
replay-fixture: $(STAMP)
	$(PY) tools/refresh_replay.py

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

# New random examples for the property tests (the suite itself is deterministic).
fuzz: $(STAMP)
	HYPOTHESIS_PROFILE=fuzz $(PY) -m pytest -q tests/test_properties.py tests/test_engine.py

bench: $(STAMP)
	$(PY) benchmarks/run.py

clean-outputs:
	find outputs -mindepth 1 ! -name README.md -exec rm -rf {} +
