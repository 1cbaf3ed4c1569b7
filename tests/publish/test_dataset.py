"""The Hugging Face dataset folder: round trip with `datasets`, the card, the licence rules, the upload."""

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from movielens_dag import cli
from movielens_dag.paths import BUNDLED_MOVIELENS_DIR, DataPaths
from movielens_dag.publish import upload
from movielens_dag.publish.card import features_yaml
from movielens_dag.publish.dataset import PublishInputs, build_dataset, inputs_from_warehouse
from movielens_dag.publish.licences import licence_of, usage_licence_section
from movielens_dag.publish.settings import PublishSettings
from movielens_dag.semantic_ids.ids import SemanticIds

README = (BUNDLED_MOVIELENS_DIR / "ml-latest-small" / "README.txt").read_text(encoding="utf-8")


def tables(n: int = 40) -> dict:
    rng = np.random.default_rng(0)
    ids = np.arange(1, n + 1)
    movies = pa.table(
        {
            "movie_id": pa.array(ids, pa.int32()),
            "title": [f"Movie {i}" for i in ids],
            "year": pa.array([1990 + i % 20 for i in ids], pa.int32()),
            "genres": [["Drama"] if i % 3 else ["Comedy", "Romance"] for i in ids],
            "alt_titles": [[] for _ in ids],
            "raw_title": [f"Movie {i} (1990)" for i in ids],
        }
    )
    links = pa.table(
        {
            "movie_id": pa.array(ids[:-2], pa.int32()),
            "imdb_id": [f"tt{i:07d}" for i in ids[:-2]],
            "tmdb_id": pa.array(ids[:-2] * 10, pa.int64()),
        }
    )
    x = rng.normal(size=(n, 8)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    embeddings = pa.table(
        {
            "movie_id": pa.array(ids, pa.int32()),
            "model_id": ["sentence-transformers/x"] * n,
            "dim": pa.array([8] * n, pa.int32()),
            "document_hash": [f"h{i}" for i in ids],
            "embedding": pa.FixedSizeListArray.from_arrays(pa.array(x.ravel()), 8),
        }
    )
    documents = pa.table(
        {
            "movie_id": pa.array(ids, pa.int32()),
            "document": [f"Title: Movie {i}" for i in ids],
            "document_hash": [f"h{i}" for i in ids],
            "template_version": ["movielens-v1"] * n,
            "provenance": pa.array(
                [{"title": "movielens", "plot": None}] * n, pa.struct([("title", pa.string()), ("plot", pa.string())])
            ),
        }
    )
    sids = SemanticIds.with_digit(ids, rng.integers(0, 4, size=(n, 3)), "rqkmeans").to_table()
    quality = pa.Table.from_pylist(
        [
            {
                "method": "rqkmeans",
                "balanced": False,
                "is_primary": True,
                "levels": 3,
                "codes": 4,
                "seed": 0,
                "embedding_model": "sentence-transformers/x",
                "n_items": n,
                "rel_recon_error": 0.41,
                "collision_rate": 0.2,
                "max_collision_group": 3,
                "min_utilisation": 1.0,
                "nn_first_code_agreement": 0.5,
                "nn_agreement_chance": 0.25,
                "genre_purity": None,
                "genre_purity_chance": None,
            }
        ]
    )
    ratings = pa.table(
        {
            "user_id": pa.array(rng.integers(1, 9, 300), pa.int32()),
            "movie_id": pa.array(rng.integers(1, n + 1, 300), pa.int32()),
            "rating": pa.array(rng.integers(1, 11, 300) / 2, pa.float32()),
            "timestamp": pa.array(np.full(300, 10**15), pa.timestamp("us", tz="UTC")),
        }
    )
    return {
        "movies": movies,
        "links": links,
        "embeddings": embeddings,
        "documents": documents,
        "semantic_ids": sids,
        "sid_quality": quality,
        "ratings": ratings,
    }


def inputs(variant: str, **overrides) -> PublishInputs:
    t = tables()
    return PublishInputs(
        variant=variant,
        movies=t["movies"],
        links=t["links"],
        documents=t["documents"],
        semantic_ids=t["semantic_ids"],
        sid_quality=t["sid_quality"],
        embeddings=t["embeddings"],
        ratings=t["ratings"],
        release_readme=README,
        **overrides,
    )


def card_header(folder) -> dict:
    text = (folder / "README.md").read_text(encoding="utf-8")
    return yaml.safe_load(text.split("---\n")[1])


def test_round_trip_with_datasets(tmp_path):
    import datasets

    folder = tmp_path / "ds"
    manifest = build_dataset(folder, inputs("ml-latest-small"), PublishSettings(rows_per_shard=128))
    assert {c.name: c.rows for c in manifest.configs} == {
        "movies": 40,
        "documents": 40,
        "semantic_ids": 40,
        "sid_quality": 1,
        "embeddings": 40,
        "ratings": 300,
    }
    assert len(list((folder / "ratings").glob("train-*-of-00003.parquet"))) == 3  # 300 rows / 128 per shard
    # The plain Parquet builder on one table's folder ...
    movies = datasets.load_dataset("parquet", data_dir=str(folder / "movies"), split="train")
    assert movies.num_rows == 40 and movies[0]["imdb_id"] == "tt0000001" and movies[39]["tmdb_id"] is None
    # ... and the folder as a dataset repo: every config the card declares, with the card's features.
    header = card_header(folder)
    assert [c["config_name"] for c in header["configs"]] == [c.name for c in manifest.configs]
    for info in header["dataset_info"]:
        ds = datasets.load_dataset(str(folder), info["config_name"], split="train")
        assert ds.num_rows == info["splits"][0]["num_examples"]
        assert ds.features._to_yaml_list() == info["features"], info["config_name"]
    emb = datasets.load_dataset(str(folder), "embeddings", split="train").with_format("numpy")
    np.testing.assert_array_equal(emb["embedding"], np.stack(tables()["embeddings"]["embedding"].to_pylist()))


def test_our_feature_yaml_matches_datasets_for_nested_types():
    import datasets

    schema = pa.schema(
        [
            ("a", pa.list_(pa.struct([("g", pa.string()), ("p", pa.float32())]))),
            ("b", pa.struct([("x", pa.list_(pa.int32()))])),
            ("c", pa.list_(pa.float32(), 3)),
            ("d", pa.float64()),
            ("e", pa.bool_()),
            ("f", pa.timestamp("us", tz="UTC")),
            ("g", pa.list_(pa.list_(pa.string()))),
        ]
    )
    assert features_yaml(schema) == datasets.Features.from_arrow_schema(schema)._to_yaml_list()


def test_card_says_what_is_in_it_how_it_was_built_and_the_terms(tmp_path):
    folder = tmp_path / "ds"
    build_dataset(folder, inputs("ml-latest-small"))
    card = (folder / "README.md").read_text(encoding="utf-8")
    for text in [
        "| `movies` | 40 |",
        "| `ratings` | 300 |",
        "rqkmeans",
        "3 levels x 4 codes",
        "| relative reconstruction error | 0.4100 |",
        "Harper",
        "doi.org/10.1145/2827872",
        "may redistribute the data set, including transformations",
        "sentence-transformers/x",
        "`movielens-v1` (40)",
    ]:
        assert text in card, text
    assert card_header(folder)["license"] == "other"
    assert (folder / "LICENSE.md").read_text().count("research") >= 1
    assert usage_licence_section(README).startswith("Neither the University of Minnesota")


@pytest.mark.parametrize("variant", ["ml-1m", "ml-10m", "ml-20m", "ml-25m"])
def test_no_redistribution_releases_export_only_per_movie_data(tmp_path, variant):
    folder = tmp_path / variant
    manifest = build_dataset(
        folder,
        inputs(
            variant,
            tags=tables()["ratings"]
            .rename_columns(["user_id", "movie_id", "tag", "timestamp"])
            .set_column(2, "tag", pa.array(["x"] * 300)),
        ),
    )
    names = [c.name for c in manifest.configs]
    assert "ratings" not in names and "tags" not in names and "movies" in names and "embeddings" in names
    assert "forbids redistribution" in manifest.excluded["ratings"]
    card = (folder / "README.md").read_text()
    assert "forbids redistributing" in card and "`ratings`: the" in card
    assert not (folder / "ratings").exists()
    # With the explicit acknowledgement the user data goes in, and the card says on what grounds.
    acknowledged = build_dataset(tmp_path / "ack", inputs(variant), PublishSettings(acknowledge_licence=True))
    assert "ratings" in [c.name for c in acknowledged.configs]
    assert "separate permission" in (tmp_path / "ack" / "README.md").read_text()


def test_unknown_variant_and_rebuild_replaces_the_folder(tmp_path):
    with pytest.raises(ValueError, match="no licence is recorded"):
        licence_of("ml-100k")
    folder = tmp_path / "ds"
    build_dataset(folder, inputs("ml-latest-small"))
    build_dataset(folder, inputs("ml-latest-small"), PublishSettings(include_embeddings=False))
    assert not (folder / "embeddings").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds"]  # no temp or old folders left behind


class FakeApi:
    def __init__(self, token=None):
        self.token, self.calls = token, []

    def create_repo(self, repo_id, **kwargs):
        self.calls.append(("create_repo", repo_id, kwargs))

    def upload_folder(self, **kwargs):
        self.calls.append(("upload_folder", kwargs))
        return type("CommitInfo", (), {"commit_url": f"https://huggingface.co/datasets/{kwargs['repo_id']}/commit/1"})()


def test_upload_creates_the_repo_and_sends_the_folder(tmp_path):
    folder = tmp_path / "ds"
    build_dataset(folder, inputs("ml-latest-small"))
    api = FakeApi()
    url = upload.upload(folder, "me/movielens", "hf_x", api=api)
    assert url.endswith("/commit/1")
    (_, repo, create), (_, sent) = api.calls
    assert repo == "me/movielens" and create == {"repo_type": "dataset", "private": True, "exist_ok": True}
    assert sent["folder_path"] == str(folder) and sent["repo_type"] == "dataset"
    assert "manifest.json" in sent["ignore_patterns"]
    planned = [p for p, _ in upload.planned_files(folder)]
    assert "README.md" in planned and "LICENSE.md" in planned and "manifest.json" not in planned
    with pytest.raises(FileNotFoundError, match="materialize enriched_dataset"):
        upload.upload(tmp_path / "missing", "me/x", "hf_x", api=FakeApi())


def test_cli_publish_without_token_prints_the_plan_and_with_token_uploads(tmp_path, monkeypatch, capsys):
    import huggingface_hub

    paths = DataPaths(tmp_path / "data")
    t = tables()
    for group, asset, table in [
        ("movielens", "movies", t["movies"]),
        ("movielens", "links", t["links"]),
        ("movielens", "ratings", t["ratings"]),
        ("embeddings", "movie_embeddings", t["embeddings"]),
    ]:
        path = paths.asset_file(group, asset)
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, path)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setenv("MOVIELENS_VARIANT", "ml-latest-small")
    monkeypatch.delenv("MOVIELENS_SOURCE_DIR", raising=False)
    assert cli.main(["--data-dir", str(paths.root), "publish", "--repo-id", "me/ml", "--build"]) == 0
    out = capsys.readouterr().out
    assert "would upload" in out and "movies/train-00000-of-00001.parquet" in out and "HF_TOKEN is not set" in out
    manifest = json.loads((paths.published / "enriched_dataset" / "manifest.json").read_text())
    assert manifest["tables"]["ratings"]["rows"] == 300  # streamed from the warehouse Parquet file

    made = []
    monkeypatch.setattr(huggingface_hub, "HfApi", lambda token=None: made.append(FakeApi(token)) or made[-1])
    monkeypatch.setenv("HF_TOKEN", "hf_secret")
    assert cli.main(["--data-dir", str(paths.root), "publish", "--repo-id", "me/ml"]) == 0
    assert "uploaded" in capsys.readouterr().out
    assert made[0].token == "hf_secret" and made[0].calls[1][1]["repo_id"] == "me/ml"


def test_inputs_from_warehouse_needs_movies(tmp_path):
    with pytest.raises(FileNotFoundError, match="materialize the movielens group"):
        inputs_from_warehouse(DataPaths(tmp_path), "ml-latest-small")
