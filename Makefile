# streamapp: `make run` starts the embedded broker and a worker; `make test` runs every test.
# Both install what is missing first (a venv in .venv, the broker jars in ~/.cache/streamapp).

PYTHON ?= python3
SCALE  ?= full
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test install lint typecheck unit e2e bench reliability clean env-example

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

run: install
	@bash scripts/run.sh

test: install
	@bash scripts/test.sh

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy

reliability: install
	@SCALE=$(SCALE) bash scripts/reliability.sh

unit: install
	$(BIN)/pytest -q tests/unit

env-example: install
	$(BIN)/python -c "from streamapp.config import render_env_example as r; print(r(), end='')" > .env.example

clean:
	rm -rf var .pytest_cache .mypy_cache .ruff_cache
