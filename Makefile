# Two commands for a fresh machine: `make demo` (the tool against a local SSE server, through the
# plugin runtime, no Dify needed) and `make test` (ruff + the whole test suite). `make help` lists all.
PYTHON ?= $(shell command -v python3.12 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
# Runs per benchmark figure (the median is printed); the figures in docs/development.md are medians of 5.
RUNS ?= 5

.DEFAULT_GOAL := help
.PHONY: help demo test lint bench package debug clean

help: ## list the targets
	@echo "SSE Request: make <target>"
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/^([a-z]+):.*## (.*)/  \1\t\2/' | expand -t 12

# graphon is Dify's workflow engine, for tests/engine. Pinned: its constructors change between minors.
# --no-deps: it declares the deps of all its nodes (transformers, pandas, unstructured...), while the
# nodes the tests run import only pydantic, httpx, jsonschema, jinja2 and pyyaml (requirements-dev.txt).
$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 12), "Python 3.12 is required (Dify runs plugins with 3.12): " + sys.version'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps graphon==0.1.2
	touch $@

demo: $(VENV)/.installed ## the tool against a local SSE server, through the plugin runtime (no Dify needed)
	$(PY) -m devkit.demo

lint: $(VENV)/.installed ## ruff check .
	$(PY) -m ruff check .

test: $(VENV)/.installed ## ruff, then the whole test suite (what CI runs)
	$(PY) -m ruff check .
	$(PY) -m pytest -q

bench: $(VENV)/.installed ## every benchmark part, medians of RUNS=5 runs (python -m devkit.bench)
	$(PY) -m devkit.bench --runs $(RUNS)

package: $(VENV)/.installed ## check the plugin as Dify does, then write dist/sse_request-<version>.difypkg
	$(PY) -m devkit.package

debug: $(VENV)/.installed ## remote debugging: run the plugin against the Dify workspace set in .env
	$(PY) -m main

clean: ## remove .venv, dist and the caches
	rm -rf $(VENV) dist .pytest_cache .ruff_cache
