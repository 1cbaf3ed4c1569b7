"""Free-text search with the bundled MiniLM on the real documents, and the query-prompt convention."""

import numpy as np
import pyarrow as pa
import pytest

from movielens_dag import cli
from movielens_dag.search.settings import TextSearchSettings
from movielens_dag.search.text import Catalogue, TextSearcher, candidate_mask, rank_movies, saved_prompts
from tests.search.conftest import read, unit_rows

# (query, genres that count as a match): the top 10 must be mostly (>= 6) of them.
QUERIES = [
    ("animated toys come to life", {"Animation", "Children"}),
    ("a terrifying horror film about a haunted house", {"Horror"}),
    ("space battles with aliens", {"Sci-Fi"}),
    ("a heist that goes wrong", {"Crime", "Thriller"}),
    ("cowboys and outlaws in the wild west", {"Western"}),
]


@pytest.fixture(scope="module")
def searcher(foundation_warehouse, minilm_embeddings) -> TextSearcher:
    return TextSearcher(Catalogue.from_tables(minilm_embeddings, read(foundation_warehouse, "movielens", "movies")))


@pytest.mark.parametrize("query,genres", QUERIES)
def test_top_10_is_mostly_of_the_matching_genre(searcher, query, genres):
    found = searcher.search(query, k=10)
    assert len(found) == 10
    matching = sum(bool(genres & set(g)) for g in found["genres"])
    assert matching >= 6, f"{query!r}: only {matching}/10 of {sorted(genres)}:\n{found[['title', 'genres']]}"


def test_filters_apply_and_results_are_ranked(searcher):
    found = searcher.search("a heist that goes wrong", k=10, genre="crime", min_year=1990, max_year=2010)
    assert len(found) == 10
    assert all("Crime" in g for g in found["genres"])
    assert found["year"].between(1990, 2010).all()
    assert list(found["rank"]) == list(range(1, 11))
    assert np.all(np.diff(found["score"].to_numpy()) <= 0)
    with pytest.raises(ValueError, match="unknown genre"):
        searcher.search("heist", genre="Heist")
    with pytest.raises(ValueError, match="empty"):
        searcher.search("   ")


def test_minilm_queries_get_no_prompt(searcher):
    assert searcher.prompt == ""  # MiniLM documents were embedded without an instruction: so are queries


def test_the_cli_prints_the_same_ranking(search_warehouse_dir, searcher, capsys):
    rc = cli.main(
        [
            "--data-dir",
            str(search_warehouse_dir.root),
            "search",
            "a heist that goes wrong",
            "--genre",
            "Crime",
            "--k",
            "5",
            "--format",
            "csv",
        ]
    )
    out = capsys.readouterr().out.splitlines()
    assert rc == 0, out
    want = searcher.search("a heist that goes wrong", k=5, genre="Crime")
    assert [int(line.split(",")[1]) for line in out[1:]] == want["movie_id"].tolist()


def test_the_cli_explains_a_missing_warehouse(tmp_path, capsys):
    assert cli.main(["--data-dir", str(tmp_path), "search", "toys"]) == 1
    assert "materialize movie_embeddings first" in capsys.readouterr().err


def test_a_query_model_other_than_the_documents_model_is_refused(foundation_warehouse, minilm_embeddings):
    relabelled = minilm_embeddings.set_column(
        1, "model_id", pa.array(["Qwen/Qwen3-Embedding-0.6B"] * minilm_embeddings.num_rows)
    )
    catalogue = Catalogue.from_tables(relabelled, read(foundation_warehouse, "movielens", "movies"))
    with pytest.raises(ValueError, match="cannot be compared"):
        TextSearcher(catalogue, TextSearchSettings(model="bundled"))


def test_qwen3_style_models_embed_queries_with_their_saved_query_prompt(tmp_path):
    """A tiny random Qwen3 saved with a 'query' prompt: the searcher uses it, and its vector is the
    encoder's vector of prompt + query (documents, embedded without a prompt, are not)."""
    from movielens_dag.embeddings.encode import load_encoder
    from movielens_dag.embeddings.models import resolve_model
    from movielens_dag.embeddings.settings import EmbeddingSettings
    from tests.embeddings.tiny_qwen3 import QUERY_PROMPT, build

    tiny = build(tmp_path / "qwen3")
    source = resolve_model(str(tiny.st_dir))
    assert saved_prompts(tiny.st_dir)["query"] == QUERY_PROMPT
    rng = np.random.default_rng(0)
    ids = np.arange(1, 21)
    vectors = unit_rows(rng, 20, tiny.hidden)
    embeddings = pa.table(
        {
            "movie_id": pa.array(ids, pa.int32()),
            "model_id": [source.model_id] * 20,
            "embedding": pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel()), tiny.hidden),
        }
    )
    movies = pa.table(
        {
            "movie_id": pa.array(ids, pa.int32()),
            "title": [f"m{i}" for i in ids],
            "year": pa.array([2000 + i for i in ids], pa.int32()),
            "genres": [["Drama"] if i % 2 else ["Comedy"] for i in ids],
        }
    )
    searcher = TextSearcher(Catalogue.from_tables(embeddings, movies), TextSearchSettings(model=str(tiny.st_dir)))
    assert searcher.prompt == QUERY_PROMPT
    plain = load_encoder(source, EmbeddingSettings(device="cpu")).encode(["space war movie"]).vectors[0]
    prompted = (
        load_encoder(source, EmbeddingSettings(device="cpu", prompt=QUERY_PROMPT))
        .encode(["space war movie"])
        .vectors[0]
    )
    np.testing.assert_allclose(searcher.embed("space war movie"), prompted, atol=1e-5)
    assert not np.allclose(plain, prompted, atol=1e-3)
    found = searcher.search("space war movie", k=3, genre="Comedy")
    assert set(found["movie_id"]) <= set(ids[ids % 2 == 0])


def test_rank_movies_breaks_ties_by_movie_id_and_honours_the_mask():
    x = np.array([[1, 0], [1, 0], [0, 1], [1, 0]], np.float32)
    catalogue = Catalogue(
        np.array([3, 5, 7, 9]),
        x,
        "m",
        np.array(["a", "b", "c", "d"], object),
        np.array([1990, np.nan, 2000, 2010]),
        [["Drama"], [], ["Comedy"], ["Drama"]],
    )
    found = rank_movies(catalogue, np.array([1, 0], np.float32), k=2)
    assert found["movie_id"].tolist() == [3, 5]
    mask = candidate_mask(catalogue, genre="drama", min_year=1995)
    assert rank_movies(catalogue, np.array([1, 0], np.float32), k=5, mask=mask)["movie_id"].tolist() == [9]
