"""``SemanticIds``: the one object SIDs travel in between the quantisers, the warehouse and the models.

A movie's SID is L quantiser codes, optionally ended by TIGER's uniqueness digit (which tells apart
movies whose L codes collide). Code that needs "the semantic levels" or "the digit" asks this object
instead of assuming the last column is the digit. In the warehouse a SID is stored as the ``codes``
list (L codes, then the digit) plus ``levels`` = L, so SQL users can slice it too.

Plain code: numpy and pyarrow only.
"""

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from movielens_dag.semantic_ids.uniqueness import append_uniqueness_digit, sid_tokens


@dataclass(frozen=True)
class SemanticIds:
    movie_ids: np.ndarray  # (N,) int64, strictly increasing
    codes: np.ndarray  # (N, L) int64 quantiser codes, level 0 first
    digit: np.ndarray | None  # (N,) int64 uniqueness digit, or None when the SIDs carry none
    method: str = "unknown"

    def __post_init__(self) -> None:
        ids = np.asarray(self.movie_ids, dtype=np.int64)
        codes = np.asarray(self.codes, dtype=np.int64)
        if ids.ndim != 1 or codes.ndim != 2 or codes.shape[0] != ids.size:
            raise ValueError(f"SemanticIds: {ids.shape} movie ids do not match codes of shape {codes.shape}")
        if ids.size > 1 and not np.all(ids[1:] > ids[:-1]):
            raise ValueError("SemanticIds: movie ids must be unique and sorted (build with from_unsorted)")
        if codes.size and codes.min() < 0:
            raise ValueError("SemanticIds: codes must be non-negative")
        object.__setattr__(self, "movie_ids", ids)
        object.__setattr__(self, "codes", codes)
        if self.digit is not None:
            digit = np.asarray(self.digit, dtype=np.int64)
            if digit.shape != ids.shape:
                raise ValueError(f"SemanticIds: digit shape {digit.shape} != {ids.shape}")
            object.__setattr__(self, "digit", digit)

    @classmethod
    def from_unsorted(
        cls, movie_ids: np.ndarray, codes: np.ndarray, digit: np.ndarray | None = None, method: str = "unknown"
    ) -> "SemanticIds":
        ids = np.asarray(movie_ids, dtype=np.int64)
        uniq, counts = np.unique(ids, return_counts=True)
        if np.any(counts > 1):
            raise ValueError(f"duplicate movie ids in semantic IDs, e.g. {uniq[counts > 1][:5].tolist()}")
        order = np.argsort(ids, kind="stable")
        return cls(ids[order], np.asarray(codes)[order], None if digit is None else np.asarray(digit)[order], method)

    @classmethod
    def with_digit(cls, movie_ids: np.ndarray, codes: np.ndarray, method: str = "unknown") -> "SemanticIds":
        """Append the uniqueness digit, numbering colliding movies in movie_id order."""
        order = np.argsort(np.asarray(movie_ids, dtype=np.int64), kind="stable")
        full = append_uniqueness_digit(np.asarray(codes, dtype=np.int64)[order])
        return cls(np.asarray(movie_ids, dtype=np.int64)[order], full[:, :-1], full[:, -1], method)

    @property
    def levels(self) -> int:
        return int(self.codes.shape[1])

    @property
    def has_digit(self) -> bool:
        return self.digit is not None

    def __len__(self) -> int:
        return int(self.movie_ids.size)

    def full_codes(self) -> np.ndarray:
        """(N, L + 1) with the digit, or (N, L) without one: the SID as stored and as tokens."""
        return self.codes if self.digit is None else np.concatenate([self.codes, self.digit[:, None]], axis=1)

    def tokens(self) -> list[str]:
        return sid_tokens(self.full_codes())

    def rows_for(self, movie_ids: np.ndarray) -> np.ndarray:
        """Positions of ``movie_ids`` in this object; KeyError names movies that have no SID."""
        ids = np.asarray(movie_ids, dtype=np.int64)
        pos = np.searchsorted(self.movie_ids, ids)
        pos_c = np.minimum(pos, max(len(self) - 1, 0))
        found = (pos < len(self)) & (self.movie_ids[pos_c] == ids) if len(self) else np.zeros(ids.shape, bool)
        if not np.all(found):
            missing = np.unique(ids[~found])
            raise KeyError(
                f"{missing.size} movie(s) have no semantic ID, e.g. movie_id {missing[:5].tolist()}; "
                "re-materialize semantic_ids for the same MovieLens release as the ratings"
            )
        return pos

    # --- warehouse ---------------------------------------------------------------------------

    def to_table(self, recon_error: np.ndarray | None = None) -> pa.Table:
        """movie_id, codes (L codes, then the digit), levels, sid token string, method[, recon_error]."""
        n = len(self)
        columns = {
            "movie_id": pa.array(self.movie_ids, pa.int32()),
            "codes": pa.array(self.full_codes().astype(np.int32).tolist(), pa.list_(pa.int32())),
            "levels": pa.array(np.full(n, self.levels), pa.int32()),
            "sid": pa.array(self.tokens(), pa.string()),
            "method": pa.array([self.method] * n, pa.string()),
        }
        if recon_error is not None:
            columns["recon_error"] = pa.array(np.asarray(recon_error, dtype=np.float32), pa.float32())
        return pa.table(columns)

    @classmethod
    def from_table(cls, table: pa.Table, method: str | None = None) -> "SemanticIds":
        """Read a ``semantic_ids`` table; ``method`` picks one when the table holds several."""
        missing = {"movie_id", "codes", "levels"} - set(table.column_names)
        if missing:
            raise ValueError(f"semantic_ids lacks column(s) {sorted(missing)}; re-materialize semantic_ids")
        methods = sorted(pc.unique(table["method"]).to_pylist()) if "method" in table.column_names else []
        if method is None and len(methods) > 1:
            raise ValueError(f"semantic_ids holds methods {methods}: choose one (sid_method in the run config)")
        if method is not None:
            if method not in methods:
                raise ValueError(f"sid method {method!r} is not in semantic_ids (it has {methods})")
            table = table.filter(pc.equal(table["method"], method))
        levels = set(table["levels"].to_pylist())
        if len(levels) > 1:
            raise ValueError(f"semantic_ids mixes SIDs of {sorted(levels)} levels; re-materialize semantic_ids")
        lengths = set(pc.list_value_length(table["codes"]).to_pylist())
        if len(lengths) > 1:
            raise ValueError(f"semantic_ids has code lists of lengths {sorted(lengths)}; one fit gives one length")
        n_levels = levels.pop() if levels else 0
        width = lengths.pop() if lengths else n_levels
        if width not in (n_levels, n_levels + 1):
            raise ValueError(f"semantic_ids: {width} codes per movie cannot hold {n_levels} levels")
        flat = table["codes"].combine_chunks().flatten().to_numpy(zero_copy_only=False)
        full = np.asarray(flat, dtype=np.int64).reshape(table.num_rows, width)
        digit = full[:, n_levels] if width == n_levels + 1 else None
        name = method or (methods[0] if methods else "unknown")
        return cls.from_unsorted(table["movie_id"].to_numpy(), full[:, :n_levels], digit, name)
