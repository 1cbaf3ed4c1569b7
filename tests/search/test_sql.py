"""The search macros in a real DuckDB catalogue file, called from a read-only session."""

import duckdb
import numpy as np
import pyarrow as pa
import pytest

from movielens_dag import warehouse
from movielens_dag.paths import DataPaths
from movielens_dag.search.sql import search_macros_ddl
from movielens_dag.search.text import Catalogue, candidate_mask, rank_movies
from movielens_dag.semantic_ids.ids import SemanticIds
from tests.search.conftest import unit_rows

GENRES = ["Animation", "Children", "Comedy", "Crime", "Drama", "Horror"]


def make_tables(n: int = 300, d: int = 16, seed: int = 0):
    rng = np.random.default_rng(seed)
    ids = np.arange(1, n + 1) * 3
    titles = [f"Movie {i}" for i in ids]
    titles[0], titles[1], titles[2] = "Toy Story", "Emma", "Emma"  # Emma: two movies, 1996 and 2009
    years = [1980 + int(i) % 40 for i in ids]
    years[1], years[2] = 1996, 2009
    genres = [sorted(set(rng.choice(GENRES, size=rng.integers(1, 3)).tolist())) for _ in ids]
    genres[5] = []  # "(no genres listed)"
    raw = [f"{t} ({y})" for t, y in zip(titles, years)]
    movies = pa.table(
        {
            "movie_id": pa.array(ids, pa.int32()),
            "title": titles,
            "year": pa.array(years, pa.int32()),
            "genres": pa.array(genres, pa.list_(pa.string())),
            "alt_titles": [[] for _ in ids],
            "raw_title": raw,
        }
    )
    x = unit_rows(rng, n, d)
    embeddings = pa.table(
        {
            "movie_id": pa.array(ids, pa.int32()),
            "model_id": ["m"] * n,
            "dim": pa.array([d] * n, pa.int32()),
            "document_hash": [f"h{i}" for i in ids],
            "embedding": pa.FixedSizeListArray.from_arrays(pa.array(x.ravel()), d),
        }
    )
    sids = SemanticIds.with_digit(ids, rng.integers(0, 3, size=(n, 3)), "rqkmeans").to_table()
    predictions = pa.table(
        {
            "movie_id": pa.array(ids, pa.int32()),
            "predicted_genres": pa.array([["Horror", "Crime"]] * n, pa.list_(pa.string())),
        }
    )
    return movies, embeddings, sids, predictions


def catalogue_with(tmp_path, tables: dict, ddl: list[str]) -> DataPaths:
    paths = DataPaths(tmp_path / "data")
    specs = []
    for (group, asset), table in tables.items():
        location = warehouse.write_parquet_atomic(table, paths.asset_file(group, asset))
        specs.append(warehouse.ViewSpec(group, asset, location))
    warehouse.ensure_views(paths, specs)
    with duckdb.connect(str(paths.duckdb_file)) as con:
        for statement in ddl:
            con.execute(statement)
    return paths


@pytest.fixture(scope="module")
def full(tmp_path_factory):
    movies, embeddings, sids, predictions = make_tables()
    tmp = tmp_path_factory.mktemp("sql")
    paths = catalogue_with(
        tmp,
        {
            ("movielens", "movies"): movies,
            ("embeddings", "movie_embeddings"): embeddings,
            ("semantic_ids", "semantic_ids"): sids,
            ("search", "genre_predictions"): predictions,
        },
        search_macros_ddl(),
    )
    con = warehouse.connect_read_only(paths)  # what `movielens-dag sql` and users open
    yield con, Catalogue.from_tables(embeddings, movies), SemanticIds.from_table(sids)
    con.close()


def rows(con, sql: str) -> list[dict]:
    rel = con.sql(sql)
    return [dict(zip(rel.columns, r)) for r in rel.fetchall()]


def test_similar_to_is_the_exact_top_k_with_filters(full):
    con, catalogue, _ = full
    got = rows(con, "SELECT * FROM search.similar_to('Toy Story', 10, genre := 'comedy', min_year := 1990)")
    query = catalogue.vectors[catalogue.movie_ids == 3][0]
    want = rank_movies(catalogue, query, 10, candidate_mask(catalogue, "Comedy", min_year=1990), exclude=[3])
    assert [r["movie_id"] for r in got] == want["movie_id"].tolist()
    np.testing.assert_allclose([r["score"] for r in got], want["score"], atol=1e-5)
    assert [r["rank"] for r in got] == list(range(1, 11))
    assert all("Comedy" in r["genres"] and r["year"] >= 1990 for r in got)
    assert {r["query_movie_id"] for r in got} == {3}


