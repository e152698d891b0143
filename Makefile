# The two set-up commands of the README are `make demo` and `make test`.
# Both create .venv on first use and install the project into it.

PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed

.PHONY: test check browser demo bench bench-quick reliability lint format clean schemas-manifest

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

## make test: install into .venv (and the browser), then format check, lint, types, tests
## with coverage.
test: $(STAMP) browser
	$(MAKE) check

## make browser: Debian's headless Chromium and its driver for the review page's browser
## test, installed as root when missing; without root the test skips, and says why.
browser:
	@if [ -x /usr/bin/chromedriver ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing chromium and chromium-driver for the browser test"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
			apt-get install -y -qq chromium chromium-driver >/dev/null; \
	else \
		echo "note: /usr/bin/chromedriver is missing and installing it needs root" \
			"(apt-get install chromium chromium-driver): the browser test will skip"; \
	fi

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

## make bench: every benchmark at full size (a few minutes); writes bench/results/latest.{json,md}
bench: $(STAMP)
	$(BIN)/python -m bench.run

## make bench-quick: every benchmark with small counts, each under a minute; writes
## bench/results/latest-quick.{json,md}, which git ignores (latest.* is the committed full run)
bench-quick: $(STAMP)
	$(BIN)/python -m bench.run --quick

## make reliability: the reliability suite at full size (its CI slice runs in make test)
reliability: $(STAMP)
	MM_RELIABILITY=full $(BIN)/python -m pytest tests/reliability -q -p no:cacheprovider

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
