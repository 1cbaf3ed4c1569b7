"""The SID lookup must give each movie its OWN semantic ID (the prior art read lookup[item_id - 1])."""

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import torch

from movielens_dag.recommender.config import ItemEmbeddingConfig
from movielens_dag.recommender.data import ItemSids, build_sequences, item_sids
from movielens_dag.recommender.item_embeddings import ItemEmbedding
from movielens_dag.semantic_ids.ids import SemanticIds


def test_each_movie_gets_its_own_codes_with_sparse_ids_and_shuffled_rows():
    movie_ids = [1, 2, 5, 50, 1000]  # sparse ids: row arithmetic (id - 1, or position) goes wrong
    r = pd.DataFrame({"user_id": [1] * 5, "movie_id": movie_ids[::-1], "timestamp": range(5)})
    index = build_sequences(r).item_index
    sid_of = {m: [m % 7, m % 5, m % 3, 0] for m in movie_ids}
    sid_of[999] = [6, 6, 6, 0]  # a movie with a SID but no ratings
    order = [1000, 999, 5, 1, 50, 2]  # SID rows in an unrelated order

    def lookup():
        codes = np.array([sid_of[m] for m in order])
        return item_sids(index, SemanticIds.from_unsorted(np.array(order), codes[:, :3], codes[:, 3])).codes

    table = lookup()
    for m in movie_ids:
        row = int(index.rows(np.array([m]))[0])
        assert table[row].tolist() == sid_of[m], m
    assert table[0].tolist() == [0, 0, 0, 0]
    # End to end, movie id -> item row -> embedding: 5 and 1000 share a SID (prefix), their id
    # neighbours do not; a positional or off-by-one lookup would break at least one of these.
    sid_of[5] = sid_of[1000] = [4, 4, 4, 0]
    emb = ItemEmbedding(index.num_items, 4, ItemEmbeddingConfig("prefixn"), ItemSids(lookup(), levels=3))
    vec = {m: emb(torch.from_numpy(index.rows(np.array([m])))) for m in movie_ids}
    assert torch.equal(vec[5], vec[1000])
    assert not torch.equal(vec[5], vec[2]) and not torch.equal(vec[1000], vec[50])


def test_missing_duplicate_or_ragged_sids_are_errors():
    index = build_sequences(pd.DataFrame({"user_id": [1, 1], "movie_id": [3, 4], "timestamp": [0, 1]})).item_index
    with pytest.raises(KeyError, match="no semantic ID.*movie_id \\[4\\]"):
        item_sids(index, SemanticIds.from_unsorted(np.array([3]), np.array([[1]]), np.array([0])))
    with pytest.raises(ValueError, match="duplicate"):
        SemanticIds.from_unsorted(np.array([3, 3, 4]), np.array([[1], [1], [2]]))
    ragged = pa.table(
        {
            "movie_id": pa.array([3, 4], pa.int32()),
            "levels": pa.array([1, 1], pa.int32()),
            "codes": pa.array([[1, 0], [2, 0, 0]], pa.list_(pa.int32())),
        }
    )
    with pytest.raises(ValueError, match="code lists of lengths"):
        SemanticIds.from_table(ragged)


def test_embedding_tables_follow_each_items_codes():
    # rows 1..4; items 1, 2 share (c1, c2); item 3 shares only c1 with them; item 4 differs from level 1.
    codes = torch.tensor([[0, 0, 0, 0], [5, 1, 7, 0], [5, 1, 7, 1], [5, 2, 7, 0], [9, 1, 7, 0]])
    emb = ItemEmbedding(4, 8, ItemEmbeddingConfig("prefixn"), ItemSids(codes, levels=3))
    assert emb.table_keys == [(0,), (0, 1), (0, 1, 2)]
    idx = emb.sid_index  # [5, 3] row of each item in each prefix table
    assert idx[1].tolist() == idx[2].tolist()  # full 3-level prefix collides (digit not used)
    assert idx[1, 0] == idx[3, 0] and idx[1, 1] != idx[3, 1]
    assert idx[4, 0] != idx[1, 0]
    assert (idx[1:] > 0).all() and idx[0].tolist() == [0, 0, 0]
    out = emb(torch.tensor([1, 2, 3, 0]))
    assert torch.equal(out[0], out[1]) and not torch.equal(out[0], out[2]) and out[3].abs().sum() == 0
    # per-level tables (rqsum): level-2 code 1 of items 1 and 4 shares a row, although level 1 differs
    rq = ItemEmbedding(4, 8, ItemEmbeddingConfig("rqsum_id"), ItemSids(codes, levels=3))
    assert rq.table_keys == [(0,), (1,), (2,)] and rq.sid_index[1, 1] == rq.sid_index[4, 1]
    # with the uniqueness digit included the longest prefix is unique per item
    full = ItemEmbedding(4, 8, ItemEmbeddingConfig("prefixn", sid_levels=4), ItemSids(codes, levels=3))
    assert len(set(full.sid_index[1:, 3].tolist())) == 4
