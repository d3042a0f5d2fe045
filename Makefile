# The two commands a newcomer needs: `make demo` and `make test`. Both install what they need first.
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: setup demo test lint typecheck unit bench clean

setup:
	bash scripts/setup.sh

demo: setup
	$(BIN)/agentd demo

test: setup lint typecheck
	$(BIN)/pytest -q

# ruff, then the import contracts of docs/architecture.md (layers only point down)
lint:
	$(BIN)/ruff check .
	$(BIN)/lint-imports

typecheck:
	$(BIN)/mypy

bench: setup
	$(BIN)/python bench/sandbox_roundtrip.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
