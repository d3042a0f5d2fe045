# The two commands a newcomer needs: `make demo` and `make test`. Both install what they need first.
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: setup demo test lint typecheck unit bench image clean

setup:
	bash scripts/setup.sh

demo: setup
	$(BIN)/agentd demo

test: setup lint typecheck
	$(BIN)/pytest -q

lint:
	$(BIN)/ruff check .

typecheck:
	$(BIN)/mypy

bench: setup
	$(BIN)/python bench/sandbox_roundtrip.py

# agentd's own container image, agentd:latest: from deploy/Dockerfile when a registry answers,
# else offline (debootstrap, needs root). IMAGE_ARGS="--mode offline --force" and the like pass through.
image: setup
	$(BIN)/python -m deploy.build $(IMAGE_ARGS)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
