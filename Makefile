# Quick start (fresh clone, Python 3.11):  make demo   |   make test
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The instance config (dagster.yaml) lives at the repo root; its storage goes to .dagster/.
DAGSTER_HOME ?= $(CURDIR)
export DAGSTER_HOME

.PHONY: setup demo leaderboard test dev catalog clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# torch first and pinned: an unpinned torch would pull a multi-GB CUDA build
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

demo: setup  ## materialize the whole DAG on the bundled ml-latest-small
	$(BIN)/movielens-dag materialize

leaderboard: setup  ## every recommender variant (all partitions)
	$(BIN)/movielens-dag materialize --partitions all

test: setup  ## the whole test suite (what CI runs)
	$(BIN)/python -m pytest

dev: setup  ## the Dagster UI on http://127.0.0.1:3000
	$(BIN)/dagster dev -w workspace.yaml -h 127.0.0.1 -p 3000

catalog: setup  ## rebuild the DuckDB views from the Parquet files
	$(BIN)/movielens-dag catalog

clean:  ## remove what the pipeline wrote (keeps the bundled data and overrides)
	rm -rf .dagster data/warehouse data/warehouse.duckdb data/warehouse.duckdb.lock data/cache \
		data/artifacts data/checkpoints data/downloads data/raw data/models
