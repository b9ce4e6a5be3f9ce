# Auction data pipeline. `make help` lists every target.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)

.DEFAULT_GOAL := help
.PHONY: help install run demo test test-fast lint format typecheck bench screenshots clean

help: ## list every target with what it does
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	rm -f $(VENV)/.installed-* && touch $@

install: $(STAMP) ## create .venv and install the app with its dev tools

run: install ## install, then run everything on the embedded defaults (Ctrl-C stops it)
	$(PY) -m app run

demo: install ## install, then run the whole pipeline headless on 200k events and exit
	$(PY) -m app demo --events 200000

lint: install ## ruff lint, format check and the import-layering contract (import-linter)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(VENV)/bin/lint-imports

format: install ## ruff format and autofix
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

typecheck: install ## mypy on app/ and pipelines/
	$(PY) -m mypy

test: install lint typecheck ## install, lint, type-check and run every test with coverage
	HYPOTHESIS_PROFILE=ci $(PY) -m pytest --cov --cov-report=term --cov-fail-under=80 -q

test-fast: install ## only the tests that need no external service
	$(PY) -m pytest -q -m "not integration"

bench: install ## every benchmark, JSON on stdout
	$(PY) -m app bench all

screenshots: install ## regenerate docs/img/*.png: the dashboards on a demo lake in headless Chromium (apt chromium)
	$(PY) -m app.dashboards.screenshots

clean: ## remove local data, caches and the venv
	rm -rf data .pytest_cache .mypy_cache .ruff_cache .coverage .coverage.* $(VENV)
