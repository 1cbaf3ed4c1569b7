"""Variant names and presets, and the published ML-1M comparison through the Dagster path
(`make published`): ml-1m's .dat files -> ratings -> user_sequences -> hstu-id / sasrec-id runs."""

import dataclasses

import pytest

from movielens_dag.recommender.config import (
    PUBLISHED,
    SMALL,
    VARIANTS,
    parse_variant,
    preset_for_dataset,
    variant_config,
)

dg = pytest.importorskip("dagster")


def fake_ml_1m(folder):
    folder.mkdir()
    movies = [f"{i}::Movie {i} ({1990 + i % 10})::Drama|Comedy" for i in range(1, 31)]
    movies[2] = "3::Misérables, Les (1995)::Drama"
    (folder / "movies.dat").write_bytes("\n".join(movies).encode("latin-1") + b"\n")
    ratings = [f"{u}::{1 + (u + t) % 30}::4::{978300000 + 60 * t}" for u in range(1, 21) for t in range(8)]
    (folder / "ratings.dat").write_text("\n".join(ratings) + "\n")
    (folder / "users.dat").write_text("".join(f"{u}::M::25::1::00000\n" for u in range(1, 21)))


def test_ml_1m_runs_the_published_models(tmp_path, monkeypatch):
    from movielens_dag.assets import movielens, recommender
    from movielens_dag.definitions import make_resources

    fake_ml_1m(tmp_path / "ml-1m")
    monkeypatch.setenv("MOVIELENS_VARIANT", "ml-1m")
    monkeypatch.setenv("MOVIELENS_SOURCE_DIR", str(tmp_path / "ml-1m"))
    monkeypatch.setenv("MOVIELENS_SUBSET", "1")  # a 30-movie stand-in for ml-1m
    resources = make_resources(str(tmp_path / "data"))
    assets = [
        *dg.load_assets_from_modules([movielens]),
        dg.AssetSpec("semantic_ids", group_name="semantic_ids"),
        dg.AssetSpec("temporal_movie_embeddings", group_name="recommender"),
        dg.AssetSpec("temporal_semantic_ids", group_name="recommender"),
        recommender.user_sequences,
        recommender.recommender_runs,
        recommender.temporal_recommender_runs,
        recommender.recommender_leaderboard,
    ]
    instance = dg.DagsterInstance.ephemeral()

    def run(selection, partition=None, config=None):
        return dg.materialize(
            assets,
            selection=selection,
            partition_key=partition,
            resources=resources,
            instance=instance,
            run_config=config,
        )

    assert run(["movielens_files", "movies", "ratings", "user_sequences"]).success
    for variant in ("hstu-id", "sasrec-id"):
        result = run(
            ["recommender_runs"],
            variant,
            {"ops": {"recommender_runs": {"config": {"seeds": 1, "train": {"max_epochs": 1}}}}},
        )
        meta = result.asset_materializations_for_node("recommender_runs")[0].metadata
        assert meta["dataset"].value == "ml-1m" and meta["preset"].value == "published"
        cfg = meta["config"].data
        enc, train = cfg["encoder"], cfg["train"]
        assert (enc["dim"], enc["num_blocks"], enc["max_len"], train["num_negatives"], train["batch_size"]) == (
            50,
            2,
            200,
            128,
            128,
        )
    board = run(["recommender_leaderboard"]).asset_materializations_for_node("recommender_leaderboard")[0]
    listed = set(board.metadata["leave_one_out"].value.replace("|", " ").split())
    assert {"`hstu-id`", "`sasrec-id`", "`popularity`"} <= listed


def test_variant_names_and_presets():
    assert all(parse_variant(v) for v in VARIANTS)
    assert parse_variant("hstu-prefixn_id-vector_gate-l2") == {
        "model": "hstu",
        "representation": "prefixn_id",
        "fusion": "vector_gate",
        "sid_levels": 2,
    }
    assert variant_config("sasrec-id", "ml-1m") == dataclasses.replace(PUBLISHED, model="sasrec")
    assert variant_config("hstu-id", "small", {"train": {"lr": 0.01}}).train.lr == 0.01
    assert preset_for_dataset("ml-1m") == "published" and preset_for_dataset("ml-latest-small") == "small"
    assert variant_config("hstu-id", "small") == SMALL
    for bad in ("gru-id", "hstu-idx", "hstu-prefixn_id-bogus", "hstu"):
        with pytest.raises(ValueError, match="variant"):
            parse_variant(bad)
    with pytest.raises(ValueError, match="needs both SID and ID"):
        variant_config("hstu-prefixn-vector_gate")
    with pytest.raises(ValueError, match="unknown setting"):
        variant_config("hstu-id", "small", {"train": {"lr_typo": 1}})


def test_sid_variant_without_semantic_ids_is_a_clear_error(tmp_path, monkeypatch):
    from movielens_dag.assets import movielens, recommender
    from movielens_dag.definitions import make_resources

    fake_ml_1m(tmp_path / "ml-1m")
    monkeypatch.setenv("MOVIELENS_VARIANT", "ml-1m")
    monkeypatch.setenv("MOVIELENS_SOURCE_DIR", str(tmp_path / "ml-1m"))
    monkeypatch.setenv("MOVIELENS_SUBSET", "1")  # a 30-movie stand-in for ml-1m
    assets = [
        *dg.load_assets_from_modules([movielens]),
        dg.AssetSpec("semantic_ids", group_name="semantic_ids"),
        recommender.user_sequences,
        recommender.recommender_runs,
    ]
    kw = {"resources": make_resources(str(tmp_path / "data")), "instance": dg.DagsterInstance.ephemeral()}
    assert dg.materialize(assets, selection=["movielens_files", "movies", "ratings", "user_sequences"], **kw).success
    with pytest.raises(FileNotFoundError, match="materialize semantic_ids first"):
        dg.materialize(assets, selection=["recommender_runs"], partition_key="hstu-prefixn", **kw)
