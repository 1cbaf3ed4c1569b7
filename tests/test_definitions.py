import subprocess
import sys

import yaml

from movielens_dag.paths import PROJECT_ROOT


def test_definitions_load_every_group_and_check():
    from movielens_dag.definitions import defs

    graph = defs.get_repository_def().asset_graph
    groups = {graph.get(k).group_name for k in graph.get_all_asset_keys()}
    assert {"movielens", "enrichment", "documents", "embeddings", "semantic_ids", "recommender"} <= groups
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    assert {"movies", "links", "ratings", "tags", "movie_documents"} <= keys
    assert len(graph.asset_check_keys) >= 6


def test_loading_definitions_does_not_import_heavy_libraries():
    code = (
        "import sys, movielens_dag.definitions as d; d.defs.get_repository_def();"
        "print(sorted(m for m in ('torch', 'sentence_transformers', 'transformers', 'umap', 'plotly', 'sklearn') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_workspace_names_one_code_location():
    workspace = yaml.safe_load((PROJECT_ROOT / "workspace.yaml").read_text())
    [entry] = workspace["load_from"]
    assert entry["python_module"]["location_name"] == "movielens_dag"
    assert entry["python_module"]["module_name"] == "movielens_dag.definitions"


def test_data_dir_comes_from_the_environment(monkeypatch, tmp_path):
    import dagster as dg

    from movielens_dag.definitions import make_resources

    monkeypatch.setenv("MOVIELENS_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("MOVIELENS_VARIANT", "ml-1m")
    resources = make_resources()
    assert isinstance(resources["data_dir"].data_dir, dg.EnvVar)
    assert resources["data_dir"].data_dir.get_value() == str(tmp_path)
    assert resources["movielens_source"].variant.get_value() == "ml-1m"


def test_dg_cli_lists_the_same_assets():
    import json
    import shutil

    from movielens_dag.definitions import defs

    dg_bin = shutil.which("dg", path=str(PROJECT_ROOT / ".venv" / "bin")) or shutil.which("dg")
    out = subprocess.run(
        [dg_bin, "list", "defs", "--json"], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-2000:]
    listed = {a["asset_key"] for a in json.loads(out.stdout)["assets"]}
    expected = {k.to_user_string() for k in defs.get_repository_def().asset_graph.get_all_asset_keys()}
    assert listed == expected


def _materializable_specs():
    from movielens_dag.definitions import defs

    repo = defs.get_repository_def()
    graph = repo.asset_graph
    return graph, [graph.get(k) for k in graph.get_all_asset_keys() if graph.get(k).is_materializable]


def test_every_asset_has_a_check_an_owner_a_code_version_and_described_columns():
    graph, nodes = _materializable_specs()
    checked = {c.asset_key for c in graph.asset_check_keys}
    for node in nodes:
        name = node.key.to_user_string()
        assert node.key in checked, f"{name} has no asset check"
        assert node.owners == ["team:movielens-dag"], name
        assert node.code_version, f"{name} has no code_version"
        schema = node.metadata.get("dagster/column_schema")
        assert schema is not None, f"{name} declares no column schema"
        columns = getattr(schema, "schema", schema).columns
        assert columns and all(c.description for c in columns), f"{name}: a column has no description"
        # the UI shows column descriptions as plain text: markdown code spans would show their backticks
        assert not [c.name for c in columns if "`" in c.description], f"{name}: a column description has backticks"


def test_descriptions_render_as_markdown_without_rst_double_backticks():
    _, nodes = _materializable_specs()
    for node in nodes:
        assert "``" not in (node.description or ""), f"{node.key.to_user_string()}: use single backticks"


def test_downstream_of_documents_follows_its_inputs_and_the_sensor_starts_running():
    import dagster as dg

    from movielens_dag.definitions import defs

    graph, _ = _materializable_specs()
    for name in ("movie_embeddings", "semantic_ids", "sid_codebooks", "sid_quality", "sid_map"):
        assert graph.get(dg.AssetKey(name)).automation_condition is not None, name
    assert graph.get(dg.AssetKey("movie_documents")).automation_condition is None  # refreshed by its job
    sensor = defs.get_sensor_def("automation")
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING


def test_named_jobs_and_no_dagster_internals():
    from movielens_dag.definitions import defs

    names = {j.name for j in defs.get_repository_def().get_all_jobs()}
    assert {"demo_job", "recommender_job", "leaderboard_job", "enrichment_refresh", "embedding_shards_job"} <= names
    for path in (PROJECT_ROOT / "movielens_dag").rglob("*.py"):
        assert "dagster._" not in path.read_text(), f"{path} imports Dagster internals"


def test_code_version_follows_the_plain_code(tmp_path, monkeypatch):
    from movielens_dag.assets import conventions

    pkg = tmp_path / "versioned_pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("X = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    before = conventions.code_version("versioned_pkg")
    assert before == conventions.code_version("versioned_pkg")
    conventions._source_digest.cache_clear()
    (pkg / "__init__.py").write_text("X = 2\n")
    assert conventions.code_version("versioned_pkg") != before


def test_every_environment_variable_is_documented_in_the_readme():
    from movielens_dag.settings import ENVIRONMENT

    readme = (PROJECT_ROOT / "README.md").read_text()
    for setting in ENVIRONMENT:
        assert f"`{setting.name}`" in readme, f"README does not document {setting.name}"


def test_instance_storage_lives_under_dagster_home_whatever_the_working_directory(tmp_path):
    # a worker or `dg launch` started in another folder must share the instance, not make its own
    home, elsewhere = tmp_path / "home", tmp_path / "elsewhere"
    home.mkdir()
    elsewhere.mkdir()
    (home / "dagster.yaml").write_text((PROJECT_ROOT / "dagster.yaml").read_text())
    code = (
        "import uuid, dagster as dg\n"
        "with dg.DagsterInstance.get() as i:\n"
        "    i.add_run(dg.DagsterRun(job_name='probe', run_id=str(uuid.uuid4())))\n"
        "    print(i.root_directory, len(i.get_runs()))\n"
    )
    for cwd in (elsewhere, PROJECT_ROOT):
        out = subprocess.run(
            [sys.executable, "-c", code],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=120,
            env={"DAGSTER_HOME": str(home), "PATH": "/usr/bin:/bin"},
        )
        assert out.returncode == 0, out.stderr
    assert (home / "history" / "runs.db").is_file()
    assert out.stdout.split() == [str(home), "2"]  # the second process saw the first one's run: one instance
    assert list(elsewhere.iterdir()) == []
