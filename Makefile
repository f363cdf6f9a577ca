# Two entry points: `make demo` (train, compile, verify, report on bundled data) and `make test`;
# `make lint` runs ruff with the configuration in pyproject.toml.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
TORCH_SPEC ?= torch==2.13.0

.PHONY: venv demo test lint bench clean

$(BIN)/gatelearn: pyproject.toml
	$(PY) -m venv $(VENV)
	# torch pinned explicitly so pip never resolves a CUDA build; the package itself only asks torch>=2.2
	$(BIN)/pip install -q "$(TORCH_SPEC)" numpy
	$(BIN)/pip install -q -e ".[test]"
	touch $@

venv: $(BIN)/gatelearn

demo: venv
	$(BIN)/gatelearn demo --out runs/demo

test: venv
	$(BIN)/python -m pytest -q -n 2 tests

lint: venv
	$(BIN)/ruff check src tests benchmarks examples

bench: venv
	$(BIN)/python benchmarks/train_step.py --inputs 784 --layers 6 --width 8000 --batch 100 --classes 10 --threads 2

clean:
	rm -rf $(VENV) runs build src/*.egg-info
