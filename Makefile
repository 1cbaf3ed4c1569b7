# Quick start (fresh clone, Python 3.11):  make demo   |   make test
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The instance config (dagster.yaml) lives at the repo root; its storage goes to history/, schedules/, storage/.
DAGSTER_HOME ?= $(CURDIR)
export DAGSTER_HOME

.PHONY: setup demo leaderboard temporal-leaderboard rating-leaderboard published test dev catalog clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# torch first and pinned: an unpinned torch would pull a multi-GB CUDA build
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

# Runs are recorded in the instance under DAGSTER_HOME (this folder), so `make dev` shows them.
# the demo trains the quick preset with one seed (the tuned small preset takes ~14 CPU min per seed)
DEMO_RUN := '{"ops": {"recommender_runs": {"config": {"seeds": 1, "preset": "small-sampled"}}}}'
DEMO_RATING_SEEDS := '{"ops": {"rating_model_runs": {"config": {"seeds": 1}}}}'
demo: setup  ## the whole DAG on the bundled ml-latest-small: demo_job, demo recommenders + rating model, leaderboards
	$(BIN)/dg launch --job demo_job
	$(BIN)/movielens-dag variants --demo | xargs -P 2 -I{} \
		$(BIN)/dg launch --job recommender_job --partition {} --config-json $(DEMO_RUN)
	$(BIN)/dg launch --job leaderboard_job
	$(BIN)/movielens-dag rating-variants --demo | xargs -I{} \
		$(BIN)/dg launch --job rating_model_job --partition {} --config-json $(DEMO_RATING_SEEDS)
	$(BIN)/dg launch --job rating_leaderboard_job

JOBS ?= 2
leaderboard: setup  ## every recommender variant x 3 seeds ($(JOBS) at a time), then print the README table
	$(BIN)/dg launch --job demo_job
	$(BIN)/movielens-dag variants | xargs -P $(JOBS) -I{} $(BIN)/dg launch --job recommender_job --partition {}
	$(BIN)/dg launch --job leaderboard_job
	$(BIN)/movielens-dag leaderboard --protocol leave_one_out

temporal-leaderboard: setup  ## every variant x 3 seeds under the temporal protocol, then print its table
	$(BIN)/dg launch --job demo_job
	$(BIN)/movielens-dag variants | xargs -P $(JOBS) -I{} $(BIN)/dg launch --job temporal_recommender_job --partition {}
	$(BIN)/dg launch --job leaderboard_job
	$(BIN)/movielens-dag leaderboard --protocol temporal

rating-leaderboard: setup  ## every offline rating-model variant x both splits x 3 seeds, then print the README table
	$(BIN)/dg launch --job demo_job
	$(BIN)/movielens-dag rating-variants | xargs -P $(JOBS) -I{} $(BIN)/dg launch --job rating_model_job --partition {}
	$(BIN)/dg launch --job rating_leaderboard_job
	$(BIN)/movielens-dag rating-leaderboard

# The published HSTU/SASRec ML-1M comparison: make published MOVIELENS_SOURCE_DIR=/path/to/ml-1m
published: export MOVIELENS_VARIANT = ml-1m
published: export MOVIELENS_SOURCE_DIR := $(MOVIELENS_SOURCE_DIR)
published: export MOVIELENS_DATA_DIR ?= $(CURDIR)/data/ml-1m
published: setup  ## hstu-id + sasrec-id on ML-1M with the published settings (own data dir)
	@test -n "$(MOVIELENS_SOURCE_DIR)" || { echo "set MOVIELENS_SOURCE_DIR=/path/to/unzipped/ml-1m"; exit 2; }
	$(BIN)/dg launch --job demo_job
	printf '%s\n' hstu-id sasrec-id | xargs -P $(JOBS) -I{} $(BIN)/dg launch --job recommender_job --partition {}
	$(BIN)/dg launch --job leaderboard_job
	$(BIN)/movielens-dag leaderboard

test: setup  ## lint and format check, then the whole test suite (what CI runs)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest

dev: setup  ## the Dagster UI on http://127.0.0.1:3000 (plots served on :3001); Ctrl-C or SIGTERM stops it
	exec $(BIN)/movielens-dag dev

catalog: setup  ## rebuild the DuckDB views from the Parquet files
	$(BIN)/movielens-dag catalog

clean:  ## remove what the pipeline wrote (keeps the bundled data and overrides)
	rm -rf .dagster history schedules storage data/warehouse data/warehouse.duckdb data/warehouse.duckdb.lock data/cache \
		data/artifacts data/checkpoints data/downloads data/raw data/models data/posters
