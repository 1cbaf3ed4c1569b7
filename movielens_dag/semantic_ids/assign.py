"""Semantic IDs for movies that arrive after the fit: encode with the existing codebooks, never refit.

A trained recommender keeps working when a refresh adds movies: old movies keep their SIDs (codes and
uniqueness digit) exactly, and each new movie gets the codes of its nearest centroids at every level
(RQ-KMeans: the saved codebooks; RQ-VAE: the saved checkpoint's encoder and codebooks), so it shares
prefixes with the old movies it resembles. A new movie whose L codes collide with existing SIDs takes the
next free uniqueness digit of that tuple (new movies in movie_id order). Refitting the codebooks is a
separate, explicit choice: it changes old SIDs and so invalidates every checkpoint trained on them.
"""

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from movielens_dag.semantic_ids.ids import SemanticIds


def extend(existing: SemanticIds, movie_ids: np.ndarray, codes: np.ndarray) -> SemanticIds:
    """``existing`` plus new movies (movie_ids [M], quantiser codes [M, L]); old rows unchanged."""
    ids = np.asarray(movie_ids, dtype=np.int64)
    codes = np.asarray(codes, dtype=np.int64)
    if codes.ndim != 2 or codes.shape != (len(ids), existing.levels):
        raise ValueError(f"new codes must be ({len(ids)}, {existing.levels}), got {codes.shape}")
    clash = np.intersect1d(ids, existing.movie_ids)
    if clash.size:
        raise ValueError(
            f"{clash.size} movie(s) already have a semantic ID, e.g. movie_id {clash[:5].tolist()}; "
            "assign only new movies (changing an old SID is a refit)"
        )
    if len(np.unique(ids)) != len(ids):
        raise ValueError("duplicate movie ids among the new movies")
    order = np.argsort(ids, kind="stable")
    ids, codes = ids[order], codes[order]
    digit = None
    if existing.has_digit:
        next_free: dict[tuple[int, ...], int] = {}
        for row, d in zip(map(tuple, existing.codes.tolist()), existing.digit.tolist()):
            next_free[row] = max(next_free.get(row, 0), d + 1)
        digit = np.zeros(len(ids), dtype=np.int64)
        for i, row in enumerate(map(tuple, codes.tolist())):
            digit[i] = next_free.get(row, 0)
            next_free[row] = digit[i] + 1
        digit = np.concatenate([existing.digit, digit])
    return SemanticIds.from_unsorted(
        np.concatenate([existing.movie_ids, ids]), np.concatenate([existing.codes, codes]), digit, existing.method
    )


def rqkmeans_from_codebooks(codebooks: pa.Table, method: str = "rqkmeans", normalize: bool = True):
    """An RQKMeans that encodes with the centroids of a ``sid_codebooks`` table (no fitting)."""
    import torch

    from movielens_dag.semantic_ids.rqkmeans import RQKMeans

    rows = codebooks.filter(pc.equal(codebooks["method"], method))
    if rows.num_rows == 0:
        raise ValueError(f"sid_codebooks has no rows for method {method!r}")
    if set(rows["space"].to_pylist()) != {"input"}:
        raise ValueError(f"{method!r} codebooks live in a latent space: encode with the RQ-VAE checkpoint instead")
    level, code = rows["level"].to_numpy(), rows["code"].to_numpy()
    levels, k = int(level.max()) + 1, int(code.max()) + 1
    if rows.num_rows != levels * k:
        raise ValueError(f"sid_codebooks for {method!r} has {rows.num_rows} rows, expected {levels} x {k}")
    cent = np.stack(rows["centroid"].to_numpy(zero_copy_only=False))  # [L*K, d]
    books = np.zeros((levels, k, cent.shape[1]), dtype=np.float32)
    books[level, code] = cent
    model = RQKMeans(levels, k, normalize=normalize)
    model.codebooks = torch.from_numpy(books)
    return model


def load_rqvae(checkpoint: Path):
    """The RQ-VAE saved by ``semantic_ids.pipeline.build_semantic_ids`` (config + state_dict)."""
    import torch

    from movielens_dag.semantic_ids.rqvae import RQVAE, RQVAEConfig

    ck = torch.load(checkpoint, map_location="cpu", weights_only=False)
    config = dict(ck["config"])
    config["hidden_dims"] = tuple(config["hidden_dims"])
    model = RQVAE(RQVAEConfig(**config))
    model.load_state_dict(ck["state_dict"])
    return model.eval()


def encode_new(model, vectors: np.ndarray, normalize: bool = True) -> np.ndarray:
    """[M, d] embeddings -> [M, L] codes with a fitted RQKMeans or RQVAE (no training, no EMA update)."""
    import torch

    from movielens_dag.semantic_ids.rqkmeans import RQKMeans, l2_normalize

    x = torch.from_numpy(np.array(vectors, dtype=np.float32))
    if isinstance(model, RQKMeans):
        return model.encode(x).cpu().numpy().astype(np.int64)
    x = l2_normalize(x) if normalize else x
    return model.encode(x).cpu().numpy().astype(np.int64)
