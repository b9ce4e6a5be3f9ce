# Auction data pipeline. `make help` lists every target.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)

.DEFAULT_GOAL := help
.PHONY: help install run demo test test-fast lint format typecheck bench screenshots chromium clean
.PHONY: up down logs ps generate-data generate-batch seed-database run-streaming run-batch test-coverage
.PHONY: db-shell db-reset terraform-plan terraform-apply deploy-check

help: ## list every target with what it does
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

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

test: install chromium lint typecheck ## install, lint, type-check and run every test with coverage
	HYPOTHESIS_PROFILE=ci $(PY) -m pytest --cov --cov-report=term --cov-fail-under=80 -q

test-fast: install ## only the tests that need no external service
	$(PY) -m pytest -q -m "not integration"

bench: install ## every benchmark, JSON on stdout
	$(PY) -m app bench all

screenshots: install chromium ## regenerate docs/img/*.png: the dashboards on a demo lake in headless Chromium (apt chromium)
	$(PY) -m app.dashboards.screenshots

chromium: ## Debian's chromium for the dashboards' browser test and screenshots (apt-get, once; Playwright's own download needs the internet)
	@test -x /usr/bin/chromium || { echo "installing Debian's chromium (apt-get)"; \
	  if [ "$$(id -u)" -eq 0 ]; then apt-get update -qq && apt-get install -y -qq chromium; \
	  elif command -v sudo >/dev/null; then sudo apt-get update -qq && sudo apt-get install -y -qq chromium; \
	  else echo "make chromium: needs root or sudo to apt-get install chromium"; exit 1; fi; }

clean: ## remove local data, caches and the venv
	rm -rf data .pytest_cache .mypy_cache .ruff_cache .coverage .coverage.* $(VENV)

# ---- the seed's commands: compose stack, data, database, terraform ------------------------------
EVENTS ?= 100000
SERVICE ?=
COMPOSE ?= docker compose
TF := terraform -chdir=terraform
# $(call need,TOOL): stop with one line when TOOL is not installed
need = @command -v $(1) >/dev/null 2>&1 || { echo "make $@: needs $(1), which is not installed"; exit 1; }
# the PostgreSQL DSN as the app sees it (environment or .env)
DSN = $$($(PY) -c 'from pipelines.infra.settings import load_settings; print(load_settings().database_url.get_secret_value())')
need_dsn = @test -n "$(DSN)" || { echo "make $@: needs AUCTION_DATABASE_URL (environment or .env)"; exit 1; }

up: ## docker compose: build the image, start redpanda, console, minio, postgres and the app (needs .env)
	$(call need,docker)
	@test -f .env || { echo "make up: needs .env (copy .env.example and fill in its compose section)"; exit 1; }
	$(COMPOSE) up -d --build

down: ## docker compose: stop the stack (volumes kept; `docker compose down -v` drops them)
	$(call need,docker)
	$(COMPOSE) down

logs: ## docker compose: follow the logs (SERVICE=app for one service)
	$(call need,docker)
	$(COMPOSE) logs -f $(SERVICE)

ps: ## docker compose: the stack's containers and their health
	$(call need,docker)
	$(COMPOSE) ps

generate-data: install ## EVENTS synthetic events to the broker (a running `make run`, or AUCTION_BROKER_ADDRESS)
	$(PY) -m app generate --events $(EVENTS) --to broker

generate-batch: install ## EVENTS synthetic events straight to bronze files in the lake
	$(PY) -m app generate --events $(EVENTS) --to lake

seed-database: install ## fill PostgreSQL's operational tables (python -m app seed-db; needs AUCTION_DATABASE_URL)
	$(PY) -m app seed-db

run-streaming: install ## one stream worker (python -m app stream; start several for one consumer group)
	$(PY) -m app stream

run-batch: install ## silver and gold now, every day (python -m app batch)
	$(PY) -m app batch

test-coverage: install ## every test with coverage, HTML report in htmlcov/
	HYPOTHESIS_PROFILE=ci $(PY) -m pytest --cov --cov-report=term --cov-report=html --cov-fail-under=80 -q

db-shell: install ## psql on AUCTION_DATABASE_URL
	$(call need,psql)
	$(need_dsn)
	psql "$(DSN)"

db-reset: install ## drop every schema of AUCTION_DATABASE_URL, then seed it again (CONFIRM=yes)
	$(call need,psql)
	$(need_dsn)
	@test "$(CONFIRM)" = yes || { echo "make db-reset: drops every schema of AUCTION_DATABASE_URL; run it as: make db-reset CONFIRM=yes"; exit 1; }
	psql "$(DSN)" -v ON_ERROR_STOP=1 -q -c "DO \$$\$$ DECLARE s text; BEGIN FOR s IN SELECT nspname FROM pg_namespace WHERE nspname NOT LIKE 'pg\_%' AND nspname <> 'information_schema' LOOP EXECUTE format('DROP SCHEMA %I CASCADE', s); END LOOP; CREATE SCHEMA public; END \$$\$$;"
	$(PY) -m app seed-db

terraform-plan: ## terraform init + plan of terraform/ into terraform/tfplan (needs AWS credentials, terraform/terraform.tfvars)
	$(call need,terraform)
	$(TF) init -input=false
	$(TF) plan -input=false -out=tfplan

terraform-apply: ## apply the plan that terraform-plan saved
	$(call need,terraform)
	@test -f terraform/tfplan || { echo "make terraform-apply: no terraform/tfplan: run make terraform-plan first"; exit 1; }
	$(TF) apply -input=false tfplan

deploy-check: ## the deployment checks of CI: hadolint, compose config, terraform fmt/validate/test, checkov
	bash .ci/deploy-checks
