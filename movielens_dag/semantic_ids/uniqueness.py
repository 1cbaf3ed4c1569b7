"""TIGER's final uniqueness digit, and the readable SID token string.

Items that share an L-tuple get a last digit 0, 1, 2, ... in row order; an item with a unique tuple
gets 0. Sort the rows (e.g. by movie_id) before calling to make the digit independent of load order.
"""

import string

import numpy as np


def append_uniqueness_digit(codes: np.ndarray) -> np.ndarray:
    """(N, L) integer codes -> (N, L+1): the L-tuple plus its rank among rows with the same tuple."""
    codes = np.asarray(codes)
    if codes.ndim != 2 or not np.issubdtype(codes.dtype, np.integer):
        raise ValueError(f"codes must be an (N, L) integer array, got {codes.dtype} {codes.shape}")
    n = codes.shape[0]
    if n == 0:
        return np.zeros((0, codes.shape[1] + 1), dtype=codes.dtype)
    _, group = np.unique(codes, axis=0, return_inverse=True)  # (N,) tuple id
    group = group.reshape(-1)
    order = np.argsort(group, kind="stable")  # rows grouped by tuple, row order kept inside a group
    sorted_group = group[order]
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_group)) + 1]  # first position of each group
    first_pos = np.repeat(starts, np.diff(np.r_[starts, n]))
    digit = np.empty(n, dtype=codes.dtype)
    digit[order] = np.arange(n) - first_pos
    return np.concatenate([codes, digit[:, None]], axis=1)


def sid_token(codes: "np.ndarray | list[int]") -> str:
    """[12, 3, 77, 0] -> '<a_12><b_3><c_77><d_0>' (level letters a, b, c, ...)."""
    if len(codes) > len(string.ascii_lowercase):
        raise ValueError(f"at most {len(string.ascii_lowercase)} levels can be written as tokens")
    return "".join(f"<{string.ascii_lowercase[i]}_{int(c)}>" for i, c in enumerate(codes))


def sid_tokens(codes: np.ndarray) -> list[str]:
    return [sid_token(row) for row in np.asarray(codes)]
