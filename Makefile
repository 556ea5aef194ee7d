# `make run` and `make test` are the whole quickstart; both create .venv when missing or stale.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 7071

# Python 3.13 runs devhost through Azure's own worker library (devhost/worker/): the first python3.13
# that works, on PATH or under `pyenv root` (a pyenv shim for a version not selected does not run).
# Empty where there is none: `make run` then uses .venv, and the worker-mode tests skip, saying why.
PYTHON313 ?= $(shell for p in python3.13 $$(pyenv root 2>/dev/null)/versions/3.13*/bin/python3.13; do \
	"$$p" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 13))' 2>/dev/null && { echo "$$p"; break; }; done)
VENV313 := .venv313

.PHONY: run test lint format tools worker bench clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "Python 3.11 or newer is needed; set PYTHON=python3.x")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.runtime: requirements.txt devhost/requirements.txt | $(BIN)/python
	$(BIN)/pip install -q -r devhost/requirements.txt
	@touch $@

$(VENV)/.dev: requirements.txt devhost/requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install -q -r devhost/requirements.txt -r requirements-dev.txt
	@touch $(VENV)/.runtime $@

# devhost on Python 3.13: the app's requirements (which pin azure-functions-runtime there) and uvicorn.
$(VENV313)/.runtime: requirements.txt devhost/requirements.txt
	@test -n "$(PYTHON313)" || { echo "no Python 3.13 found (PATH or pyenv); set PYTHON313=/path/to/python3.13"; exit 1; }
	test -x $(VENV313)/bin/python || $(PYTHON313) -m venv $(VENV313)
	$(VENV313)/bin/pip install -q -r devhost/requirements.txt
	@touch $@

# .venv313 where a Python 3.13 exists; nothing (and a note) elsewhere.
worker:
ifneq ($(PYTHON313),)
worker: $(VENV313)/.runtime
else
	@echo "note: no Python 3.13 (PATH or pyenv): devhost runs on its adapter and the worker-mode tests skip"
endif

# Telemetry to a local viewer: OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:6006 OTEL_METRICS_EXPORTER=none
# OTEL_LOGS_EXPORTER=none make run, with Arize Phoenix's `phoenix serve` (PyPI) on 6006 (README, Observability).
ifneq ($(PYTHON313),)
run: $(VENV313)/.runtime
	$(VENV313)/bin/python -m devhost --port $(PORT)
else
run: $(VENV)/.runtime
	$(BIN)/python -m devhost --port $(PORT)
endif

# Node 22 and the MCP conformance suite, into .tools/ (skipped, with a note, where npm is missing).
tools:
	@bash scripts/install-tools.sh

lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache

test: $(VENV)/.dev tools worker lint
	$(BIN)/python -m pytest

format: $(VENV)/.dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: $(VENV)/.dev worker
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) $(VENV313) .tools .pytest_cache .ruff_cache .hypothesis
