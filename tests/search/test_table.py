"""The similar_movies table: annotations (SID prefix, genres) and the round trip the incremental build uses."""

import numpy as np
import pyarrow as pa
import pytest

from movielens_dag.search import table as st
from movielens_dag.search.neighbours import Neighbours
from movielens_dag.semantic_ids.ids import SemanticIds


def test_shared_prefix_counts_leading_equal_codes():
    a = np.array([[1, 2, 3], [1, 2, 3], [1, 2, 3], [9, 2, 3]])
    b = np.array([[1, 2, 3], [1, 2, 4], [1, 5, 3], [1, 2, 3]])
    assert st.shared_prefix(a, b).tolist() == [3, 2, 1, 0]


def test_table_annotates_each_pair():
    nb = Neighbours(
        np.array([1, 2, 3]),
        np.array([[2, 3], [1, 3], [2, 1]]),
        np.array([[0.9, 0.5], [0.9, 0.4], [0.4, 0.5]], np.float32),
        np.array(["a", "b", "c"], object),
    )
    movies = pa.table(
        {
            "movie_id": pa.array([1, 2, 3], pa.int32()),
            "genres": [["Comedy", "Drama"], ["Drama"], ["(no genres listed)"]],
        }
    )
    sids = SemanticIds.with_digit(np.array([1, 2, 3]), np.array([[0, 1, 2], [0, 1, 5], [4, 1, 2]]))
    t = st.to_table(nb, movies, sids).to_pylist()
    first = t[0]
    assert (first["movie_id"], first["rank"], first["neighbour_id"], first["sid_shared_levels"]) == (1, 1, 2, 2)
    assert first["shared_genres"] == 1 and first["genre_jaccard"] == pytest.approx(0.5)
    to_3 = t[1]  # 3 has no genres: nothing shared, Jaccard 0 (Comedy, Drama vs nothing)
    assert to_3["shared_genres"] == 0 and to_3["genre_jaccard"] == 0.0 and to_3["sid_shared_levels"] == 0
    assert st.to_table(nb, movies).column("sid_shared_levels").null_count == 6  # no SIDs: nulls
    partial = SemanticIds.with_digit(np.array([1, 2]), np.array([[0, 1, 2], [0, 1, 5]]))  # 3 not fitted yet
    levels = st.to_table(nb, movies, partial).column("sid_shared_levels").to_pylist()
    assert levels == [2, None, 2, None, None, None]


def test_round_trip_and_bad_tables():
    nb = Neighbours(
        np.array([4, 7]), np.array([[7], [4]]), np.array([[0.3], [0.3]], np.float32), np.array(["h4", "h7"], object)
    )
    movies = pa.table({"movie_id": pa.array([4, 7], pa.int32()), "genres": [["Drama"], ["Drama"]]})
    table = st.to_table(nb, movies)
    back = st.from_table(table.take([1, 0]))  # row order does not matter
    np.testing.assert_array_equal(back.movie_ids, nb.movie_ids)
    np.testing.assert_array_equal(back.neighbour_ids, nb.neighbour_ids)
    assert back.vector_hashes.tolist() == ["h4", "h7"]
    with pytest.raises(ValueError, match="vector_hash"):
        st.from_table(table.drop_columns(["vector_hash"]))
    extra = table.slice(0, 1).set_column(1, "rank", pa.array([2], pa.int32()))  # movie 4 gets a 2nd row
    with pytest.raises(ValueError, match="different neighbour counts"):
        st.from_table(pa.concat_tables([table, extra]))
