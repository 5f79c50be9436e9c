# Two commands: `make study` (the study on the default synthetic data) and `make test` (every test).
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LOCK := requirements.lock
TORCH := torch==2.13.0

.PHONY: setup study plan test chromium clean bench lock

setup: $(STAMP)

# torch goes first: an unpinned torch pulled in by a dependency would fetch a multi-GB CUDA build. Then the
# exact versions of requirements.lock, then melib itself without re-resolving anything.
$(STAMP): pyproject.toml $(LOCK)
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q $(TORCH)
	$(BIN)/python -m pip install -q -r $(LOCK)
	$(BIN)/python -m pip install -q --no-deps -e .
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $(STAMP)

# PROFILE=smoke|default|paper, DATA=synth|real|/path, DEVICE=cpu|cuda|auto
study: $(STAMP)
	$(BIN)/melib study $(if $(PROFILE),--profile $(PROFILE)) $(if $(DATA),--data $(DATA)) $(if $(DEVICE),--device $(DEVICE))

# The dry run: every training `make study` would make with the same PROFILE/DATA/DEVICE, and its estimated time.
plan: $(STAMP)
	$(BIN)/melib study --plan $(if $(PROFILE),--profile $(PROFILE)) $(if $(DATA),--data $(DATA)) $(if $(DEVICE),--device $(DEVICE))

# nbval-lax: notebooks are stored without outputs (their numbers change with data and profile), so nbval
# checks that every cell of every notebook runs without error on the smoke profile.
test: $(STAMP) chromium
	$(BIN)/python -m pytest tests --nbval-lax notebooks --ignore=notebooks/executed

# The book tests look at the built HTML in Debian's headless Chromium.
chromium:
	@command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || { echo "install Debian's chromium (apt-get install chromium) for the book tests"; exit 1; }

# Re-resolve pyproject.toml's version ranges in a scratch venv and pin the result in requirements.lock.
lock:
	rm -rf .lockenv && $(PY) -m venv .lockenv
	.lockenv/bin/python -m pip install -q --upgrade pip
	.lockenv/bin/python -m pip install -q $(TORCH)
	.lockenv/bin/python -m pip install -q -e '.[dev]'
	{ sed -n '/^#/p' $(LOCK); .lockenv/bin/python -m pip freeze --exclude-editable | grep -v '^melib' \
	  | sed 's/^torch==\([0-9.]*\)+cpu$$/torch==\1/'; } > $(LOCK).tmp && mv $(LOCK).tmp $(LOCK)
	rm -rf .lockenv

# Every bench in full (minutes each). `MELIB_BENCH_QUICK=1 make bench`: tiny sizes, seconds each, as the tests
# run them (tests/test_benches.py); speed targets are judged only in full.
bench: $(STAMP)
	for b in benches/bench_*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf data/synth data/synth-smoke data/synth-amp* .cache runs book/_build book/executed notebooks/executed
