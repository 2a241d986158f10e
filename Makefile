# Detente: `make demo` and `make test` are all a fresh clone needs (Python 3.11).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DEVSTAMP := $(VENV)/.installed-dev

.PHONY: demo test lint bench clean install

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	@touch $@

$(DEVSTAMP): pyproject.toml $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/detente demo --out demo-output

# The tests start their own PostgreSQL 15 with PostGIS (tests/pg_server.py); install it when
# PostGIS is missing (as root, or through sudo).
PG_PACKAGES := postgresql postgresql-15-postgis-3
POSTGIS_CONTROL := /usr/share/postgresql/15/extension/postgis.control

test: $(DEVSTAMP)
	@if [ ! -f $(POSTGIS_CONTROL) ]; then \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; \
	  elif command -v sudo >/dev/null 2>&1; then SUDO=sudo; \
	  else SUDO=none; echo "PostgreSQL 15 with PostGIS is missing and this user can neither" \
	    "install it nor sudo: the PostgreSQL tests will fail. As root run:" \
	    "apt-get install -y $(PG_PACKAGES)" >&2; fi; \
	  if [ "$$SUDO" != none ]; then \
	    echo "Installing $(PG_PACKAGES) for the PostgreSQL tests"; \
	    $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y $(PG_PACKAGES) || \
	    { $$SUDO apt-get update && \
	      $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y $(PG_PACKAGES); } || exit 1; \
	  fi; \
	fi
	$(BIN)/python -m pytest -q
	$(MAKE) lint

lint: $(DEVSTAMP)
	$(BIN)/ruff check src tests scripts benchmarks
	$(BIN)/ruff format --check src tests scripts benchmarks
	$(BIN)/mypy

bench: $(DEVSTAMP)
	$(BIN)/python benchmarks/run.py
	$(BIN)/python benchmarks/bench_ingest.py
	$(BIN)/python benchmarks/bench_events.py
	$(BIN)/python benchmarks/bench_extraction.py
	$(BIN)/python benchmarks/bench_api.py

clean:
	rm -rf $(VENV) demo-output .pytest_cache .mypy_cache .ruff_cache
