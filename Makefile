# The two set-up commands of the README are `make demo` and `make test`.
# Both create .venv on first use and install the project into it.

PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed

.PHONY: test check browser postgres redis demo demo-fleet bench bench-quick reliability mutation conformance lint format clean schemas-manifest

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

## make test: install into .venv (the project with its dev extra), try to install the
## browser, PostgreSQL and Redis (below), then format check, lint, types, tests with coverage.
test: $(STAMP) browser postgres redis
	$(MAKE) check

# The browser test's driver (a variable so tests/test_makefile.py can point it elsewhere),
# and bounds on apt-get: a mirror that hangs must not eat CI's time.
CHROMEDRIVER        ?= /usr/bin/chromedriver
APT_UPDATE_TIMEOUT  ?= 300
APT_INSTALL_TIMEOUT ?= 900
SKIPS = the browser test will skip

## make browser: Debian's headless Chromium and its driver (~380 MB) for the review page's
## browser test, installed as root when missing. Best effort: without root, apt-get or a
## reachable Debian mirror it prints one note and succeeds, and the test skips, saying why.
browser:
	@if [ -x "$(CHROMEDRIVER)" ]; then :; \
	elif [ "$$(id -u)" != 0 ]; then \
		echo "note: $(CHROMEDRIVER) is missing and installing it needs root" \
			"(apt-get install chromium chromium-driver): $(SKIPS)"; \
	elif ! command -v apt-get >/dev/null; then \
		echo "note: $(CHROMEDRIVER) is missing and there is no apt-get to install" \
			"chromium and chromium-driver: $(SKIPS)"; \
	else \
		echo "installing chromium and chromium-driver for the browser test"; \
		timeout -k 10 $(APT_UPDATE_TIMEOUT) apt-get update -qq >/dev/null 2>&1; status=$$?; \
		if [ $$status = 124 ]; then \
			echo "note: apt-get update took over $(APT_UPDATE_TIMEOUT) s (is the Debian" \
				"mirror reachable?): chromium is not installed and $(SKIPS)"; \
		elif [ $$status != 0 ]; then \
			echo "note: apt-get update failed (is the Debian mirror reachable?):" \
				"chromium is not installed and $(SKIPS)"; \
		elif ! DEBIAN_FRONTEND=noninteractive timeout -k 10 $(APT_INSTALL_TIMEOUT) \
				apt-get install -y -qq chromium chromium-driver >/dev/null 2>&1; then \
			echo "note: apt-get install chromium chromium-driver failed or took over" \
				"$(APT_INSTALL_TIMEOUT) s: $(SKIPS)"; \
		elif [ ! -x "$(CHROMEDRIVER)" ]; then \
			echo "note: chromium-driver is installed but $(CHROMEDRIVER) is missing: $(SKIPS)"; \
		fi; \
	fi

