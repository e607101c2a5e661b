# The two README commands: `make up` (run on embedded defaults) and `make test`.
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
PYTHON ?= python3

.PHONY: up test lint services bench clean

$(BIN)/.installed: pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c constraints.txt -e '.[test]'
	touch $@

venv: $(BIN)/.installed

up: venv
	$(BIN)/alertflow up $(ARGS)

services:
	bash scripts/services.sh up

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

test: venv services lint
	bash scripts/pytest.sh

bench: venv services
	@for f in bench/*.py; do $(BIN)/python $$f $(BENCH_ARGS) || exit 1; done

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
