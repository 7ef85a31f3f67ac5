# Two commands do all the set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
RUN_STAMP := $(VENV)/.installed-run

.PHONY: run test e2e lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Running needs only the package; tests and linters add the dev extras.
$(RUN_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $(RUN_STAMP)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP) $(RUN_STAMP)

# The hint is one line: the console commands that show the anonymous pulse (Friday afternoon)
# and a manager's digest with it (tests/test_console.py runs them).
run: $(RUN_STAMP)
	@echo "To see the pulse and the digest, type: clock 2026-12-04T15:00, tick, as alice, click pulse 2026-W49 4 5 (then the same as gina and as omar), as dana, /digest now"
	$(BIN)/servechain console

test: $(STAMP)
	$(BIN)/python -m pytest -q

e2e: $(STAMP)
	bash tests/e2e/setup.sh
	$(BIN)/python -m pytest tests/e2e -q

lint: $(STAMP)
	$(BIN)/ruff check bot handlers storage tests benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: $(STAMP)
	$(BIN)/python benchmarks/storage_bench.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache servechain.json servechain.json.*
