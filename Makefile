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

# Both steps always run, so one failing step does not hide the other's failures; the exit
# status is the first failing step's (pytest's 5, "no tests collected", fails too).
test: install
	@status=0; \
	$(BIN)/python -m pytest || status=$$?; \
	$(BIN)/python -m pytest --nbval-lax notebooks/ || { s=$$?; [ $$status -ne 0 ] || status=$$s; }; \
	exit $$status

bench: install
	$(BIN)/python benchmarks/bench_load.py --runs 100000
	$(BIN)/python benchmarks/bench_diff.py --leaves 100000
	$(BIN)/python benchmarks/bench_drift.py --runs 100000
	$(BIN)/python benchmarks/bench_api.py
	$(BIN)/python benchmarks/bench_panel.py --runs 100000

lint: install
	$(BIN)/ruff check runreplay tests benchmarks
	$(BIN)/lint-imports
	$(BIN)/ruff format --check runreplay tests benchmarks

format: install
	$(BIN)/ruff check --fix runreplay tests benchmarks
	$(BIN)/ruff format runreplay tests benchmarks

clean:
	rm -rf $(VENV) runs.duckdb runs.duckdb.wal server.duckdb server.duckdb.wal \
		server.duckdb.tokens .pytest_cache .hypothesis demo-notebooks
