# Two commands: `make study` (the study on the default synthetic data) and `make test` (every test).
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup study test data-check clean bench

setup: $(STAMP)

# torch goes first: an unpinned torch pulled in by a dependency would fetch a multi-GB CUDA build.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e '.[dev]'
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $(STAMP)

study: $(STAMP)
	$(BIN)/melib study

test: $(STAMP)
	$(BIN)/python -m pytest

bench: $(STAMP)
	for b in benches/bench_*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf data/synth .cache runs book/_build
