"""Text features for the temporal split: documents keep only the tags applied before the cut."""

import pandas as pd

from movielens_dag.rating_model.text import changed_documents, documents_as_of, tags_before


def frames():
    movies = pd.DataFrame(
        {
            "movie_id": [1, 2],
            "title": ["Heat", "Alien"],
            "year": [1995, 1979],
            "genres": [["Action"], ["Horror"]],
            "alt_titles": [[], []],
        }
    )
    ts = pd.to_datetime([100, 200, 300], unit="s", utc=True)
    tags = pd.DataFrame(
        {"user_id": [1, 2, 3], "movie_id": [1, 1, 2], "tag": ["heist", "future-tag", "space"], "timestamp": ts}
    )
    return movies, tags


def test_documents_as_of_drop_later_tags_and_only_change_those_movies():
    movies, tags = frames()
    assert tags_before(tags, 250)["tag"].tolist() == ["heist", "future-tag"]
    assert tags_before(tags, None) is tags
    now = documents_as_of(None, movies, tags)
    then = documents_as_of(250, movies, tags)
    by_id = dict(zip(then["movie_id"].to_pylist(), then["document"].to_pylist(), strict=True))
    assert "future-tag" in by_id[1] and "space" not in by_id[2]
    early = dict(
        zip(
            documents_as_of(150, movies, tags)["movie_id"].to_pylist(),
            documents_as_of(150, movies, tags)["document"].to_pylist(),
            strict=True,
        )
    )
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


def test_variant_inputs_read_only_what_the_features_use_and_check_the_cut():
    import numpy as np
    import pyarrow as pa
    import pytest

    from movielens_dag.rating_model.inputs import variant_inputs
    from movielens_dag.rating_model.settings import RatingRunSettings, variant_settings

    ids = np.arange(1, 6)
    movies = pa.table({"movie_id": pa.array(ids, pa.int32()), "year": [2000.0] * 5, "genres": [["A"]] * 5})
    vectors = pa.FixedSizeListArray.from_arrays(pa.array(np.ones(15, np.float32)), 3)
    cut = pa.array([pd.Timestamp(1000, unit="s", tz="UTC")] * 5, pa.timestamp("us", tz="UTC"))
    tables = {
        "movie_embeddings": pa.table(
            {"movie_id": pa.array(ids, pa.int32()), "model_id": ["m"] * 5, "embedding": vectors}
        ),
        "rating_text_embeddings": pa.table(
            {"movie_id": pa.array(ids, pa.int32()), "model_id": ["m"] * 5, "embedding": vectors, "cut": cut}
        ),
        "poster_embeddings": pa.table(
            {
                "movie_id": pa.array([], pa.int32()),
                "model_id": pa.array([], pa.string()),
                "embedding": pa.array([], pa.list_(pa.float32())),
            }
        ),
    }
    read = []

    def reader(name):
        read.append(name)
        return tables[name]

    run = RatingRunSettings()
    bias = variant_inputs(variant_settings("bias").features, run, movies, reader, 1000)
    assert set(bias) == {"temporal", "random"} and read == [] and bias["temporal"].text is None
    text = variant_inputs(variant_settings("dlrm-id-text").features, run, movies, reader, 1000)
    assert sorted(read) == ["movie_embeddings", "rating_text_embeddings"]
    assert text["temporal"].text.vectors.shape == (5, 3) and text["random"].text.name == "m"
    with pytest.raises(ValueError, match="same temporal settings"):
        variant_inputs(variant_settings("dlrm-id-text").features, run, movies, reader, 2000)
    with pytest.raises(ValueError, match="poster_embeddings is empty"):
        variant_inputs(variant_settings("dlrm-id-text-sid-poster").features, run, movies, reader, 1000)
