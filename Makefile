# Two commands do all the set-up on a fresh machine: `make run` and `make test`.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck unit install bench bench-full clean docs histories mutation

$(BIN)/python:
	@command -v $(PY) >/dev/null 2>&1 || { echo "python3.11 not found; set PY=/path/to/python3.11"; exit 2; }
	$(PY) -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev,calendars]'
	@touch $(STAMP)

install: $(STAMP)

# The dev server (unless a Temporal server answers there) and the worker. Elsewhere than
# 127.0.0.1:7233 with its web UI on 8233: TEMPORAL_ADDRESS=127.0.0.1:7300 AFTERSALES_UI_PORT=8300 make run
# (or `make run TEMPORAL_ADDRESS=...`): both reach `aftersales dev` through the environment.
run: $(STAMP)
	$(BIN)/aftersales dev

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest

test: lint typecheck unit
	$(BIN)/aftersales policy validate
	$(BIN)/aftersales policy test --coverage --fail-under 100

# Benchmarks need two extra packages (zen-engine as a baseline, psutil to read memory).
BENCH_STAMP := $(VENV)/.bench-installed
$(BENCH_STAMP): $(STAMP) pyproject.toml
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev,calendars,bench]'
	@touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)
	$(BIN)/python -m bench --quick

bench-full: $(BENCH_STAMP)
	$(BIN)/python -m bench --full

# Mutation testing of the engine and the language checks (pyproject.toml [tool.mutmut]): every
# mutant must make a fast test fail, or be listed as equivalent with the reason in
# tests/mutation/equivalent/. Long (about half an hour on 2 cores); results are cached in
# mutants/, so a second run re-tests only what changed. Not part of `make test`.
MUTATION_STAMP := $(VENV)/.mutation-installed
$(MUTATION_STAMP): $(STAMP) pyproject.toml
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev,calendars,mutation]'
	@touch $(MUTATION_STAMP)

mutation: $(MUTATION_STAMP)
	$(BIN)/mutmut run --max-children $$(nproc)
	$(BIN)/python -m tests.mutation.score

docs: $(STAMP)
	$(BIN)/python -m aftersales_cli.docs_gen

# Record histories of policy tests that have none yet, for the replay test (existing ones are kept).
histories: $(STAMP)
	$(BIN)/python -m tests.e2e.record_histories

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache mutants
