"""The result tables of both protocols, one command each (plain code; Dagster can route the same calls).

    python -m movielens_dag.recommender.experiments prepare                    # temporal SIDs + vectors
    python -m movielens_dag.recommender.experiments run --protocol leave_one_out --variants hstu-id,sasrec-id
    python -m movielens_dag.recommender.experiments run --protocol temporal --variants hstu-id,hstu-prefixn_id-sum
    python -m movielens_dag.recommender.experiments table --protocol temporal

``run`` trains each variant with ``--seeds`` seeds (early stopping on validation NDCG@10, one test pass)
and writes ``<out>/<protocol>/runs/<name>.parquet`` (one row per seed, per-event test ranks included);
``--set train.loss=mixed`` style overrides tune on validation, ``--name`` keeps such runs apart.
``table`` adds the popularity (and, temporal, content-only) rows, computes the leaderboard with bootstrap
CIs and paired CIs against hstu-id, and writes ``<out>/<protocol>/leaderboard.{parquet,md}``.

``prepare`` (temporal only) builds what the content-based models may know at the training cut: the
movie documents with only the tags applied before it, their MiniLM vectors, and semantic IDs whose
codebooks are fitted on the movies rated before the cut; movies first rated later get codes from those
codebooks (``semantic_ids.assign``), exactly as a refresh would give them.
"""

import argparse
import json
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from movielens_dag.paths import BUNDLED_MOVIELENS_DIR, DataPaths, resolve_data_dir

from .config import variant_config

PROTOCOLS = ("leave_one_out", "temporal")


def load_ratings(paths: DataPaths) -> pd.DataFrame:
    """The warehouse's ratings when materialized, else the bundled ml-latest-small CSV."""
    file = paths.asset_file("movielens", "ratings")
    if file.exists():
        return pd.read_parquet(file, columns=["user_id", "movie_id", "timestamp"])
    r = pd.read_csv(BUNDLED_MOVIELENS_DIR / "ml-latest-small" / "ratings.csv")
    return r.rename(columns={"userId": "user_id", "movieId": "movie_id"})[["user_id", "movie_id", "timestamp"]]


MAX_VALID_EVENTS = 2000  # temporal: validate on a fixed random 2,000 of the ~10k validation events (cost)


def make_split(protocol: str, ratings: pd.DataFrame):
    from .data import build_sequences, leave_one_out
    from .temporal import temporal_split

    seqs = build_sequences(ratings)
    if protocol == "leave_one_out":
        return leave_one_out(seqs)
    if protocol == "temporal":
        return temporal_split(seqs, max_valid_events=MAX_VALID_EVENTS)
    raise ValueError(f"protocol must be one of {PROTOCOLS}, got {protocol!r}")


def parse_sets(items: list[str]) -> dict:
    """['train.loss=mixed', 'encoder.dropout=0.3'] -> nested changes (values parsed as JSON when they can be)."""
    out: dict = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep:
            raise ValueError(f"--set {item!r}: expected section.field=value")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        node = out
        *parents, leaf = key.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    return out


def content_dir(out: Path) -> Path:
    return out / "temporal" / "content"


def prepare(paths: DataPaths, out: Path, log=print) -> None:
    """Temporal-protocol inputs known at the training cut (``content.temporal_content``), as files."""
    import pyarrow.parquet as pq

    from movielens_dag.embeddings.settings import EmbeddingSettings
    from movielens_dag.semantic_ids.settings import SidSettings

    from .content import temporal_content

    split = make_split("temporal", load_ratings(paths))
    read = lambda group, name: pd.read_parquet(paths.asset_file(group, name))
    wiki = paths.asset_file("enrichment", "wikipedia_plots")
    content = temporal_content(
        split.info["valid_start"],
        split.seqs.item_index.movie_id(split.candidates),
        read("movielens", "movies"),
        read("movielens", "tags"),
        pq.read_table(wiki) if wiki.exists() else None,
        EmbeddingSettings(device="cpu", threads=1),
        SidSettings(threads=1),
        paths.cache / "embeddings",
        paths.models,
        log,
    )
    folder = content_dir(out)
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(content.embeddings, folder / "movie_embeddings.parquet")
    pq.write_table(content.sids.to_table(), folder / "semantic_ids.parquet")
    pq.write_table(content.codebooks, folder / "sid_codebooks.parquet")
    (folder / "prepare.json").write_text(
        json.dumps({**content.info, "date": f"{datetime.now(UTC):%Y-%m-%d}"}, indent=1)
    )
    log(f"wrote {folder}")


def load_sids(out: Path, protocol: str, paths: DataPaths, method: str | None = None):
    """Temporal: the SIDs ``prepare`` made; leave-one-out: the warehouse's semantic_ids."""
    import pyarrow.parquet as pq

    from movielens_dag.semantic_ids.ids import SemanticIds

    file = (
        content_dir(out) / "semantic_ids.parquet"
        if protocol == "temporal"
        else paths.asset_file("semantic_ids", "semantic_ids")
    )
    if not file.exists():
        raise FileNotFoundError(f"{file} is missing: run `experiments prepare` (temporal) or materialize semantic_ids")
    return SemanticIds.from_table(pq.read_table(file), method)


