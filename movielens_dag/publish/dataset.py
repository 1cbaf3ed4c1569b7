"""Write the dataset folder: ``<config>/train-XXXXX-of-YYYYY.parquet`` per table, README.md, LICENSE.md.

The folder is built beside the destination and swapped in at the end, so a failed build never leaves a
half-written dataset where an upload could pick it up. Large user tables (ratings) may be given as a
Parquet path: they are streamed shard by shard instead of loaded whole.
"""

import json
import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from movielens_dag.publish.card import CardFacts, ConfigInfo, licence_file, render
from movielens_dag.publish.licences import licence_of, usage_licence_section
from movielens_dag.publish.settings import PublishSettings

DESCRIPTIONS = {
    "movies": "MovieLens movies: id, title, year, genres, alternate titles, with IMDb and TMDB ids",
    "documents": "one text per movie (the embedding input) and the merged fields it was rendered from",
    "semantic_ids": "one semantic ID per movie: `codes` (L quantiser codes, then the uniqueness digit), `sid` tokens",
    "sid_codebooks": "the quantiser's codebook vectors, one row per (level, code)",
    "sid_quality": "the semantic-ID fit's configuration and quality figures",
    "embeddings": "one L2-normalised float32 vector per movie document",
    "ratings": "MovieLens ratings (user, movie, 0.5-5 stars, UTC time)",
    "tags": "MovieLens free-text tags (user, movie, tag, UTC time)",
}
USER_TABLES = ("ratings", "tags")


@dataclass
class PublishInputs:
    """The warehouse tables the dataset is made of (None: not materialized, left out)."""

    variant: str
    movies: pa.Table
    links: pa.Table | None = None
    documents: pa.Table | None = None
    semantic_ids: pa.Table | None = None
    sid_codebooks: pa.Table | None = None
    sid_quality: pa.Table | None = None
    embeddings: pa.Table | None = None
    ratings: pa.Table | Path | None = None
    tags: pa.Table | Path | None = None
    release_readme: str | None = None  # the release's README.txt, for its licence section


@dataclass
class Manifest:
    folder: Path
    configs: list[ConfigInfo]
    excluded: dict[str, str] = field(default_factory=dict)

    def files(self) -> list[tuple[str, int]]:
        """(relative path, bytes) of every file in the folder, sorted."""
        return sorted(
            (p.relative_to(self.folder).as_posix(), p.stat().st_size) for p in self.folder.rglob("*") if p.is_file()
        )

    def as_dict(self) -> dict:
        return {
            "folder": str(self.folder),
            "tables": {c.name: c.rows for c in self.configs},
            "excluded": self.excluded,
            "files": len(self.files()),
            "bytes": sum(size for _, size in self.files()),
        }


def movies_with_ids(movies: pa.Table, links: pa.Table | None) -> pa.Table:
    """movies plus imdb_id / tmdb_id from links (null where the release has none)."""
    if links is None or links.num_rows == 0:
        n = movies.num_rows
        return movies.append_column("imdb_id", pa.nulls(n, pa.string())).append_column(
            "tmdb_id", pa.nulls(n, pa.int64())
        )
    at = pc.index_in(movies["movie_id"], value_set=links["movie_id"])  # row of each movie in links, or null
    return (
        movies.append_column("imdb_id", pc.take(links["imdb_id"], at))
        .append_column("tmdb_id", pc.take(links["tmdb_id"], at))
        .sort_by("movie_id")
    )


def _batches(source: pa.Table | Path, rows: int) -> Iterator[pa.RecordBatch | pa.Table]:
    if isinstance(source, pa.Table):
        for start in range(0, max(source.num_rows, 1), rows):
            yield source.slice(start, rows)
    else:
        yield from pq.ParquetFile(source).iter_batches(batch_size=rows)


def _rows_of(source: pa.Table | Path) -> int:
    return source.num_rows if isinstance(source, pa.Table) else pq.ParquetFile(source).metadata.num_rows


