# runreplay: every target creates or reuses .venv and installs the package there itself.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DB     ?= runs.duckdb
DEMO_ARGS ?=

.PHONY: install demo test bench lint format clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e '.[server,notebook,dev]'
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/python -m runreplay.demo $(DEMO_ARGS)

test: install
	$(BIN)/python -m pytest
	$(BIN)/python -m pytest --nbval-lax notebooks/

bench: install
	$(BIN)/python benchmarks/bench_load.py --runs 100000
	$(BIN)/python benchmarks/bench_diff.py --leaves 100000
	$(BIN)/python benchmarks/bench_drift.py --runs 100000
	$(BIN)/python benchmarks/bench_api.py
	$(BIN)/python benchmarks/bench_panel.py --runs 100000

lint: install
	$(BIN)/ruff check runreplay tests benchmarks
	$(BIN)/ruff format --check runreplay tests benchmarks

format: install
	$(BIN)/ruff check --fix runreplay tests benchmarks
	$(BIN)/ruff format runreplay tests benchmarks

clean:
	rm -rf $(VENV) runs.duckdb runs.duckdb.wal server.duckdb server.duckdb.wal \
		server.duckdb.tokens .pytest_cache .hypothesis
