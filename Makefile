# Two commands do all set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install run test lint format benchmark benchmark-search fake-eutils clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

## Serve the atlas at http://127.0.0.1:8000/ with a Celery worker and beat (SQLite, no broker server).
run: install
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py seed_atlas
	$(BIN)/python manage.py create_local_curator
	HOST=$(HOST) PORT=$(PORT) BIN=$(BIN) scripts/run-local.sh

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

benchmark: install
	$(BIN)/python scripts/benchmark_refresh.py

## Search pages on a generated atlas (SCALE=1.0 is full size): needs DATABASE_URL of an empty PostgreSQL database.
benchmark-search: install
	$(BIN)/python scripts/generate_atlas.py --scale $(or $(SCALE),1.0)
	$(BIN)/python scripts/benchmark_search.py --explain

fake-eutils: install
	$(BIN)/python -m tests.fake_eutils --port 8765

clean:
	rm -rf $(VENV) var staticfiles
