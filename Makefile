# The README's two commands are `make demo` and `make test`; everything else serves them.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint format install neo4j-local docs clean

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

lint: install  ## ruff, ruff format --check, mypy --strict
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

test: install neo4j-local lint  ## everything the tests need, then lint and the whole suite
	$(BIN)/python -m pytest

docs: install  ## regenerate docs/data-dictionary.md from the model
	$(BIN)/tracegraph schema > docs/data-dictionary.md

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis tracegraph-demo.tgdb*
