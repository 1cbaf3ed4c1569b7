"""The leaderboard of stored runs: each protocol's runs beside the baselines that need no training.

Popularity under both protocols; under the temporal one also content-only (cosine to the recent-history
profile, from the documents as of the training cut). The baselines are scored on the same split the runs
were trained on, so the per-event ranks line up for the paired bootstrap.
"""

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from .config import RunSettings
from .data import Split


def split_for(protocol: str, user_sequences: pa.Table, run: RunSettings) -> Split:
    """The split the runs of ``protocol`` were trained on (the same settings spine as the training assets)."""
    from .data import leave_one_out, sequences_from_table
    from .temporal import temporal_split

    seqs = sequences_from_table(user_sequences)
    if protocol == "leave_one_out":
        return leave_one_out(seqs)
    if protocol == "temporal":
        return temporal_split(seqs, run.temporal, max_valid_events=run.max_valid_events)
    raise ValueError(f"unknown protocol {protocol!r}: expected leave_one_out or temporal")


def protocol_board(
    protocol: str,
    dataset: str,
    split: Split,
    runs: pd.DataFrame,
    content_vectors: tuple[np.ndarray, np.ndarray] | None = None,
) -> pd.DataFrame:
    """``runs`` (one row per variant and seed) ranked beside popularity and, given (movie_ids, vectors),
    content-only. Raises ValueError when a run was scored on other test events than ``split`` has."""
    import time

    from .baselines import content_run, item_matrix
    from .results import leaderboard, run_rows
    from .train import popularity_run

    events = len(split.test_events)
    for variant, ranks in zip(runs.get("variant", []), runs.get("test_ranks", [])):
        if len(ranks) and len(ranks) != events:
            raise ValueError(
                f"{protocol} run {variant!r} was scored on {len(ranks)} test events, this split has "
                f"{events}: it was trained with other split settings or ratings; re-materialize it"
            )
    started = time.process_time()
    base = [run_rows("popularity", dataset, None, [popularity_run(split)], protocol)]
    if content_vectors is not None:
        vecs = item_matrix(split.seqs.item_index, *content_vectors)
        base.append(run_rows("content", dataset, None, [content_run(split, vecs)], protocol, "content"))
    for b in base:
        b["cpu_seconds"] = time.process_time() - started
    new = np.zeros(split.num_items + 1, dtype=bool)
    new[1:] = split.train_counts()[1:] == 0  # no interaction before the training cut
    return leaderboard(pd.concat(base + [runs], ignore_index=True), {protocol: new})


def standings(
    dataset: str,
    user_sequences: pa.Table,
    runs: dict[str, pd.DataFrame],
    temporal_embeddings: Path | None,
    run: RunSettings,
) -> tuple[dict[str, pd.DataFrame], dict]:
    """One board per protocol that has runs -> (boards, the temporal split's info or {}).
    ``temporal_embeddings``: the temporal_movie_embeddings Parquet (content-only row) when it exists."""
    from movielens_dag.semantic_ids import tables
    from movielens_dag.warehouse import parquet_files, read_parquet

    boards, info = {}, {}
    for protocol, frame in runs.items():
        if frame is None or frame.empty:
            continue
        split = split_for(protocol, user_sequences, run)
        vectors = None
        if protocol == "temporal":
            info = dict(split.info or {})
            if temporal_embeddings is not None and parquet_files(Path(temporal_embeddings)):
                ids, x, _ = tables.embedding_matrix(read_parquet(Path(temporal_embeddings)))
                vectors = (ids, x)
        boards[protocol] = protocol_board(protocol, dataset, split, frame, vectors)
    if not boards:
        raise ValueError(
            "no recommender runs to rank: materialize some recommender_runs or "
            "temporal_recommender_runs partitions first"
        )
    return boards, info
