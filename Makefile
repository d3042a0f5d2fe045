# The two commands a newcomer needs: `make demo` and `make test`. Both install what they need first.
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: setup demo test lint typecheck bench lock upgrade image clean

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

# every benchmark in bench/, each printing its figures (docs/benchmarks.md says what they mean)
bench: setup
	@set -e; for script in bench/*.py; do name=$$(basename $$script .py); echo "==> bench/$$name"; $(BIN)/python -m bench.$$name; done

# rewrite requirements/*.lock from pyproject.toml, keeping the locked versions where they still fit
lock: setup
	bash scripts/lock.sh
	bash scripts/setup.sh

# take the newest releases on purpose: relock, reinstall, and run the model layer's tests (the SDK
# exception table's completeness test among them) so a new SDK exception is classified before it lands
upgrade: setup
	bash scripts/lock.sh --upgrade
	bash scripts/setup.sh
	$(BIN)/pytest -q tests/models

# agentd's own container image, agentd:latest: from deploy/Dockerfile when a registry answers,
# else offline (debootstrap, needs root). IMAGE_ARGS="--mode offline --force" and the like pass through.
image: setup
	$(BIN)/python -m deploy.build $(IMAGE_ARGS)

clean:
	rm -rf $(VENV) .tools .mypy_cache .ruff_cache .pytest_cache
