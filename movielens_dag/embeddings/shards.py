"""Static movie-id shards of the documents, so embedding can fan out over GPUs or pods."""

import numpy as np
import pyarrow as pa

from movielens_dag.embeddings.pipeline import check_documents


def shard_keys(num_shards: int) -> list[str]:
    """Partition keys ``shard-00-of-08`` ... (file-name safe, sort in shard order)."""
    if num_shards < 1:
        raise ValueError(f"num_shards must be >= 1, got {num_shards}")
    width = max(2, len(str(num_shards - 1)))
    return [f"shard-{k:0{width}d}-of-{num_shards:0{width}d}" for k in range(num_shards)]


def parse_shard_key(key: str) -> tuple[int, int]:
    try:
        _, index, _, total = key.split("-")
        k, n = int(index), int(total)
    except ValueError as exc:
        raise ValueError(f"{key!r} is not a shard key like 'shard-03-of-08'") from exc
    if not 0 <= k < n:
        raise ValueError(f"{key!r}: shard index out of range")
    return k, n


def select_shard(documents: pa.Table, key: str) -> pa.Table:
    """Rows with ``movie_id % n == k``: ids are dense-ish, so shards come out nearly equal in size."""
    k, n = parse_shard_key(key)
    checked = check_documents(documents)  # clear errors on null / duplicate ids before splitting
    ids = checked["movie_id"].to_numpy().astype(np.int64)
    return documents.filter(pa.array(ids % n == k))
