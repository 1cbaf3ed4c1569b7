import numpy as np
import pytest

from movielens_dag.semantic_ids.uniqueness import append_uniqueness_digit, sid_token, sid_tokens


def test_digit_counts_up_within_each_shared_tuple_in_row_order():
    codes = np.array([[1, 2], [3, 4], [1, 2], [1, 2], [3, 5], [3, 4]])
    out = append_uniqueness_digit(codes)
    assert out.tolist() == [[1, 2, 0], [3, 4, 0], [1, 2, 1], [1, 2, 2], [3, 5, 0], [3, 4, 1]]
    assert len({tuple(r) for r in out}) == len(out)


def test_unique_tuples_get_zero_and_dtype_is_kept():
    codes = np.array([[0, 1, 2], [2, 1, 0]], dtype=np.int32)
    out = append_uniqueness_digit(codes)
    assert out[:, -1].tolist() == [0, 0] and out.dtype == np.int32


def test_empty_and_bad_input():
    assert append_uniqueness_digit(np.zeros((0, 3), dtype=np.int64)).shape == (0, 4)
    with pytest.raises(ValueError, match=r"\(N, L\) integer array"):
        append_uniqueness_digit(np.array([1.0, 2.0]))


def test_token_string():
    assert sid_token([12, 3, 77, 0]) == "<a_12><b_3><c_77><d_0>"
    assert sid_tokens(np.array([[1, 0], [2, 5]])) == ["<a_1><b_0>", "<a_2><b_5>"]
