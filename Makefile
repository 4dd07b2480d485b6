# Two commands on a fresh machine: `make book` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
JB     := $(BIN)/jupyter-book build . -n -W --keep-going

.PHONY: book test unit notebooks build-strict benchmark clean

$(STAMP): requirements.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	@touch $(STAMP)

## Execute every chapter and build the HTML book into _build/html.
book: $(STAMP)
	$(JB)
	@echo
	@echo "The book is built: open file://$(CURDIR)/_build/html/index.html"

## Every test: unit and property tests, every chapter under nbval, the strict book build.
test: $(STAMP)
	$(MAKE) unit notebooks build-strict

unit: $(STAMP)
	$(BIN)/python -m pytest tests -q

notebooks: $(STAMP)
	$(BIN)/python -m pytest --nbval-lax chapters -q -p no:cacheprovider

build-strict: $(STAMP)
	$(JB)

benchmark: $(STAMP)
	$(BIN)/python benchmarks/chapters.py

clean:
	rm -rf _build .jupyter_cache
