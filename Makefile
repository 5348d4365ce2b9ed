# Two commands on a fresh machine: `make demo` and `make test`.
# Both create .venv when missing and install kinmatch with its extras.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.kinmatch-installed

.PHONY: demo test lint bench clean postgresql

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/kinmatch demo

lint: $(STAMP)
	$(BIN)/ruff check kinmatch tests benchmarks
	$(BIN)/ruff format --check kinmatch tests benchmarks
	$(BIN)/mypy

# The PostgreSQL server binaries for the tests' throwaway servers (tests/pgserver.py); a no-op
# when installed. Not root: installs with sudo.
postgresql:
	@bash .ci/install-postgresql

test: $(STAMP) lint postgresql
	$(BIN)/python -m pytest -n 2 --dist loadfile
	$(BIN)/python -m pytest benchmarks --benchmark-disable -q  # the benchmarks run, untimed

bench: $(STAMP)
	$(BIN)/python -m pytest benchmarks --benchmark-only

clean:
	rm -rf build .pytest_cache .mypy_cache .ruff_cache .hypothesis
