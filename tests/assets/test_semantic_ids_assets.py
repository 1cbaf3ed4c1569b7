"""The semantic_ids group end to end on stand-in upstream tables, through the real IO manager."""

from collections import Counter

import dagster as dg
import duckdb
import numpy as np
import pyarrow as pa
import pytest

from movielens_dag.assets import semantic_ids as sid
from movielens_dag.paths import DataPaths
from movielens_dag.resources.storage import DataDir
from movielens_dag.resources.warehouse_io import WarehouseIOManager
from movielens_dag.semantic_ids.tables import embedding_matrix

N_MOVIES, DIM = 300, 24
GENRES = ["Action", "Comedy", "Drama", "Horror", "Romance", "Sci-Fi"]
CONFIG = {"levels": 2, "codes": 32, "seed": 0}

# README queries (kept here so the README and the test cannot drift apart unnoticed).
SHARED_PREFIX_SQL = """
WITH target AS (SELECT codes FROM semantic_ids.semantic_ids WHERE movie_id = ?)
SELECT m.movie_id, m.title, s.sid
FROM semantic_ids.semantic_ids s JOIN movielens.movies m USING (movie_id), target t
WHERE s.codes[1:2] = t.codes[1:2]
ORDER BY s.sid
"""
COLLISION_GROUPS_SQL = """
SELECT s.codes[1:-2] AS sid_prefix, count(*) AS movies, list(m.title ORDER BY m.movie_id)[1:5] AS examples
FROM semantic_ids.semantic_ids s JOIN movielens.movies m USING (movie_id)
GROUP BY sid_prefix HAVING count(*) > 1
ORDER BY movies DESC, sid_prefix
LIMIT 10
"""


def _stand_ins(n_embedded: int = N_MOVIES) -> list:
    rng = np.random.default_rng(0)
    genre = rng.integers(len(GENRES), size=N_MOVIES)
    centres = rng.standard_normal((len(GENRES), DIM)) * 3

    @dg.asset(group_name="movielens", name="movies")
    def movies() -> pa.Table:
        return pa.table(
            {
                "movie_id": pa.array(np.arange(1, N_MOVIES + 1) * 10, pa.int32()),
                "title": [f"Movie {i}" for i in range(N_MOVIES)],
                "year": pa.array([1990 + i % 30 for i in range(N_MOVIES)], pa.int32()),
                "genres": pa.array([[GENRES[g]] for g in genre], pa.list_(pa.string())),
            }
        )

    @dg.asset(group_name="embeddings", name="movie_embeddings")
    def movie_embeddings() -> pa.Table:
        x = (centres[genre] + rng.standard_normal((N_MOVIES, DIM))).astype(np.float32)[:n_embedded]
        order = rng.permutation(n_embedded)  # arrive unsorted: the assets must sort by movie_id
        return pa.table(
            {
                "movie_id": pa.array((np.arange(1, n_embedded + 1) * 10)[order], pa.int32()),
                "model_id": ["test-model"] * n_embedded,
                "dim": pa.array([DIM] * n_embedded, pa.int32()),
                "document_hash": ["h"] * n_embedded,
                "embedding": pa.FixedSizeListArray.from_arrays(pa.array(x[order].reshape(-1)), DIM),
            }
        )

    return [movies, movie_embeddings]


def _materialize(root, config: dict, n_embedded: int = N_MOVIES, projection: str = "pca"):
    storage = DataDir(data_dir=str(root), artifacts_url="http://127.0.0.1:3001")
    assets = [
        *_stand_ins(n_embedded),
        sid.semantic_id_fit,
        sid.sid_map,
        sid.every_movie_has_one_sid,
        sid.sids_are_unique,
        sid.every_level_uses_a_quarter_of_its_codes,
    ]
    return dg.materialize(
        assets,
        resources={"io_manager": WarehouseIOManager(data_dir=storage), "data_dir": storage},
        run_config={"ops": {"semantic_id_fit": {"config": config}, "sid_map": {"config": {"projection": projection}}}},
        raise_on_error=False,
    )


