# Two commands: `make study` (the study on the default synthetic data) and `make test` (every test).
# Python 3.11, 3.12 or 3.13 (pyproject's requires-python): PY=python3.12 for a new venv. The lock is the venv's
# Python's: requirements-py3X.lock where that version resolves differently, else requirements.lock.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYVER := $(shell $(if $(wildcard $(BIN)/python),$(BIN)/python,$(PY)) -c 'import sys; print("%d%d" % sys.version_info[:2])')
LOCK := $(firstword $(wildcard requirements-py$(PYVER).lock) requirements.lock)
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

# PROFILE=smoke|default|paper, DATA=synth|real|/path, DEVICE=cpu|cuda|auto, JOBS=notebooks side by side (default:
# one per core; 1: one after the other)
study: $(STAMP)
	$(BIN)/melib study $(if $(PROFILE),--profile $(PROFILE)) $(if $(DATA),--data $(DATA)) $(if $(DEVICE),--device $(DEVICE)) $(if $(JOBS),--jobs $(JOBS))

# The dry run: every training `make study` would make with the same PROFILE/DATA/DEVICE, and its estimated time.
plan: $(STAMP)
	$(BIN)/melib study --plan $(if $(PROFILE),--profile $(PROFILE)) $(if $(DATA),--data $(DATA)) $(if $(DEVICE),--device $(DEVICE))

# Both cores (pytest-xdist; tests/conftest.py says how the work is shared out). nbval-lax: every cell of every
# notebook runs on the smoke profile without error, and the cells marked # NBVAL_CHECK_OUTPUT show what they
# stored (deterministic counts, folds, parameters; `python -m melib.nbcheck notebooks/NN.ipynb` re-stores them).
test: $(STAMP) chromium
	$(BIN)/python -m pytest -n 2 --dist loadscope --no-loadscope-reorder tests --nbval-lax \
	  --nbval-sanitize-with notebooks/nbval_sanitize.cfg notebooks --ignore=notebooks/executed

# The book tests look at the built HTML in Debian's headless Chromium.
chromium:
	@command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || { echo "install Debian's chromium (apt-get install chromium) for the book tests"; exit 1; }

# Re-resolve pyproject.toml's version ranges for $(PY) (pip's dry run, nothing installed) and pin the result: on
# Python 3.11 in requirements.lock; on another, within requirements.lock's versions, in requirements-py3X.lock,
# kept only where it differs from requirements.lock. torch's CUDA packages (nvidia-*, cuda-*, triton) are left
# out: the lock is the CPU build's.
LOCKVER = $(shell $(PY) -c 'import sys; print("%d%d" % sys.version_info[:2])')
lock:
	rm -rf .lockenv && $(PY) -m venv .lockenv
	.lockenv/bin/python -m pip install -q --upgrade pip
	.lockenv/bin/python -m pip install -q --dry-run --ignore-installed --report .lockenv/report.json $(TORCH) \
	  -e '.[dev]' $(if $(filter 311,$(LOCKVER)),,-c requirements.lock)
	.lockenv/bin/python -c 'import json, re; \
	  r = json.load(open(".lockenv/report.json"))["install"]; \
	  pins = {m["name"]: m["version"].split("+")[0] for m in (i["metadata"] for i in r)}; \
	  skip = re.compile(r"^(melib|nvidia-.*|cuda-.*|triton)$$", re.I); \
	  print("\n".join(f"{n}=={v}" for n, v in sorted(pins.items(), key=lambda kv: kv[0].lower()) if not skip.match(n)))' \
	  > .lockenv/pins
	$(if $(filter 311,$(LOCKVER)),\
	  { sed -n '/^#/p' requirements.lock; cat .lockenv/pins; } > requirements.lock,\
	  grep -v '^#' requirements.lock > .lockenv/base; \
	  if cmp -s .lockenv/pins .lockenv/base; then rm -f requirements-py$(LOCKVER).lock; \
	  else { echo "# Exact versions for Python 3.$(patsubst 3%,%,$(LOCKVER)) (Linux x86-64): requirements.lock's, and what this Python resolves"; \
	         echo "# differently. Refresh: make lock PY=python3.$(patsubst 3%,%,$(LOCKVER))."; \
	         cat .lockenv/pins; } > requirements-py$(LOCKVER).lock; fi)
	rm -rf .lockenv

# Every bench in full (minutes each). `MELIB_BENCH_QUICK=1 make bench`: tiny sizes, seconds each, as the tests
# run them (tests/test_benches.py); speed targets are judged only in full.
bench: $(STAMP)
	for b in benches/bench_*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf data/synth data/synth-smoke data/synth-amp* .cache runs book/_build book/executed notebooks/executed
