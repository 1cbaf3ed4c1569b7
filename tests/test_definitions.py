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
        "print(sorted(m for m in ('torch', 'sentence_transformers', 'transformers', 'umap', 'plotly', 'sklearn') if m in sys.modules))"
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
    out = subprocess.run([dg_bin, "list", "defs", "--json"], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    listed = {a["asset_key"] for a in json.loads(out.stdout)["assets"]}
    expected = {k.to_user_string() for k in defs.get_repository_def().asset_graph.get_all_asset_keys()}
    assert listed == expected