def run(
    protocol: str,
    variants: list[str],
    seeds: int,
    preset: str,
    changes: dict,
    out: Path,
    name: str | None,
    paths: DataPaths,
    threads: int = 1,
    first_seed: int = 0,
    log=print,
) -> pd.DataFrame:
    """Train each variant; rows go to ``<out>/<protocol>/runs/<name>.parquet``. A name ``label~part`` files the
    rows under the variant ``label`` (so seeds trained by separate commands, e.g. ``hstu-id~s1`` with
    ``--first-seed 1``, form one leaderboard row)."""
    import torch

    from .data import item_sids
    from .experiment import train_seeds

    torch.set_num_threads(threads)
    split = make_split(protocol, load_ratings(paths))
    log(f"{protocol}: {split.info or {'users': len(split.eval_users)}}")
    frames = []
    for variant in variants:
        cfg = variant_config(variant, preset, changes)
        sids = item_sids(split.seqs.item_index, load_sids(out, protocol, paths)) if cfg.items.uses_sid else None
        tag = name or variant
        if name and len(variants) > 1:
            tag = f"{variant}@{name}"
        rows, _ = train_seeds(
            tag.split("~")[0],
            "ml-latest-small",
            cfg,
            split,
            sids,
            seeds,
            paths.checkpoints / "experiments" / protocol / tag,
            log=log,
            protocol=protocol,
            first_seed=first_seed,
        )
        folder = out / protocol / "runs"
        folder.mkdir(parents=True, exist_ok=True)
        rows.to_parquet(folder / f"{tag}.parquet")
        frames.append(rows)
        log(
            f"{tag}: valid NDCG@10 {rows['valid_ndcg_10'].mean():.4f} ± {rows['valid_ndcg_10'].std():.4f}, "
            f"test NDCG@10 {rows['test_ndcg_10'].mean():.4f}, CPU min/seed {rows['cpu_seconds'].mean() / 60:.1f}"
        )
    return pd.concat(frames, ignore_index=True)


def table(protocol: str, out: Path, paths: DataPaths, only: list[str] | None = None) -> str:
    """The leaderboard of every run under ``<out>/<protocol>/runs`` plus the baselines, as markdown."""
    from .results import markdown as loo_markdown
    from .results import temporal_markdown
    from .standings import protocol_board

    split = make_split(protocol, load_ratings(paths))
    files = sorted((out / protocol / "runs").glob("*.parquet"))
    runs = [pd.read_parquet(f) for f in files]
    runs = [r.assign(variant=r["variant"].str.split("~").str[0]) for r in runs]  # runs made before labels
    runs = [r for r in runs if only is None or r["variant"].iloc[0] in only]
    vectors = None
    if protocol == "temporal":
        import pyarrow.parquet as pq

        from movielens_dag.semantic_ids import tables

        ids, x, _ = tables.embedding_matrix(pq.read_table(content_dir(out) / "movie_embeddings.parquet"))
        vectors = (ids, x)
    board = protocol_board(protocol, "ml-latest-small", split, pd.concat(runs, ignore_index=True), vectors)
    folder = out / protocol
    board.to_parquet(folder / "leaderboard.parquet")
    md = temporal_markdown(board, split.info) if protocol == "temporal" else loo_markdown(board)
    md = (
        f"Produced {datetime.now(UTC):%Y-%m-%d} by `python -m movielens_dag.recommender.experiments table "
        f"--protocol {protocol}`.\n\n" + md
    )
    (folder / "leaderboard.md").write_text(md + "\n")
    return md


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", default=None, help="data dir (default: MOVIELENS_DATA_DIR or data/)")
    p.add_argument("--out", default=None, help="results folder (default: <data dir>/experiments)")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("prepare", help="temporal: documents, vectors and SIDs known at the training cut")
    r = sub.add_parser("run", help="train variants")
    r.add_argument("--protocol", choices=PROTOCOLS, required=True)
    r.add_argument("--variants", required=True, help="comma list, e.g. hstu-id,sasrec-id")
    r.add_argument("--seeds", type=int, default=3)
    r.add_argument("--preset", default="small")
    r.add_argument("--set", action="append", default=[], help="section.field=value override (repeatable)")
    r.add_argument("--name", default=None, help="result name (default: the variant)")
    r.add_argument("--threads", type=int, default=1)
    r.add_argument("--first-seed", type=int, default=0, help="seeds first..first+seeds-1")
    t = sub.add_parser("table", help="leaderboard of the runs so far, with baselines and CIs")
    t.add_argument("--protocol", choices=PROTOCOLS, required=True)
    t.add_argument("--only", default=None, help="comma list of run names to include")
    args = p.parse_args(argv)
    paths = DataPaths(resolve_data_dir(args.data_dir))
    out = Path(args.out) if args.out else paths.root / "experiments"
    if args.command == "prepare":
        prepare(paths, out)
    elif args.command == "run":
        run(
            args.protocol,
            args.variants.split(","),
            args.seeds,
            args.preset,
            parse_sets(args.set),
            out,
            args.name,
            paths,
            args.threads,
            args.first_seed,
        )
    else:
        print(table(args.protocol, out, paths, args.only.split(",") if args.only else None))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
