# The two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install migrate run test lint format bench chromium clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Sportello needs Python >= 3.11, found " + sys.version.split()[0])'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --editable '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

migrate: install
	$(BIN)/sportello migrate

run: migrate
	$(BIN)/sportello serve --host 127.0.0.1 --port 8000

test: migrate
	$(BIN)/pytest

lint: install
	$(BIN)/ruff check app tests bench
	$(BIN)/ruff format --check app tests bench
	$(BIN)/mypy app

format: install
	$(BIN)/ruff check --fix app tests bench
	$(BIN)/ruff format app tests bench

bench: install
	$(BIN)/python bench/sla_engine.py

chromium:
	bash scripts/install-chromium.sh

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis .ruff_cache .mypy_cache *.egg-info
