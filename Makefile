# Quick start: `make demo` (the whole pipeline on local S3 and Airflow), `make test` (the test suite).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Nothing outside the repository's ignored folders is written: no pip cache in the home directory.
export PIP_NO_CACHE_DIR := 1

.PHONY: install browser demo demo-stop test test-fast constraints clean

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

test: install browser
	$(BIN)/python -m pytest

# Debian's Chromium and ChromeDriver for the browser tests (installed when missing; needs root or sudo).
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium chromium-driver; }

test-fast: install
	$(BIN)/python -m pytest -m "not e2e"

constraints: install
	( sed -n '1,2p' constraints.txt; $(BIN)/pip freeze --exclude-editable | grep -v -i '^model-monitoring' ) \
	  > constraints.txt.new && mv constraints.txt.new constraints.txt

clean: demo-stop
	rm -rf $(VENV) .demo .pytest_cache
