# Quick start: `make demo` (the whole pipeline on local S3 and Airflow), `make test` (the test suite).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Nothing outside the repository's ignored folders is written: no pip cache in the home directory.
export PIP_NO_CACHE_DIR := 1

.PHONY: install demo demo-stop test test-fast constraints clean

install: $(STAMP)

$(STAMP): requirements.txt constraints.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt -c constraints.txt
	$(BIN)/pip install --quiet --no-deps -e .
	touch $(STAMP)

demo: install
	$(BIN)/python -m demo.run start

demo-stop:
	@if [ -x $(BIN)/python ]; then $(BIN)/python -m demo.run stop; else echo "nothing to stop"; fi

test: install
	$(BIN)/python -m pytest

test-fast: install
	$(BIN)/python -m pytest -m "not e2e"

constraints: install
	$(BIN)/pip freeze --exclude-editable | grep -v -i '^model-monitoring' > constraints.txt.new
	( sed -n '1,2p' constraints.txt; cat constraints.txt.new ) > constraints.txt && rm constraints.txt.new

clean: demo-stop
	rm -rf $(VENV) .demo .pytest_cache
