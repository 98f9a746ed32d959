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

BENCH_STAMP := $(VENV)/.bench-installed
EVENTS ?= 1000000
REBUILD_KEYS ?= 1000000

$(BENCH_STAMP): $(STAMP) pyproject.toml
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	@touch $(BENCH_STAMP)

# Every system on the same preloaded workload, one after another, on the local broker
# (STREAMAPP_KAFKA_BOOTSTRAP_SERVERS, default 127.0.0.1:9092); writes benchmarks/results/.
bench: $(BENCH_STAMP)
	BENCH_BOOTSTRAP=$${STREAMAPP_KAFKA_BOOTSTRAP_SERVERS:-127.0.0.1:9092} \
		$(BIN)/python -u -m benchmarks.run --events $(EVENTS) --rebuild-keys $(REBUILD_KEYS)

reliability: install
	@SCALE=$(SCALE) bash scripts/reliability.sh

unit: install
	$(BIN)/pytest -q tests/unit

env-example: install
	$(BIN)/python -c "from streamapp.config import render_env_example as r; print(r(), end='')" > .env.example

clean:
	rm -rf var .pytest_cache .mypy_cache .ruff_cache
