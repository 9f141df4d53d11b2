# The two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install install-lowest migrate run test test-lowest lint format bench chromium dovecot client clean

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

# The suite on the lowest versions pyproject.toml allows (every direct dependency pinned to its
# lower bound, the rest resolved as usual), in a venv of its own: each bound is one that works.
# The system tests (tests/system: processes run from outside, minutes of CI) run in `make test`.
LOWEST := .venv-lowest
LOWEST_STAMP := $(LOWEST)/.installed-stamp

$(LOWEST_STAMP): pyproject.toml scripts/lowest_constraints.py
	@test -x $(LOWEST)/bin/python || $(PYTHON) -m venv $(LOWEST)
	$(PYTHON) scripts/lowest_constraints.py > $(LOWEST)/constraints.txt
	$(LOWEST)/bin/python -m pip install --quiet --upgrade pip
	$(LOWEST)/bin/python -m pip install --quiet --constraint $(LOWEST)/constraints.txt --editable '.[dev]'
	$(LOWEST)/bin/python -m pip check
	@touch $(LOWEST_STAMP)

install-lowest: $(LOWEST_STAMP)

test-lowest: install-lowest
	$(LOWEST)/bin/pytest -p no:cacheprovider -m "not system"

lint: install
	$(BIN)/ruff check app tests bench
	$(BIN)/ruff format --check app tests bench
	$(BIN)/mypy app

format: install
	$(BIN)/ruff check --fix app tests bench
	$(BIN)/ruff format app tests bench

bench: install
	$(BIN)/python bench/sla_engine.py

# A Python client for internal tools, generated from the OpenAPI document with
# openapi-python-client into clients/sportello_client (generated, never committed: regenerate
# it after changing the API; tests/test_generated_client.py does so and drives a day with it).
client: install
	mkdir -p clients
	$(BIN)/sportello openapi > clients/openapi.json
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/openapi-python-client generate --meta none \
		--path clients/openapi.json --output-path clients/sportello_client --overwrite

chromium:
	bash scripts/install-chromium.sh

# The IMAP tests start a throw-away Dovecot (scripts/dovecot-test-server.sh); this installs it.
dovecot:
	bash scripts/install-dovecot.sh

clean:
	rm -rf $(VENV) $(LOWEST) clients .pytest_cache .hypothesis .ruff_cache .mypy_cache *.egg-info
