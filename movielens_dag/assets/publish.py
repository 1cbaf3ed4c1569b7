"""Group ``publish``: the enriched dataset as a Hugging Face datasets folder, licence-aware.

`movielens-dag publish --repo-id NAME` uploads the folder this asset builds (with ``HF_TOKEN``).
The logic is plain code in ``movielens_dag.publish``.
"""

import pathlib

import dagster as dg
import pandas as pd
import pyarrow as pa

from movielens_dag.assets.conventions import OWNERS, code_version, columns
from movielens_dag.publish.settings import PublishSettings
from movielens_dag.resources.config import config_class, to_settings
from movielens_dag.resources.movielens_source import MovieLensSource
from movielens_dag.resources.storage import DataDir

GROUP = "publish"
PublishConfig = config_class(PublishSettings, name="PublishConfig")


@dg.asset(
    group_name=GROUP,
    owners=OWNERS,
    kinds={"huggingface", "parquet"},
    code_version=code_version("movielens_dag.publish"),
    metadata=columns(
        {
            "config": ("string", "a dataset config (folder): movies, documents, semantic_ids, ..."),
            "rows": ("int64", "rows in it"),
            "files": ("int64", "Parquet shards"),
            "bytes": ("int64", "size on disk"),
        }
    ),
)
def enriched_dataset(
    context: dg.AssetExecutionContext,
    config: PublishConfig,
    data_dir: DataDir,
    movielens_source: MovieLensSource,
    movielens_files: pd.DataFrame,
    movies: pa.Table,
    links: pa.Table,
    movie_documents: pa.Table,
    semantic_ids: pa.Table,
    sid_codebooks: pa.Table,
    sid_quality: pa.Table,
    movie_embeddings: pa.Table,
    ratings: pathlib.Path,
    tags: pathlib.Path,
) -> dg.Output:
    """A folder in the Hugging Face datasets layout under `<data dir>/published/enriched_dataset`: Parquet
    shards per table (movies with ids, documents, semantic IDs with their codebooks and quality, embeddings,
    and ratings and tags where the release's licence allows redistributing them) and a README.md dataset
    card. One row per config."""
    from movielens_dag.publish.dataset import PublishInputs, build_dataset

    settings = to_settings(config, PublishSettings())
    variant = movielens_source.get_variant().name
    readme = pathlib.Path(movielens_files["source_dir"].iloc[0]) / "README.txt"
    inputs = PublishInputs(
        variant=variant,
        movies=movies,
        links=links,
        documents=movie_documents,
        semantic_ids=semantic_ids,
        sid_codebooks=sid_codebooks,
        sid_quality=sid_quality,
        embeddings=movie_embeddings,
        ratings=ratings,
        tags=tags,
        release_readme=readme.read_text(encoding="utf-8", errors="replace") if readme.exists() else None,
    )
    manifest = build_dataset(data_dir.paths.published / "enriched_dataset", inputs, settings)
    table = pd.DataFrame(
        [{"config": c.name, "rows": c.rows, "files": len(c.files), "bytes": c.num_bytes} for c in manifest.configs]
    )
    context.log.info(f"wrote {manifest.folder}: {', '.join(table['config'])}")
    return dg.Output(
        table,
        metadata={
            "folder": dg.MetadataValue.path(str(manifest.folder)),
            "left_out": dg.MetadataValue.md(
                "\n".join(f"- `{k}`: {v}" for k, v in manifest.excluded.items()) or "nothing"
            ),
            "licence_allows_user_data": "ratings" in set(table["config"]),
            "upload": f"movielens-dag publish --repo-id <you>/<name> (HF_TOKEN) uploads {manifest.folder}",
        },
    )


@dg.asset_check(
    asset=enriched_dataset, additional_ins={"movielens_files": dg.AssetIn("movielens_files")}, blocking=True
)
def card_matches_the_shards_and_the_licence(
    enriched_dataset: pd.DataFrame, data_dir: DataDir, movielens_files: pd.DataFrame, movielens_source: MovieLensSource
) -> dg.AssetCheckResult:
    """Each config's Parquet rows equal the card's num_examples; releases whose licence forbids
    redistribution (ml-1m, ml-10m, ml-20m, ml-25m) carry no ratings or tags without the acknowledgement."""
    from movielens_dag.publish.dataset import verify_folder

    report = verify_folder(data_dir.paths.published / "enriched_dataset", movielens_source.get_variant().name)
    return dg.AssetCheckResult(passed=report["ok"], metadata={k: v for k, v in report.items() if k != "ok"})
