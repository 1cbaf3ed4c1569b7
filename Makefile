# Quick start (fresh clone, Python 3.11):  make demo   |   make test
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The instance config (dagster.yaml) lives at the repo root; its storage goes to .dagster/.
DAGSTER_HOME ?= $(CURDIR)
export DAGSTER_HOME

.PHONY: setup demo leaderboard published test dev catalog clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# torch first and pinned: an unpinned torch would pull a multi-GB CUDA build
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

demo: setup  ## materialize the whole DAG on the bundled ml-latest-small (one run of demo_job)
	$(BIN)/dg launch --job demo_job

JOBS ?= 2
leaderboard: setup  ## every recommender variant x 3 seeds, then print the README table
	$(BIN)/movielens-dag materialize --group recommender --partitions all --jobs $(JOBS)
	$(BIN)/movielens-dag leaderboard

# The published HSTU/SASRec ML-1M comparison: make published MOVIELENS_SOURCE_DIR=/path/to/ml-1m
published: setup  ## hstu-id + sasrec-id on ML-1M with the published settings (own data dir)
	@test -n "$(MOVIELENS_SOURCE_DIR)" || { echo "set MOVIELENS_SOURCE_DIR=/path/to/unzipped/ml-1m"; exit 2; }
	MOVIELENS_VARIANT=ml-1m MOVIELENS_SOURCE_DIR=$(MOVIELENS_SOURCE_DIR) MOVIELENS_DATA_DIR=$${MOVIELENS_DATA_DIR:-data/ml-1m} \
		$(BIN)/movielens-dag materialize --group recommender --partitions hstu-id,sasrec-id --jobs $(JOBS)
	MOVIELENS_DATA_DIR=$${MOVIELENS_DATA_DIR:-data/ml-1m} $(BIN)/movielens-dag leaderboard

test: setup  ## the whole test suite (what CI runs)
	$(BIN)/python -m pytest

dev: setup  ## the Dagster UI on http://127.0.0.1:3000
	$(BIN)/dagster dev -w workspace.yaml -h 127.0.0.1 -p 3000

catalog: setup  ## rebuild the DuckDB views from the Parquet files
	$(BIN)/movielens-dag catalog

clean:  ## remove what the pipeline wrote (keeps the bundled data and overrides)
	rm -rf .dagster data/warehouse data/warehouse.duckdb data/warehouse.duckdb.lock data/cache \
		data/artifacts data/checkpoints data/downloads data/raw data/models
