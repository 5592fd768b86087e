# Two commands do all set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install run test lint format benchmark fake-eutils clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

## Serve the atlas at http://127.0.0.1:8000/ with a Celery worker and beat (SQLite, no broker server).
## Each step prints what it does; Ctrl-C stops the web server, the worker and beat (scripts/run_local.py).
run: install
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

benchmark: install
	$(BIN)/python scripts/benchmark_refresh.py

fake-eutils: install
	$(BIN)/python -m tests.fake_eutils --port 8765

clean:
	rm -rf $(VENV) var staticfiles