def _schema_of(source: pa.Table | Path) -> pa.Schema:
    return source.schema if isinstance(source, pa.Table) else pq.ParquetFile(source).schema_arrow


def write_config(root: Path, name: str, source: pa.Table | Path, rows_per_shard: int) -> ConfigInfo:
    """Shards ``<name>/train-00000-of-0000N.parquet`` under ``root``."""
    total = _rows_of(source)
    shards = max(1, -(-total // rows_per_shard))
    folder = root / name
    folder.mkdir(parents=True)
    schema = _schema_of(source).remove_metadata()
    files, size = [], 0
    for i, batch in enumerate(_batches(source, rows_per_shard)):
        path = folder / f"train-{i:05d}-of-{shards:05d}.parquet"
        table = pa.Table.from_batches([batch]) if isinstance(batch, pa.RecordBatch) else batch
        pq.write_table(table.cast(schema), path, compression="zstd")
        files.append(path.relative_to(root).as_posix())
        size += table.nbytes
    return ConfigInfo(name, schema, total, files, size, DESCRIPTIONS.get(name, name))


def _primary_quality(sid_quality: pa.Table | None) -> dict | None:
    if sid_quality is None or sid_quality.num_rows == 0:
        return None
    rows = sid_quality.to_pylist()
    return next((r for r in rows if r.get("is_primary")), rows[0])


def _counts(table: pa.Table | None, column: str) -> dict[str, int]:
    if table is None or column not in table.column_names:
        return {}
    counts = pc.value_counts(table[column]).to_pylist()
    return {c["values"]: c["counts"] for c in counts}


def build_dataset(dest: Path, inputs: PublishInputs, settings: PublishSettings | None = None) -> Manifest:
    """Write the dataset folder at ``dest`` (replacing one that is there); return what it holds."""
    settings = settings or PublishSettings()
    settings.validate()
    licence = licence_of(inputs.variant)
    tables: dict[str, pa.Table | Path | None] = {
        "movies": movies_with_ids(inputs.movies, inputs.links),
        "documents": inputs.documents,
        "semantic_ids": inputs.semantic_ids,
        "sid_codebooks": inputs.sid_codebooks,
        "sid_quality": inputs.sid_quality,
        "embeddings": inputs.embeddings if settings.include_embeddings else None,
        "ratings": inputs.ratings,
        "tags": inputs.tags,
    }
    excluded: dict[str, str] = {}
    if not settings.include_embeddings and inputs.embeddings is not None:
        excluded["embeddings"] = "left out by the include_embeddings setting"
    for name in USER_TABLES:
        if tables[name] is None:
            continue
        if not settings.include_user_data:
            excluded[name] = "left out by the include_user_data setting"
            tables[name] = None
        elif not licence.redistributable and not settings.acknowledge_licence:
            excluded[name] = (
                f"the {inputs.variant} licence forbids redistribution without GroupLens's separate "
                "permission; only data derived per movie is exported"
            )
            tables[name] = None
    for name, value in list(tables.items()):
        if value is None and name not in excluded and name not in USER_TABLES:
            excluded[name] = "not materialized when the dataset was built"
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex}.tmp")
    try:
        configs = [
            write_config(tmp, name, value, settings.rows_per_shard)
            for name, value in tables.items()
            if value is not None
        ]
        embeddings = inputs.embeddings
        facts = CardFacts(
            variant=inputs.variant,
            licence=licence,
            configs=configs,
            excluded=excluded,
            sid_quality=_primary_quality(inputs.sid_quality),
            embedding_model=(
                pc.unique(embeddings["model_id"]).to_pylist()[0]
                if embeddings is not None and embeddings.num_rows
                else None
            ),
            template_versions=_counts(inputs.documents, "template_version"),
            licence_text=usage_licence_section(inputs.release_readme) if inputs.release_readme else None,
            pretty_name=settings.pretty_name,
        )
        facts.permission_acknowledged = not licence.redistributable and any(c.name in USER_TABLES for c in configs)
        (tmp / "README.md").write_text(render(facts), encoding="utf-8")
        (tmp / "LICENSE.md").write_text(licence_file(facts), encoding="utf-8")
        (tmp / "manifest.json").write_text(
            json.dumps(
                {
                    "variant": inputs.variant,
                    "tables": {c.name: {"rows": c.rows, "files": c.files} for c in configs},
                    "excluded": excluded,
                    "acknowledge_licence": settings.acknowledge_licence,
                },
                indent=2,
            ),
            encoding="utf-8",
        )
        _swap(tmp, dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return Manifest(dest, configs, excluded)


def _swap(new: Path, dest: Path) -> None:
    """Put ``new`` at ``dest``; the old folder is moved aside first and deleted after."""
    old = dest.with_name(f".{dest.name}.{uuid.uuid4().hex}.old")
    if dest.exists():
        os.replace(dest, old)
    os.replace(new, dest)
    shutil.rmtree(old, ignore_errors=True)


def _optional(paths, group: str, asset: str) -> pa.Table | None:
    from movielens_dag import warehouse

    location = paths.asset_file(group, asset)
    return warehouse.read_parquet(location, asset) if location.exists() else None


def inputs_from_warehouse(paths, variant: str, release_dir: Path | None = None) -> PublishInputs:
    """The dataset's tables read from a warehouse folder (``DataPaths``); user tables stay on disk."""
    from movielens_dag import warehouse

    movies_file = paths.asset_file("movielens", "movies")
    if not movies_file.exists():
        raise FileNotFoundError(f"no movies table at {movies_file}: materialize the movielens group first")
    user = {name: paths.asset_file("movielens", name) for name in USER_TABLES}
    readme = Path(release_dir) / "README.txt" if release_dir is not None else None
    return PublishInputs(
        variant=variant,
        movies=warehouse.read_parquet(movies_file, "movies"),
        links=_optional(paths, "movielens", "links"),
        documents=_optional(paths, "documents", "movie_documents"),
        semantic_ids=_optional(paths, "semantic_ids", "semantic_ids"),
        sid_codebooks=_optional(paths, "semantic_ids", "sid_codebooks"),
        sid_quality=_optional(paths, "semantic_ids", "sid_quality"),
        embeddings=_optional(paths, "embeddings", "movie_embeddings"),
        ratings=user["ratings"] if user["ratings"].exists() else None,
        tags=user["tags"] if user["tags"].exists() else None,
        release_readme=readme.read_text(encoding="utf-8", errors="replace") if readme and readme.exists() else None,
    )


def verify_folder(folder: Path, variant: str) -> dict:
    """Check a built dataset folder: each config's Parquet rows equal the card's ``num_examples`` and the
    manifest's rows; user tables appear only where the licence or an acknowledgement allows them."""
    import yaml

    folder = Path(folder)
    card = (folder / "README.md").read_text(encoding="utf-8") if (folder / "README.md").exists() else ""
    manifest = json.loads((folder / "manifest.json").read_text()) if (folder / "manifest.json").exists() else {}
    header = yaml.safe_load(card.split("---")[1]) if card.startswith("---") else {}
    examples = {
        info["config_name"]: sum(s["num_examples"] for s in info.get("splits", []))
        for info in (header or {}).get("dataset_info", [])
    }
    counted = {
        name: sum(pq.read_metadata(folder / f).num_rows for f in meta["files"])
        for name, meta in manifest.get("tables", {}).items()
    }
    mismatched = sorted(
        n for n in counted if counted[n] != examples.get(n) or counted[n] != manifest["tables"][n]["rows"]
    )
    forbidden = (
        []
        if licence_of(variant).redistributable or manifest.get("acknowledge_licence")
        else [n for n in USER_TABLES if (folder / n).exists()]
    )
    return {
        "ok": bool(card and manifest and counted and not mismatched and not forbidden),
        "configs": ", ".join(sorted(counted)) or "none",
        "row_mismatches": ", ".join(mismatched) or "none",
        "user_tables_not_allowed": ", ".join(forbidden) or "none",
    }
