# Detente: `make demo` and `make test` are all a fresh clone needs (Python 3.11).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DEVSTAMP := $(VENV)/.installed-dev

.PHONY: demo test lint bench clean install debian-packages

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

# The tests need Debian packages a fresh machine may lack: PostgreSQL 15 with PostGIS (the suite
# starts its own server, tests/pg_server.py), Chromium (dashboard tests, never a downloaded
# browser), poppler-utils (report PDFs rendered to PNG) and a Java runtime (Spark local mode).
# scripts/need-debian-packages installs only what is missing (as root, or through sudo).
DEB_NEEDS := /usr/share/postgresql/15/extension/postgis.control=postgresql,postgresql-15-postgis-3 \
             /usr/bin/chromium=chromium /usr/bin/pdftoppm=poppler-utils /usr/bin/java=default-jre-headless

debian-packages:
	@scripts/need-debian-packages $(DEB_NEEDS)

test: $(DEVSTAMP) debian-packages
	$(BIN)/python -m pytest -q
	$(MAKE) lint

lint: $(DEVSTAMP)
	$(BIN)/ruff check src tests scripts benchmarks
	$(BIN)/ruff format --check src tests scripts benchmarks
	$(BIN)/mypy

bench: $(DEVSTAMP) debian-packages
	$(BIN)/python benchmarks/run.py
	$(BIN)/python benchmarks/bench_ingest.py
	$(BIN)/python benchmarks/bench_events.py
	$(BIN)/python benchmarks/bench_extraction.py
	$(BIN)/python benchmarks/bench_api.py
	$(BIN)/python benchmarks/bench_dashboard.py

clean:
	rm -rf $(VENV) demo-output .pytest_cache .mypy_cache .ruff_cache
