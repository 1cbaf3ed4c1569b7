"""The README's two quick-start commands, run as written (the demo doubles as the end-to-end test)."""

import os
import re
import subprocess
import sys

import duckdb
import pytest

from movielens_dag.paths import PROJECT_ROOT
from movielens_dag.recommender.config import DEMO_VARIANTS

pytestmark = pytest.mark.slow


def quick_start_commands() -> list[str]:
    text = (PROJECT_ROOT / "README.md").read_text()
    section = text.split("## Quick start", 1)[1]
    block = re.search(r"```(?:bash|sh)?\n(.*?)```", section, re.S).group(1)
    return [line.split("#")[0].strip() for line in block.splitlines() if line.split("#")[0].strip()]


def test_quick_start_is_exactly_two_commands_and_ci_runs_the_second():
    demo, test = quick_start_commands()
    assert (demo, test) == ("make demo", "make test")
    assert "make test" in (PROJECT_ROOT / ".ci" / "run").read_text()
    # Both set everything up first (a fresh machine has no .venv).
    dry = subprocess.run(["make", "-n", "-B", "demo", "test"], cwd=PROJECT_ROOT, capture_output=True, text=True)
    assert dry.returncode == 0, dry.stderr
    assert "-m venv .venv" in dry.stdout and "pip install --quiet torch==2.13.0" in dry.stdout
    assert "dg launch --job demo_job" in dry.stdout and "pytest" in dry.stdout


def test_make_demo_materializes_everything_into_a_fresh_data_dir(tmp_path):
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    env = os.environ | {"DAGSTER_HOME": str(home), "MOVIELENS_DATA_DIR": str(tmp_path / "data")}
    out = subprocess.run(["make", "demo"], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=1800)
    assert out.returncode == 0, (out.stdout + out.stderr)[-5000:]

    import dagster as dg

    # Dagster's own runs, with job names (what the UI lists), all successful
    with dg.DagsterInstance.from_config(str(home)) as instance:
        runs = instance.get_runs()
        assert sorted(r.job_name for r in runs) == [
            "demo_job",
            "leaderboard_job",
            "rating_leaderboard_job",
            "rating_model_job",
            "recommender_job",
            "recommender_job",
        ]
        assert {r.status for r in runs} == {dg.DagsterRunStatus.SUCCESS}

    from movielens_dag.definitions import defs

    graph = defs.get_repository_def().asset_graph
    con = duckdb.connect(str(tmp_path / "data" / "warehouse.duckdb"), read_only=True)
    views = {
        f"{s}.{v}"
        for s, v in con.execute("SELECT schema_name, view_name FROM duckdb_views() WHERE NOT internal").fetchall()
    }
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        if node.partitions_def is None:
            assert f"{node.group_name}.{key.path[-1]}" in views
    top = con.execute(
        "SELECT m.title, count(*) AS n FROM movielens.ratings r JOIN movielens.movies m USING (movie_id) "
        "GROUP BY ALL ORDER BY n DESC, m.title LIMIT 1"
    ).fetchone()
    assert top == ("Forrest Gump", 329)
    assert con.execute("SELECT count(*) FROM documents.movie_documents").fetchone() == (9742,)
    # the demo trains the two demo variants with one seed each and ranks them beside MostPop
    assert con.execute(
        "SELECT list(variant ORDER BY variant), max(seed) FROM recommender.recommender_runs"
    ).fetchone() == (sorted(DEMO_VARIANTS), 0)
    assert con.execute("SELECT count(*) FROM recommender.recommender_leaderboard").fetchone() == (3,)
    # ... and the demo rating variant (bias, one seed) on both splits; offline there are no posters
    assert con.execute(
        "SELECT list(split ORDER BY split), max(seeds) FROM rating_model.rating_leaderboard WHERE variant = 'bias'"
    ).fetchone() == (["random", "temporal"], 1)
    assert con.execute("SELECT count(*) FROM embeddings.poster_embeddings").fetchone() == (0,)
    con.close()

    # Every SQL example in the README runs against what the demo built.
    text = (PROJECT_ROOT / "README.md").read_text()
    queries = re.findall(r"```sql\n(.*?)```", text, re.S)
    assert len(queries) >= 5
    assert len([q for q in queries if re.match(r"--\s*\d+\.", q.strip())]) >= 5
    for query in queries:
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "movielens_dag.cli",
                "--data-dir",
                str(tmp_path / "data"),
                "sql",
                query,
                "--format",
                "csv",
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, f"{query}\n{result.stderr}"
        if re.match(r"--\s*\d+\.", query.strip()):  # the numbered examples must return rows
            assert len(result.stdout.splitlines()) >= 2, f"no rows from:\n{query}"