# The fleet tests start their own throwaway cluster with these programs (tests/pgcluster.py).
PG_GLOB   ?= /usr/lib/postgresql/*/bin/initdb
PG_SKIPS   = the PostgreSQL tests will skip

## make postgres: Debian's PostgreSQL server programs (initdb, pg_ctl) for the fleet tests,
## installed as root when missing; nothing is started here and the package's own cluster
## is not used. Best effort, like the browser: otherwise one note, and those tests skip.
postgres:
	@if ls $(PG_GLOB) >/dev/null 2>&1 || command -v initdb >/dev/null; then :; \
	elif [ "$$(id -u)" != 0 ]; then \
		echo "note: PostgreSQL's initdb is missing and installing it needs root" \
			"(apt-get install postgresql): $(PG_SKIPS)"; \
	elif ! command -v apt-get >/dev/null; then \
		echo "note: PostgreSQL's initdb is missing and there is no apt-get: $(PG_SKIPS)"; \
	else \
		echo "installing postgresql for the fleet tests"; \
		timeout -k 10 $(APT_UPDATE_TIMEOUT) apt-get update -qq >/dev/null 2>&1; \
		if ! DEBIAN_FRONTEND=noninteractive timeout -k 10 $(APT_INSTALL_TIMEOUT) \
				apt-get install -y -qq postgresql >/dev/null 2>&1; then \
			echo "note: apt-get install postgresql failed or took over" \
				"$(APT_INSTALL_TIMEOUT) s: $(PG_SKIPS)"; \
		fi; \
	fi

# The Celery tests start their own throwaway redis-server with this program (tests/redis_server.py).
REDIS_SERVER ?= /usr/bin/redis-server
REDIS_SKIPS   = the Celery tests will skip

## make redis: Debian's redis-server for the Celery tests, installed as root when missing;
## nothing is started here and the package's own service is not used. Best effort, like
## the browser: otherwise one note, and those tests skip.
redis:
	@if [ -x "$(REDIS_SERVER)" ] || command -v redis-server >/dev/null; then :; \
	elif [ "$$(id -u)" != 0 ]; then \
		echo "note: redis-server is missing and installing it needs root" \
			"(apt-get install redis-server): $(REDIS_SKIPS)"; \
	elif ! command -v apt-get >/dev/null; then \
		echo "note: redis-server is missing and there is no apt-get: $(REDIS_SKIPS)"; \
	else \
		echo "installing redis-server for the Celery tests"; \
		timeout -k 10 $(APT_UPDATE_TIMEOUT) apt-get update -qq >/dev/null 2>&1; \
		if ! DEBIAN_FRONTEND=noninteractive timeout -k 10 $(APT_INSTALL_TIMEOUT) \
				apt-get install -y -qq --no-install-recommends redis-server >/dev/null 2>&1; then \
			echo "note: apt-get install redis-server failed or took over" \
				"$(APT_INSTALL_TIMEOUT) s: $(REDIS_SKIPS)"; \
		fi; \
	fi

## make check: the same checks without the install step. The first three are also the
## pre-commit hooks (.pre-commit-config.yaml; tests/test_tooling.py keeps them equal).
## Coverage has two floors (90 %): the whole package, and the library without the sandbox,
## so the sandbox's many well-tested lines cannot hide untested library code.
## The tests run in TEST_WORKERS processes (pytest-xdist; pytest-cov merges their coverage):
## most of the suite's wall time is waiting on loopback servers and subprocesses, so three
## workers on two cores take the suite from ~12 to ~5.5 minutes. TEST_WORKERS=0 runs serially.
TEST_WORKERS ?= 3
check:
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --cov --cov-report=
	$(BIN)/coverage report
	$(BIN)/coverage report --omit 'mm_assistants/sandbox/*' --fail-under 90

## make demo: the offline demo on the embedded sandbox.
demo: $(STAMP)
	$(BIN)/mm-assistants demo

## make demo-fleet: a Celery fleet answers 20 inbound emails on this machine (throwaway
## Redis and PostgreSQL on loopback, the sandbox, a web endpoint, two workers and beat);
## an operator decides the held replies at random moments. Exits 0 when every run ended as
## decided with exactly one reply; stops everything it started (Ctrl-C too).
demo-fleet: $(STAMP) redis postgres
	$(BIN)/python scripts/demo_fleet.py

## make bench: every benchmark at full size (a few minutes); writes bench/results/latest.{json,md}
bench: $(STAMP)
	$(BIN)/python -m bench.run

## make bench-quick: every benchmark with small counts, each under a minute; writes
## bench/results/latest-quick.{json,md}, which git ignores (latest.* is the committed full run)
bench-quick: $(STAMP)
	$(BIN)/python -m bench.run --quick

## make reliability: the reliability suite at full size (its CI slice runs in make test),
## the Celery fleet's campaign included (200 runs, 3 workers, kills, a Redis restart)
reliability: $(STAMP) redis postgres
	MM_RELIABILITY=full $(BIN)/python -m pytest tests/reliability -q -p no:cacheprovider

## make conformance: clients nobody here wrote against the sandbox (about 30 s): MultiMail's
## own MCP server 0.7.0-spam and 0.5.3 (built with npm into ~/.cache/mm-assistants; skipped
## with the reason where node, npm or ../shared are missing) calling every tool it lists;
## schemathesis with MultiMail's OpenAPI document; the openai SDK's helpers, LangChain's
## OpenAIAssistantRunnable and MultiMail's retired Python SDK. Prints a table per client and
## tool, writes build/conformance.json, fails on a failure not in conformance/quirks_table.py.
## Its bounded slice runs in make test (tests/conformance).
conformance: $(STAMP)
	$(BIN)/python -m conformance

## make mutation: mutmut on each pure core against its own tests (not part of make test;
## minutes per module); prints generated/killed/survived/score per module and fails under
## 90 %. State in build/mutation/ (git-ignored). MODULES="dispatch/policy" runs some.
mutation: $(STAMP)
	$(BIN)/python scripts/mutation.py $(MODULES)

lint:
	$(BIN)/ruff check .

format:
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) dist build .pytest_cache .mypy_cache .ruff_cache .coverage htmlcov

## make schemas-manifest: record the hashes after an intended change to a schema set
## (every version in SCHEMA_VERSIONS; a set whose files did not change keeps its bytes).
schemas-manifest: $(STAMP)
	$(BIN)/python -c "from pathlib import Path; from mm_assistants.tools.manifest import write_manifest; from mm_assistants.tools.schemas import SCHEMA_VERSIONS; [print(write_manifest(v, Path('schemas', v))) for v in SCHEMA_VERSIONS]"
