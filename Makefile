# Two commands for a fresh machine: `make demo` (the tool against a local SSE server, through the
# plugin runtime, no Dify needed) and `make test` (ruff + the whole test suite).
PYTHON ?= $(shell command -v python3.12 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: demo test lint bench package debug clean

# graphon is Dify's workflow engine, for tests/engine. Pinned: its constructors change between minors.
# --no-deps: it declares the deps of all its nodes (transformers, pandas, unstructured...), while the
# nodes the tests run import only pydantic, httpx, jsonschema, jinja2 and pyyaml (requirements-dev.txt).
$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 12), "Python 3.12 is required (Dify runs plugins with 3.12): " + sys.version'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps graphon==0.1.2
	touch $@

demo: $(VENV)/.installed
	$(PY) -m devkit.demo

lint: $(VENV)/.installed
	$(PY) -m ruff check .

test: $(VENV)/.installed
	$(PY) -m ruff check .
	$(PY) -m pytest -q

bench: $(VENV)/.installed
	$(PY) -m devkit.bench

package: $(VENV)/.installed
	$(PY) -m devkit.package

debug: $(VENV)/.installed
	$(PY) -m main

clean:
	rm -rf $(VENV) dist .pytest_cache .ruff_cache
