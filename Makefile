# The verbs people use. Each one creates .venv and installs everything from this checkout first: the core,
# every extra (render: bpy, train: torch/diffusers/peft, ray) and the test tools.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: install demo test test-fast test-python lint typecheck bench clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# torch first and pinned: this version is a CPU build available locally; an unpinned torch pulls CUDA wheels.
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e ".[all,dev]"
	# ltx-core and ltx-pipelines (dev: interop tests) pull torchaudio, whose only build on the registry links
	# CUDA libraries this CPU torch lacks; without its compiled extensions torchaudio runs as pure Python.
	rm -f $(VENV)/lib/python*/site-packages/torchaudio/lib/*.so
	touch $@

install: $(BIN)/.installed

## demo: generate a small dataset with the default config, validate it and write a preview.
demo: install
	$(BIN)/synthgen-generate output_dir=outputs/demo
	$(BIN)/synthgen validate outputs/demo
	$(BIN)/synthgen preview outputs/demo --out outputs/demo/preview --overwrite

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

## test-python: the core's and the trainer's tests on another Python, without Blender (the render tests skip),
## e.g. `make test-python OTHER_PYTHON=python3.12`. torch for it comes from the registry (a CUDA build of
## several GB: the local CPU build is for Python 3.11 only).
OTHER_PYTHON ?= python3.12
OTHER_VENV ?= .venv-$(notdir $(OTHER_PYTHON))
test-python:
	$(OTHER_PYTHON) -m venv $(OTHER_VENV)
	$(OTHER_VENV)/bin/python -m pip install -q --upgrade pip
	$(OTHER_VENV)/bin/python -m pip install -q torch==2.13.0
	$(OTHER_VENV)/bin/python -m pip install -q -e ".[train,dev]"
	$(OTHER_VENV)/bin/python -m pytest -m "not slow" $(PYTEST_ARGS)

## bench: the CPU benchmarks (minutes on 2 cores). The GPU training-step benchmark runs on a GPU machine:
## PYTHONPATH=. python benchmarks/train_step.py (docs/bench_train.md).
bench: install
	$(BIN)/python benchmarks/exactness.py
	$(BIN)/python benchmarks/render_overhead.py
	$(BIN)/python benchmarks/audio_sync.py
	$(BIN)/python benchmarks/read_throughput.py

clean:
	rm -rf $(VENV) .venv-python3.* outputs .pytest_cache .mypy_cache .ruff_cache
