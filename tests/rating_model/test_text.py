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
