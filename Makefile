# Two commands on a fresh machine with python3 (>= 3.11) and make:
#   make demo   -- install, load the real sample, serve the Dagster UI and the dashboard
#   make test   -- install and run the whole suite
PYTHON ?= python3
UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv

.PHONY: demo test lint bench venv clean

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet --upgrade pip
	$(TOOLS)/bin/python -m pip install --quiet uv==$(UV_VERSION)

$(VENV)/.synced: $(UV) pyproject.toml uv.lock
	$(UV) sync --frozen --python $(PYTHON)
	@touch $@

venv: $(VENV)/.synced

test: venv
	$(VENV)/bin/pytest

demo: venv
	$(VENV)/bin/exnaton demo

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

bench: venv
	$(VENV)/bin/python -m benchmarks.ingest
	$(VENV)/bin/python -m benchmarks.dashboard
	$(VENV)/bin/python -m benchmarks.tick --meters 1000 --days 28

clean:
	rm -rf $(VENV) $(TOOLS) .exnaton
