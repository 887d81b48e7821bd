# qualcode: the two commands a new user needs are `make demo` and `make test`.
# Both set everything up on a fresh machine (virtual environment, dependencies, database, services).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
export QUALCODE_HOME := $(CURDIR)
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?=

.PHONY: demo test setup sysdeps lint bench serve clean postgres-start postgres-stop

setup: $(STAMP)

# torch is pinned (==2.13.0): pip takes the machine's local CPU build, never a CUDA one.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip setuptools wheel
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

# System packages the test suite drives for real: PostgreSQL and Debian's Chromium.
sysdeps:
	@scripts/sysdeps.sh

postgres-start: sysdeps
	@scripts/postgres.sh start >/dev/null

postgres-stop:
	@scripts/postgres.sh stop

demo: setup
	$(BIN)/qualcode db upgrade
	$(BIN)/qualcode demo --host $(HOST) --port $(PORT)

test: setup sysdeps postgres-start
	QUALCODE_TEST_POSTGRES_URL=$$(scripts/postgres.sh url) $(BIN)/pytest $(PYTEST_ARGS)

lint: setup
	$(BIN)/ruff check .

bench: setup
	$(BIN)/python bench/run_all.py

serve: setup
	$(BIN)/qualcode serve --host $(HOST) --port $(PORT)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache test-artifacts bench/results
