# Two commands on a fresh machine: `make demo` and `make test`.
# Both create .venv when missing and install kinmatch with its extras.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.kinmatch-installed

.PHONY: demo test lint bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	mkdir -p build/demo
	$(BIN)/kinmatch lr \
	    --frequencies fixtures/freq_China_GBT37223.csv \
	    --profiles fixtures/examples/profiles.csv \
	    --cases fixtures/examples/cases.csv \
	    --theta 0.01 \
	    --mutation-model stepwise --mutation-rates fixtures/mutation_rates_STRBase_AABB.csv \
	    --default-mutation-rate 0.002 --mutation-rate2 0.000001 --mutation-range 0.5 \
	    --out build/demo/lr.jsonl

lint: $(STAMP)
	$(BIN)/ruff check kinmatch tests benchmarks
	$(BIN)/ruff format --check kinmatch tests benchmarks
	$(BIN)/mypy

test: $(STAMP) lint
	$(BIN)/python -m pytest
	$(BIN)/python -m pytest benchmarks --benchmark-disable -q  # the benchmarks run, untimed

bench: $(STAMP)
	$(BIN)/python -m pytest benchmarks --benchmark-only

clean:
	rm -rf build .pytest_cache .mypy_cache .ruff_cache .hypothesis
