# `make run` and `make test` do all setup on a fresh machine (see README.md).
VENV    := .venv
PYTHON  := $(VENV)/bin/python
APP_DEPS  := $(VENV)/.app-deps-installed
TEST_DEPS := $(VENV)/.test-deps-installed
# The package itself, installed editable (`pip install -e .`): imports and the
# `playground` command work from anywhere, with no sys.path edits.
PACKAGE   := $(VENV)/.package-installed
# Tests read the real datasets from the shared folder when it is there.
SHARED_DATA := $(abspath ../shared/data)
export PLAYGROUND_DATA ?= $(if $(wildcard $(SHARED_DATA)),$(SHARED_DATA),)

.PHONY: run test bench bench-ui clean

run: $(PACKAGE)
	$(PYTHON) -m streamlit run app.py

# Prints training speed side by side and rewrites its section of BENCHMARKS.md (playground/bench/benchmark.py).
bench: $(PACKAGE)
	$(PYTHON) -m playground bench --accuracy --markdown BENCHMARKS.md

# The app's own response times in headless Chromium (writes its section of BENCHMARKS.md).
bench-ui: $(TEST_DEPS)
	bash scripts/ensure_chromium.sh
	$(PYTHON) scripts/ui_bench.py --markdown BENCHMARKS.md

test: $(TEST_DEPS)
	bash scripts/ensure_chromium.sh
	bash scripts/ensure_nginx.sh  # the replica test puts nginx in front of two replicas
	$(PYTHON) -m pytest -q tests

$(PYTHON):
	python3 -m venv $(VENV)
	$(PYTHON) -m pip install --quiet --upgrade pip

$(APP_DEPS): requirements.txt | $(PYTHON)
	$(PYTHON) -m pip install --quiet -r requirements.txt
	touch $@

$(PACKAGE): pyproject.toml $(APP_DEPS)
	$(PYTHON) -m pip install --quiet --no-deps -e .
	touch $@

$(TEST_DEPS): requirements-test.txt $(PACKAGE)
	$(PYTHON) -m pip install --quiet -r requirements-test.txt
	touch $@

clean:
	rm -rf $(VENV) .pytest_cache
