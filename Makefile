# Two commands on a fresh machine: `make book` and `make test`.
#   make book   execute every chapter and build the HTML book into _build/html
#   make test   every test: unit and property tests, every chapter under nbval, the strict book build,
#               the built book in headless Chromium, and one chapter run alone as in Colab.
# On a clean clone (CI) `make test` creates .venv from requirements.txt alone, as Binder does, so
# the nbval step is the fresh-environment check: every chapter executes in that environment.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
JB     := $(BIN)/jupyter-book build . -n -W --keep-going
# Executes the chapters into the build's execution cache, one per core, before the build renders.
EXECUTE := $(BIN)/python scripts/execute_book.py
# `pytest`, not `python -m pytest`: the latter puts the repository root on sys.path, where the
# folder code/ (the source of pgbook) hides the standard library's `code` module (pdb imports it).
PYTEST := $(BIN)/pytest -p no:cacheprovider
# A local copy of MathJax 3 for the browser test (never committed; _build/ is git-ignored).
MATHJAX_PREFIX := _build/.mathjax
MATHJAX        := $(MATHJAX_PREFIX)/node_modules/mathjax/es5/tex-mml-chtml.js

.PHONY: book test unit notebooks build-strict browser lone test-setup benchmark seeds clean

$(STAMP): requirements.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	@touch $(STAMP)

## Execute every chapter and build the HTML book into _build/html.
book: $(STAMP)
	$(EXECUTE)
	$(JB)
	@echo
	@echo "The book is built: open file://$(CURDIR)/_build/html/index.html"

## Every test, in this order; stops at the first step that fails.
test: $(STAMP)
	$(MAKE) unit notebooks build-strict browser lone

## What the tests need beyond requirements.txt (which pins playwright): the local MathJax copy.
test-setup: $(STAMP) $(MATHJAX)

$(MATHJAX):
	@command -v npm >/dev/null 2>&1 || { echo "npm is needed for the local MathJax copy (apt-get install npm)"; exit 1; }
	npm install --prefix $(MATHJAX_PREFIX) --no-save --no-package-lock --no-audit --no-fund --silent mathjax@3
	@test -f $@

unit: $(STAMP)
	$(PYTEST) tests -q -m "not slow" --ignore=tests/browser

notebooks: $(STAMP)
	$(PYTEST) --nbval-lax chapters -q

build-strict: $(STAMP)
	$(EXECUTE)
	$(JB)

## The built book (_build/html) in headless Chromium; screenshots go to _build/screenshots/.
browser: test-setup
	$(PYTEST) tests/browser -q

## One chapter alone in a fresh environment, installing pgbook from the committed HEAD (slow).
lone: $(STAMP)
	$(PYTEST) tests -q -m slow --ignore=tests/browser

## Unit tests and every chapter for PGBOOK_SEED = 1..20 (override: make seeds SEEDS="0 7 42"); a table.
SEEDS ?=
seeds: $(STAMP)
	$(BIN)/python scripts/seed_sweep.py $(SEEDS)

benchmark: $(STAMP)
	$(BIN)/python benchmarks/chapters.py
	$(BIN)/python benchmarks/reinforce_cartpole.py
	$(BIN)/python benchmarks/es_cartpole.py

clean:
	rm -rf _build .jupyter_cache