def test_movie_id_title_and_title_with_year_name_the_same_movie(full):
    con, _, _ = full
    by_id = rows(con, "SELECT movie_id FROM search.similar_to(3, 5)")
    assert rows(con, "SELECT movie_id FROM search.similar_to('toy story', 5)") == by_id
    assert rows(con, "SELECT movie_id FROM search.similar_to('Toy Story (1983)', 5)") == by_id
    assert con.execute("SELECT search.movie_id_of('Emma (2009)')").fetchall() == [(9,)]


def test_an_ambiguous_title_is_an_error_listing_the_candidates(full):
    con, _, _ = full
    with pytest.raises(duckdb.Error) as err:
        con.sql("SELECT * FROM search.similar_to('Emma', 5)").fetchall()
    assert "'Emma' matches 2 movies: 6 Emma (1996); 9 Emma (2009)" in str(err.value)
    with pytest.raises(duckdb.Error, match="no movie matches 'Nope'"):
        con.sql("SELECT * FROM search.similar_to('Nope')").fetchall()
    with pytest.raises(duckdb.Error, match="unknown genre 'Heist'; known: Animation, Children"):
        con.sql("SELECT * FROM search.similar_to(3, genre := 'Heist')").fetchall()


def test_predicted_genre_mode_uses_the_classifier_genres_of_the_query_movie(full):
    con, catalogue, _ = full
    got = rows(con, "SELECT movie_id, genres FROM search.similar_to(3, 8, genre := 'predicted')")
    query = catalogue.vectors[0]
    want = rank_movies(catalogue, query, 8, candidate_mask(catalogue, ["Horror", "Crime"]), exclude=[3])
    assert [r["movie_id"] for r in got] == want["movie_id"].tolist()


def test_sid_columns_and_sid_siblings(full):
    con, _, sids = full
    got = rows(con, "SELECT movie_id, sid_shared_levels FROM search.similar_to(3, 20)")
    mine = sids.codes[sids.rows_for(np.array([3]))][0]
    for r in got:
        other = sids.codes[sids.rows_for(np.array([r["movie_id"]]))][0]
        shared = next((i for i in range(3) if other[i] != mine[i]), 3)
        assert r["sid_shared_levels"] == shared
    siblings = rows(con, "SELECT * FROM search.sid_siblings(3, 2)")
    want = [int(m) for m, c in zip(sids.movie_ids, sids.codes) if m != 3 and (c[:2] == mine[:2]).all()]
    assert sorted(r["movie_id"] for r in siblings) == sorted(want) and want
    assert all(r["shared_levels"] >= 2 for r in siblings)
    default = rows(con, "SELECT movie_id FROM search.sid_siblings('Toy Story')")  # all 3 levels
    assert {r["movie_id"] for r in default} <= {r["movie_id"] for r in siblings}
    with pytest.raises(duckdb.Error, match="levels must be 1..3"):
        con.sql("SELECT * FROM search.sid_siblings(3, 4)").fetchall()


def test_without_optional_views_the_macros_say_what_to_materialize(tmp_path):
    movies, embeddings, _, _ = make_tables(n=50)
    paths = catalogue_with(
        tmp_path,
        {("movielens", "movies"): movies, ("embeddings", "movie_embeddings"): embeddings},
        search_macros_ddl(semantic_ids=None, genre_predictions=None),
    )
    with warehouse.connect_read_only(paths) as con:
        got = rows(con, "SELECT * FROM search.similar_to(3, 5)")
        assert len(got) == 5 and all(r["sid"] is None for r in got)
        with pytest.raises(duckdb.Error, match="needs the genre_predictions asset"):
            con.sql("SELECT * FROM search.similar_to(3, genre := 'predicted')").fetchall()
        with pytest.raises(duckdb.Error, match="needs the semantic_ids asset"):
            con.sql("SELECT * FROM search.sid_siblings(3, 1)").fetchall()


def test_view_names_are_quoted_and_checked():
    ddl = search_macros_ddl(movies='my"schema.movies', schema="s")
    assert any('"my""schema"."movies"' in s for s in ddl)
    with pytest.raises(ValueError, match="not a view name"):
        search_macros_ddl(movies="a..b")
