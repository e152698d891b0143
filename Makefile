# The two set-up commands of the README are `make demo` and `make test`.
# Both create .venv on first use and install the project into it.

PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed

.PHONY: test check demo bench bench-quick reliability lint format clean schemas-manifest

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

## make test: install into .venv, then format check, lint, types, tests with coverage.
test: $(STAMP)
	$(MAKE) check

## make check: the same checks without the install step.
check:
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/coverage run -m pytest
	$(BIN)/coverage report

## make demo: the offline demo on the embedded sandbox.
demo: $(STAMP)
	$(BIN)/mm-assistants demo

lint:
	$(BIN)/ruff check .

format:
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) dist build .pytest_cache .mypy_cache .ruff_cache .coverage htmlcov

## make schemas-manifest: record the hashes after an intended change to schemas/v1.
schemas-manifest: $(STAMP)
	$(BIN)/python -c "from pathlib import Path; from mm_assistants.tools.manifest import write_manifest; print(write_manifest('v1', Path('schemas/v1')))"