def test_group_materializes_with_passing_checks_and_queryable_views(tmp_path):
    result = _materialize(tmp_path, {**CONFIG, "compare": ["rqkmeans-balanced"]})
    assert result.success
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert checks == {
        "every_movie_has_one_sid": True,
        "sids_are_unique": True,
        "every_level_uses_a_quarter_of_its_codes": True,
    }

    paths = DataPaths(tmp_path)
    con = duckdb.connect(str(paths.duckdb_file), read_only=True)
    ids = con.execute("SELECT movie_id, codes, sid, method FROM semantic_ids.semantic_ids ORDER BY movie_id").fetchall()
    assert len(ids) == N_MOVIES and ids[0][0] == 10
    assert all(
        len(codes) == 3 and sid_ == "".join(f"<{'abc'[i]}_{c}>" for i, c in enumerate(codes))
        for _, codes, sid_, _ in ids
    )
    assert {row[3] for row in ids} == {"rqkmeans"}
    books = con.execute(
        "SELECT level, count(*), sum(n_items), any_value(len(centroid)) "
        "FROM semantic_ids.sid_codebooks GROUP BY level ORDER BY level"
    ).fetchall()
    assert books == [(0, 32, N_MOVIES, DIM), (1, 32, N_MOVIES, DIM)]
    quality = con.execute(
        "SELECT method, balanced, is_primary, genre_purity, genre_purity_chance, "
        "rel_recon_error, nn_first_code_agreement, nn_agreement_chance FROM semantic_ids.sid_quality "
        "ORDER BY is_primary DESC"
    ).fetchall()
    assert [(q[0], q[1], q[2]) for q in quality] == [("rqkmeans", False, True), ("rqkmeans", True, False)]
    # the stand-in embeddings are genre clusters, so first-level codes must be genre-pure, far above chance
    assert quality[0][3] > 0.95 and quality[0][4] < 0.3
    assert 0 < quality[0][5] < 1 and quality[0][6] > 3 * quality[0][7]

    same_prefix = con.execute(SHARED_PREFIX_SQL, [10]).fetchall()
    target = next(codes for movie_id, codes, _, _ in ids if movie_id == 10)
    assert (10, "Movie 0", next(s for m, _, s, _ in ids if m == 10)) in same_prefix
    assert len(same_prefix) == sum(1 for _, codes, _, _ in ids if codes[:2] == target[:2])
    groups = con.execute(COLLISION_GROUPS_SQL).fetchall()
    assert groups  # 300 clustered movies in 32*32 cells share some tuples (seeded, so this is stable)
    tuple_sizes = Counter(tuple(c[:2]) for _, c, _, _ in ids)
    prefix, n, examples = groups[0]
    assert len(prefix) == 2 and n == max(tuple_sizes.values()) and len(examples) == min(n, 5)
    assert sorted(c[2] for _, c, _, _ in ids if c[:2] == list(prefix)) == list(range(n))  # digits 0..n-1
    xy = con.execute("SELECT count(*), count(DISTINCT first_code) FROM semantic_ids.sid_map").fetchone()
    assert xy[0] == N_MOVIES and xy[1] > 8
    con.close()

    html = paths.artifacts / "semantic_ids" / "sid_map.html"
    assert html.exists() and (paths.artifacts / "semantic_ids" / "sid_map.png").exists()
    meta = result.asset_materializations_for_node("semantic_id_fit")
    by_key = {m.asset_key.to_user_string(): m.metadata for m in meta}
    assert by_key["semantic_ids"]["collision_rate"].value == pytest.approx(
        con_value(paths, "SELECT collision_rate FROM semantic_ids.sid_quality WHERE is_primary")
    )
    meta = result.asset_materializations_for_node("sid_map")[0].metadata
    # a short markdown image the UI shows inline, and a link a browser opens (never file://)
    assert meta["map"].value == "![SID map](http://127.0.0.1:3001/semantic_ids/sid_map.png)"
    assert meta["interactive_map"].value == "http://127.0.0.1:3001/semantic_ids/sid_map.html"


def con_value(paths: DataPaths, sql: str):
    with duckdb.connect(str(paths.duckdb_file), read_only=True) as con:
        return con.execute(sql).fetchone()[0]


def test_rqvae_method_writes_latent_codebooks_and_a_checkpoint(tmp_path):
    config = {
        **CONFIG,
        "method": "rqvae",
        "rqvae": {"epochs": 3, "batch_size": 128, "hidden_dims": [32], "latent_dim": 8},
    }
    result = _materialize(tmp_path, config)
    assert result.success
    paths = DataPaths(tmp_path)
    assert con_value(paths, "SELECT DISTINCT space FROM semantic_ids.sid_codebooks") == "latent"
    assert con_value(paths, "SELECT any_value(len(centroid)) FROM semantic_ids.sid_codebooks") == 8
    assert con_value(paths, "SELECT count(DISTINCT sid) FROM semantic_ids.semantic_ids") == N_MOVIES
    assert list((paths.checkpoints / "semantic_ids").glob("rqvae-*.pt"))


