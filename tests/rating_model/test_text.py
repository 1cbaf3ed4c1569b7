"""Text features for the temporal split: documents keep only the tags applied before the cut."""

import pandas as pd

from movielens_dag.rating_model.text import changed_documents, documents_as_of, tags_before


def frames():
    movies = pd.DataFrame({"movie_id": [1, 2], "title": ["Heat", "Alien"], "year": [1995, 1979],
                           "genres": [["Action"], ["Horror"]], "alt_titles": [[], []]})
    ts = pd.to_datetime([100, 200, 300], unit="s", utc=True)
    tags = pd.DataFrame({"user_id": [1, 2, 3], "movie_id": [1, 1, 2], "tag": ["heist", "future-tag", "space"],
                         "timestamp": ts})
    return movies, tags


def test_documents_as_of_drop_later_tags_and_only_change_those_movies():
    movies, tags = frames()
    assert tags_before(tags, 250)["tag"].tolist() == ["heist", "future-tag"]
    assert tags_before(tags, None) is tags
    now = documents_as_of(None, movies, tags)
    then = documents_as_of(250, movies, tags)
    by_id = dict(zip(then["movie_id"].to_pylist(), then["document"].to_pylist(), strict=True))
    assert "future-tag" in by_id[1] and "space" not in by_id[2]
    early = dict(zip(documents_as_of(150, movies, tags)["movie_id"].to_pylist(),
                     documents_as_of(150, movies, tags)["document"].to_pylist(), strict=True))
    assert "heist" in early[1] and "future-tag" not in early[1]
    assert changed_documents(now, then).tolist() == [2]


def test_split_inputs_fit_sids_on_each_splits_vectors():
    import numpy as np
    import pyarrow as pa

    from movielens_dag.rating_model.features import MovieVectors
    from movielens_dag.rating_model.inputs import split_inputs
    from movielens_dag.semantic_ids.settings import SidSettings

    rng = np.random.default_rng(0)
    ids = np.arange(1, 41)
    movies = pa.table({"movie_id": pa.array(ids, pa.int32()), "year": [2000.0] * 40, "genres": [["A"]] * 40})
    text = {s: MovieVectors(ids, rng.normal(size=(40, 8)).astype(np.float32), "toy") for s in ("temporal", "random")}
    out = split_inputs(movies, text, SidSettings(levels=2, codes=8, threads=1))
    assert set(out) == {"temporal", "random"}
    for split, inputs in out.items():
        assert inputs.text is text[split] and inputs.sids.levels == 2
        assert inputs.sids.movie_ids.tolist() == ids.tolist() and inputs.sids.codes.max() < 8
    assert not np.array_equal(out["temporal"].sids.codes, out["random"].sids.codes)  # fitted per split
