# Tocsin — the project's vocabulary. Every target installs what it needs first (idempotent).
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
export PATH := $(CURDIR)/$(BIN):$(CURDIR)/node_modules/.bin:$(PATH)
export CDK_DISABLE_CLI_TELEMETRY := true
export CDK_DISABLE_VERSION_CHECK := true
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION := 1

.PHONY: install chromium demo test test-fast lint typecheck synth synth-fast openapi bench local clean

# --- installation (no-op when up to date) -------------------------------------------------
$(BIN)/activate:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/activate
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

install: $(VENV)/.installed node_modules/.installed

# Debian's Chromium, for the status page's browser tests (they are skipped, saying so, when
# it cannot be installed: no apt, no sudo)
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
chromium:
	@command -v chromium >/dev/null || ($(SUDO) apt-get update -qq && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium) \
		|| echo "WARNING: could not install chromium: the browser tests will be skipped"

# --- the two commands of the README ---------------------------------------------------------
demo: $(VENV)/.installed
	$(BIN)/tocsin demo

test: install chromium
	$(BIN)/ruff check functions infra tests bench app.py
	$(BIN)/ruff format --check functions infra tests bench app.py
	$(BIN)/mypy
	$(BIN)/pytest -n 2 --dist loadgroup

# --- everyday targets -------------------------------------------------------------------------
test-fast: $(VENV)/.installed
	$(BIN)/pytest -n 2 -m "not slow"

lint: $(VENV)/.installed
	$(BIN)/ruff check --fix functions infra tests bench app.py
	$(BIN)/ruff format functions infra tests bench app.py

typecheck: $(VENV)/.installed
	$(BIN)/mypy

local: $(VENV)/.installed
	$(BIN)/tocsin local up

synth: install
	cdk synth --no-notices --quiet

synth-fast: install  # skips CloudFormation's own template validation (cdk-nag still runs)
	CDK_VALIDATION=false cdk synth --no-notices --quiet

openapi: $(VENV)/.installed
	$(BIN)/tocsin openapi > docs/openapi.json

bench: $(VENV)/.installed
	$(BIN)/python -m bench

clean:
	rm -rf cdk.out build .pytest_cache .mypy_cache .ruff_cache