def test_missing_embeddings_fail_the_coverage_check(tmp_path):
    result = _materialize(tmp_path, CONFIG, n_embedded=N_MOVIES - 7)
    evals = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert not evals["every_movie_has_one_sid"].passed
    assert evals["every_movie_has_one_sid"].metadata["missing"].value == 7
    assert evals["sids_are_unique"].passed


def test_impossible_config_fails_with_a_clear_message(tmp_path):
    result = _materialize(tmp_path, {**CONFIG, "codes": 500})
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert "codes=500 is larger than the number of items (300)" in str(failure.step_failure_data.error)


def test_collapsed_level_fails_the_utilisation_check():
    codes = [[0, i % 32, 0] for i in range(100)]  # level 0 uses one code of 32
    ids = pa.table(
        {
            "movie_id": pa.array(range(100), pa.int32()),
            "codes": pa.array(codes, pa.list_(pa.int32())),
            "levels": pa.array([2] * 100, pa.int32()),
            "sid": [str(c) for c in codes],
        }
    )
    books = pa.table({"level": pa.array([0] * 32 + [1] * 32, pa.int32())})
    result = sid.every_level_uses_a_quarter_of_its_codes(semantic_ids=ids, sid_codebooks=books)
    assert not result.passed and result.metadata["level_0"].value == pytest.approx(1 / 32)
    healthy = pa.table(
        {
            **{n: ids[n] for n in ("movie_id", "levels", "sid")},
            "codes": pa.array([[i % 8, i % 32, 0] for i in range(100)], pa.list_(pa.int32())),
        }
    )
    assert sid.every_level_uses_a_quarter_of_its_codes(semantic_ids=healthy, sid_codebooks=books).passed


def test_embedding_table_with_two_models_needs_a_choice():
    one = pa.FixedSizeListArray.from_arrays(pa.array(np.ones(4, np.float32)), 2)
    table = pa.table({"movie_id": pa.array([1, 1], pa.int32()), "model_id": ["a", "b"], "embedding": one})
    with pytest.raises(ValueError, match="holds 2 models"):
        embedding_matrix(table, None)
    ids, x, model = embedding_matrix(table, "b")
    assert ids.tolist() == [1] and x.shape == (1, 2) and model == "b"
    with pytest.raises(ValueError, match="model_id='c' is not in movie_embeddings"):
        embedding_matrix(table, "c")


def _sids(paths: DataPaths) -> dict[int, tuple]:
    with duckdb.connect(str(paths.duckdb_file), read_only=True) as con:
        return {m: tuple(c) for m, c in con.execute("SELECT movie_id, codes FROM semantic_ids.semantic_ids").fetchall()}


def _fit_meta(result) -> dict:
    meta = result.asset_materializations_for_node("semantic_id_fit")
    return {k: v.value for k, v in next(m for m in meta if m.asset_key.path[-1] == "semantic_ids").metadata.items()}


def test_a_refresh_assigns_new_movies_and_refit_is_explicit(tmp_path):
    paths = DataPaths(tmp_path)
    first = _materialize(tmp_path, CONFIG, n_embedded=240)  # 60 movies are not embedded yet
    assert _fit_meta(first)["mode"] == "fit"
    before = _sids(paths)
    assert len(before) == 240

    second = _materialize(tmp_path, CONFIG)  # the refresh: 60 movies arrive
    assert second.success
    meta = _fit_meta(second)
    assert meta["mode"] == "assign" and meta["assigned_movies"] == 60 and meta["checkpoints_invalidated"] is False
    after = _sids(paths)
    assert len(after) == N_MOVIES and all(after[m] == codes for m, codes in before.items())  # old SIDs unchanged
    assert len(set(after.values())) == N_MOVIES
    with duckdb.connect(str(paths.duckdb_file), read_only=True) as con:
        used = con.execute("SELECT sum(n_items) FROM semantic_ids.sid_codebooks WHERE level = 0").fetchone()[0]
    assert used == N_MOVIES  # codebook usage counts include the assigned movies

    changed = _materialize(tmp_path, {**CONFIG, "codes": 24})  # another fit identity: refit, and say why
    meta = _fit_meta(changed)
    assert meta["mode"] == "refit" and "codes 32 -> 24" in meta["refit_reason"] and meta["checkpoints_invalidated"]

    explicit = _materialize(tmp_path, {**CONFIG, "codes": 24, "refit": True})
    assert _fit_meta(explicit)["refit_reason"] == "config refit=True"
