# The README's two commands are `make demo` and `make test`; everything else serves them.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

# Debian's apt, waiting (up to 10 minutes) for another apt or dpkg to release its lock rather
# than failing at once.
APT := apt-get -o DPkg::Lock::Timeout=600

.PHONY: demo test lint format install neo4j-local browser postgres bench docs clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)  ## the project and its dev tools in .venv

demo: install  ## the ECG-monitor scenario on the embedded store (no server needed)
	$(BIN)/tracegraph demo

# Without NEO4J_URI or a Docker daemon the tests start a Neo4j built from Maven Central; fetch
# it here (cached under ~/.cache/tracegraph) so a slow download shows as its own step.
neo4j-local: install
	@if [ -z "$$NEO4J_URI" ]; then $(BIN)/python -c "from tests.support.neo4j_server import ensure_jars; print('Neo4j jars in', ensure_jars())"; fi

# The web page's tests drive Debian's Chromium with Playwright (the dev extra): no browser is
# downloaded by Playwright itself.
browser: install  ## headless Chromium for the browser tests (tests/test_web.py)
	@command -v chromium >/dev/null || $$( [ "$$(id -u)" = 0 ] || echo sudo ) sh -c '$(APT) update && $(APT) install -y chromium'

# Debian's PostgreSQL, for the benchmark's recursive-CTE baseline and its smoke test in the
# suite; the harness starts its own throw-away cluster (initdb in a temp folder), never the
# system's service.
postgres:  ## PostgreSQL server binaries (Debian's package), if missing
	@if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v pg_ctl >/dev/null; then :; \
	else $$( [ "$$(id -u)" = 0 ] || echo sudo ) sh -c '$(APT) update && $(APT) install -y postgresql'; fi

lint: install  ## ruff, ruff format --check, mypy --strict
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

test: install neo4j-local browser postgres lint  ## everything the tests need, then lint and the whole suite
	$(BIN)/python -m pytest

# `make bench SIZE=L`: S (10k devices, ~7 min), M (100k, ~20 min), L (1M devices, ~1 hour).
SIZE ?= S
bench: install neo4j-local postgres  ## benchmarks/ at SIZE: results/ and BENCHMARKS.md
	$(BIN)/python -m benchmarks.run --size $(SIZE)

docs: install  ## regenerate docs/data-dictionary.md from the model
	$(BIN)/tracegraph schema > docs/data-dictionary.md

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis tracegraph-demo.tgdb* tracegraph-demo-*-806
