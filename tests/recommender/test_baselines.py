"""The content-only baseline: cosine of each movie's text vector to the user's recent movies."""

import numpy as np
import pytest

from movielens_dag.recommender.baselines import content_run, item_matrix
from movielens_dag.recommender.data import ItemIndex

from .test_temporal import movies, split_of


def test_item_matrix_joins_on_movie_id_and_names_the_missing():
    index = ItemIndex(np.array([10, 20, 30]))
    vecs = item_matrix(index, np.array([30, 10, 20, 99]), np.array([[0, 3.0], [1.0, 0], [0, 2.0], [5, 5]]))
    assert vecs.tolist() == [[0, 0], [1, 0], [0, 1], [0, 1]]  # row 0 padding; rows normalised
    with pytest.raises(KeyError, match=r"no embedding, e.g. movie_id \[20\]"):
        item_matrix(index, np.array([10, 30]), np.ones((2, 2)))


def test_content_ranks_by_similarity_to_the_recent_history():
    split = split_of()
    ids = split.seqs.item_index.movie_ids  # 10, 11, 12, 13, 50, 60, 70
    # 2-d "text" vectors: 10, 11, 12 and the new movie 50 point one way, 13, 60, 70 the other
    x = np.array([[1, 0.1], [1, 0.2], [1, 0.3], [0.1, 1], [1, 0], [0.2, 1], [0.3, 1]])
    res = content_run(split, item_matrix(split.seqs.item_index, ids, x), recent=2)
    targets = movies(split, res.test_targets)
    assert targets == [13, 50, 13, 10, 60, 50]
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    row = {m: i for i, m in enumerate(ids)}

    def by_hand(recent_movies, seen, target):
        prof = unit[[row[m] for m in recent_movies]].mean(0)
        score = {m: unit[row[m]] @ prof for m in ids if m not in seen or m == target}
        return sum(v >= score[target] for m, v in score.items() if m != target)

    ranks = res.test_ranks.tolist()
    assert ranks[1] == by_hand([12, 13], {10, 11, 12, 13}, 50) == 2  # profile leans to 13: 60, 70 come first
    assert ranks[4] == by_hand([70, 10], {70, 10}, 60)
    assert ranks[5] == by_hand([10, 60], {70, 10, 60}, 50)  # a new movie is scored like any other
