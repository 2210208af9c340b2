# traingen: `make demo` installs and runs the main job; `make test` installs and runs all tests.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
export OMP_WAIT_POLICY ?= PASSIVE
export PIP_DISABLE_PIP_VERSION_CHECK = 1

.PHONY: demo test test-slow bench lint install install-dev system-deps clean

# Debian packages: EGL/Mesa for the headless renderer, Chromium for the report's browser test.
APT_PACKAGES := libegl1 libegl-mesa0 libgl1-mesa-dri chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip setuptools wheel

# Reinstall only when the dependency files change.
$(VENV)/.installed: pyproject.toml constraints.txt | $(VENV)/bin/python
	$(PIP) install -q -c constraints.txt -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml constraints.txt | $(VENV)/bin/python
	$(PIP) install -q -c constraints.txt -e '.[dev]'
	touch $(VENV)/.installed $@

system-deps:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages: $$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >/dev/null; \
	fi

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

demo: $(VENV)/.installed
	$(VENV)/bin/traingen quickstart --out quickstart-out

lint: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check src tests bench

test: system-deps $(VENV)/.installed-dev lint
	$(PY) -m pytest -n 2 -q

test-slow: $(VENV)/.installed-dev
	$(PY) -m pytest -q -m slow

bench: $(VENV)/.installed-dev
	OMP_NUM_THREADS=1 $(PY) bench/augment.py --batched --out bench/RESULTS.md
	OMP_NUM_THREADS=1 $(PY) bench/metrics.py --out bench/RESULTS.md
	OMP_NUM_THREADS=1 $(PY) bench/gan.py --out bench/RESULTS.md
	OMP_NUM_THREADS=1 $(PY) bench/render.py --out bench/RESULTS.md
	OMP_NUM_THREADS=1 $(PY) bench/style.py --out bench/RESULTS.md
	OMP_NUM_THREADS=1 $(PY) bench/translate.py
	OMP_NUM_THREADS=1 $(PY) bench/mesh3d.py --out bench/RESULTS.md
	OMP_NUM_THREADS=1 $(PY) bench/pipeline.py --out bench/RESULTS.md

clean:
	rm -rf $(VENV) quickstart-out .pytest_cache .ruff_cache
