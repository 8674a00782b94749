# The verbs people use. Each one creates .venv and installs everything from this checkout first.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: install demo test test-fast lint typecheck bench clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# torch first and pinned: this version is a CPU build available locally; an unpinned torch pulls CUDA wheels.
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $@

install: $(BIN)/.installed

## demo: generate a small dataset with the default config, validate it and write a preview.
demo: install
	$(BIN)/synthgen-generate output_dir=outputs/demo
	$(BIN)/synthgen validate outputs/demo
	$(BIN)/synthgen preview outputs/demo --out outputs/demo/preview

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy

## test: lint, type-check, then every test, slow ones included (a few minutes on 2 cores).
## A bare `.venv/bin/pytest` runs the fast subset only (pyproject's addopts deselect `slow`).
test: lint typecheck
	$(BIN)/pytest -m "slow or not slow" $(PYTEST_ARGS)

## test-fast: the fast subset, for the edit-test loop.
test-fast: install
	$(BIN)/pytest $(PYTEST_ARGS)

## bench: the CPU benchmarks (minutes on 2 cores). The GPU training-step benchmark runs on a GPU machine:
## PYTHONPATH=. python benchmarks/train_step.py (docs/bench_train.md).
bench: install
	$(BIN)/python benchmarks/exactness.py
	$(BIN)/python benchmarks/render_overhead.py
	$(BIN)/python benchmarks/audio_sync.py
	$(BIN)/python benchmarks/read_throughput.py

clean:
	rm -rf $(VENV) outputs .pytest_cache .mypy_cache .ruff_cache
