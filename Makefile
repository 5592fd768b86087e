# Two commands do all set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
RUN_STAMP := $(VENV)/.installed-run
HOST ?= 127.0.0.1
PORT ?= 8000
WORKERS ?= 2
BENCHMARK_ARGS ?=

.PHONY: install run test lint format benchmark benchmark-triage benchmark-search benchmark-pages benchmark-load fuzz soak fake-eutils clean

# Two stamps: `make run` needs only the runtime packages, `make test` adds the test tools (Playwright alone
# is a 50 MB wheel). The pip that `venv` bundles with Python 3.11 installs a pyproject.toml project
# editable, so it is not upgraded first (2-3 s). pip's bytecode pass stays: skipping it (--no-compile)
# saved as much CPU at install as the web server, worker and beat then spent compiling at first start.
PIP_INSTALL := $(BIN)/pip install --quiet --disable-pip-version-check

$(BIN)/python:
	@echo "==> Creating the virtualenv $(VENV)/"
	$(PYTHON) -m venv $(VENV)

$(RUN_STAMP): pyproject.toml | $(BIN)/python
	@echo "==> Installing the atlas and its pinned packages into $(VENV)/"
	$(PIP_INSTALL) -e .
	touch $@

$(STAMP): pyproject.toml | $(BIN)/python
	@echo "==> Installing the atlas, its pinned packages and the test tools into $(VENV)/"
	$(PIP_INSTALL) -e ".[test]"
	touch $@ $(RUN_STAMP)

install: $(STAMP)

## Serve the atlas at http://127.0.0.1:8000/ with a Celery worker and beat (SQLite, no broker server).
## Each step prints what it does; Ctrl-C stops the web server, the worker and beat (scripts/run_local.py).
run: $(RUN_STAMP)
	HOST=$(HOST) PORT=$(PORT) $(BIN)/python scripts/run_local.py

## The whole suite: migrations, lint and layering checks, then pytest.
test: install
	$(BIN)/python manage.py makemigrations --check --dry-run
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

## Adding, first fetch and refresh of 20,000 synthetic PMIDs against the fake NCBI (docs/benchmark.md).
## Needs DATABASE_URL (PostgreSQL) and Redis; `make benchmark WORKERS=4 BENCHMARK_ARGS="--modes key,nokey"`.
benchmark: install
	$(BIN)/python scripts/benchmark_refresh.py --workers $(WORKERS) $(BENCHMARK_ARGS)

## One saved-search run: esearch + efetch of 10,000 new PMIDs on real workers (docs/triage.md). Not in `make test`.
benchmark-triage: install
	$(BIN)/python scripts/benchmark_triage.py
## Search pages on a generated atlas (SCALE=1.0 is full size): needs DATABASE_URL of an empty PostgreSQL database.
benchmark-search: install
	$(BIN)/python scripts/generate_atlas.py --scale $(or $(SCALE),1.0)
	$(BIN)/python scripts/benchmark_search.py --explain

## Every page readers and curators use, on generated atlases at 1% and at full size, requests to the two taken in
## turn (docs/benchmark-pages.md). Needs two PostgreSQL databases, filled when empty:
## `make benchmark-pages SMALL_DATABASE_URL=postgres://.../atlas_small DATABASE_URL=postgres://.../atlas_full`.
benchmark-pages: install
	@test -n "$(SMALL_DATABASE_URL)" -a -n "$(DATABASE_URL)" || { echo "Set SMALL_DATABASE_URL and DATABASE_URL (PostgreSQL)"; exit 2; }
	rm -f var/benchmark-pages-small.json var/benchmark-pages-full.json
	$(BIN)/python scripts/benchmark_pages.py --pair $(SMALL_DATABASE_URL) --runs $(or $(RUNS),11) --out var/benchmark-pages $(BENCHMARK_ARGS)

## wrk at 32 connections against gunicorn with production settings, every public page and /healthz in one run
## (docs/load.md). Needs DATABASE_URL (PostgreSQL; migrated and seeded here) and wrk; LOAD_ARGS="--duration 10".
benchmark-load: install
	$(BIN)/python scripts/benchmark_load.py $(LOAD_ARGS)

## The hostile-input suite with many more generated examples per page and command than `make test` (~15 min).
fuzz: install
	HOSTILE_EXAMPLES=$${HOSTILE_EXAMPLES:-60} $(BIN)/pytest -p no:logging tests/test_hostile_input_pages.py tests/test_hostile_input_commands.py

## 5,000 references through a faulty fake NCBI while a worker is killed (docs/resilience.md); not in `make test`.
## Needs DATABASE_URL (PostgreSQL) and Redis, as the worker tests do. Figures: var/soak.json.
soak: install
	mkdir -p var
	SOAK_REPORT=var/soak.json $(BIN)/pytest -p no:cacheprovider -m soak -s tests/test_soak.py

fake-eutils: install
	$(BIN)/python -m tests.fake_eutils --port 8765

clean:
	rm -rf $(VENV) var staticfiles
