"""Free-text search: embed a query like the documents were embedded, rank every movie, filter.

The query goes through the model that made ``movie_embeddings`` (checked by model id), with that
model's query instruction when it has one: Qwen3-Embedding saves a "query" prompt and is trained to see
it before queries and nothing before documents; MiniLM has none. ``TextSearchSettings.query_prompt``
overrides it. Documents truncated to fewer dimensions (Matryoshka) get a query truncated the same way.

For notebooks::

    from movielens_dag.search.text import Catalogue, TextSearcher
    searcher = TextSearcher(Catalogue.from_warehouse(DataPaths("data")))
    searcher.search("a heist that goes wrong", genre="Crime", k=10)

Plain code: torch and sentence-transformers are imported when the model is loaded.
"""

import json
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from movielens_dag import warehouse
from movielens_dag.paths import DataPaths
from movielens_dag.search.settings import TextSearchSettings
from movielens_dag.semantic_ids.tables import NO_GENRES, embedding_matrix

RESULT_COLUMNS = ["rank", "movie_id", "title", "year", "genres", "score"]


@dataclass(frozen=True)
class Catalogue:
    """The searchable movies: unit vectors and the fields filters and results need, in one order."""

    movie_ids: np.ndarray  # (N,) int64, sorted
    vectors: np.ndarray  # (N, d) float32, unit length
    model_id: str
    titles: np.ndarray  # (N,) object
    years: np.ndarray  # (N,) float64, NaN when unknown
    genres: list[list[str]]  # per movie ([] for '(no genres listed)')

    @classmethod
    def from_tables(cls, embeddings: pa.Table, movies: pa.Table, model_id: str | None = None) -> "Catalogue":
        ids, x, model = embedding_matrix(embeddings, model_id)
        frame = movies.select(["movie_id", "title", "year", "genres"]).to_pandas().set_index("movie_id")
        missing = np.setdiff1d(ids, frame.index.to_numpy())
        if missing.size:
            raise ValueError(
                f"{missing.size} embedded movie(s) are not in movies, "
                f"e.g. movie_id {missing[:5].tolist()}; "
                "re-materialize movie_embeddings for the same release"
            )
        frame = frame.loc[ids]
        genres = [[g for g in (gs if gs is not None else []) if g != NO_GENRES] for gs in frame["genres"]]
        return cls(
            ids.astype(np.int64),
            x,
            model,
            frame["title"].to_numpy(object),
            frame["year"].to_numpy(dtype=float, na_value=np.nan),
            genres,
        )

    @classmethod
    def from_warehouse(cls, paths: DataPaths, model_id: str | None = None) -> "Catalogue":
        embeddings = warehouse.read_parquet(paths.asset_file("embeddings", "movie_embeddings"), "movie_embeddings")
        movies = warehouse.read_parquet(paths.asset_file("movielens", "movies"), "movies")
        return cls.from_tables(embeddings, movies, model_id)

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def known_genres(self) -> list[str]:
        return sorted({g for gs in self.genres for g in gs})


def candidate_mask(
    catalogue: Catalogue,
    genre: str | Sequence[str] | None = None,
    min_year: int | None = None,
    max_year: int | None = None,
) -> np.ndarray:
    """Movies passing the filters: any of the genres (case-insensitive), year within the bounds."""
    mask = np.ones(len(catalogue.movie_ids), dtype=bool)
    if genre is not None:
        wanted = [genre] if isinstance(genre, str) else list(genre)
        canonical = {g.lower(): g for g in catalogue.known_genres()}
        unknown = [g for g in wanted if g.lower() not in canonical]
        if unknown:
            raise ValueError(f"unknown genre(s) {unknown}; known: {', '.join(canonical.values())}")
        want = {canonical[g.lower()] for g in wanted}
        mask &= np.array([not want.isdisjoint(gs) for gs in catalogue.genres])
    with np.errstate(invalid="ignore"):
        if min_year is not None:
            mask &= catalogue.years >= min_year
        if max_year is not None:
            mask &= catalogue.years <= max_year
    return mask


def rank_movies(
    catalogue: Catalogue,
    query_vector: np.ndarray,
    k: int = 10,
    mask: np.ndarray | None = None,
    exclude: Sequence[int] = (),
) -> pd.DataFrame:
    """The k best movies by cosine similarity to ``query_vector`` among ``mask`` (ties: lower movie_id)."""
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    q = np.asarray(query_vector, dtype=np.float32).reshape(-1)
    if q.size != catalogue.dim:
        raise ValueError(f"query vector has {q.size} dimensions, the catalogue {catalogue.dim}")
    scores = catalogue.vectors @ q  # (N,)
    keep = np.ones(scores.size, bool) if mask is None else mask.copy()
    if len(exclude):
        keep &= ~np.isin(catalogue.movie_ids, np.asarray(exclude))
    rows = np.flatnonzero(keep)
    order = rows[np.lexsort((catalogue.movie_ids[rows], -scores[rows]))][:k]
    return pd.DataFrame(
        {
            "rank": np.arange(1, order.size + 1),
            "movie_id": catalogue.movie_ids[order],
            "title": catalogue.titles[order],
            "year": pd.array(catalogue.years[order], dtype="Int32"),
            "genres": [catalogue.genres[i] for i in order],
            "score": scores[order],
        },
        columns=RESULT_COLUMNS,
    )


def saved_prompts(model_dir) -> dict[str, str]:
    """The prompts a sentence-transformers folder saves (config_sentence_transformers.json), else {}."""
    from pathlib import Path

    config = Path(model_dir) / "config_sentence_transformers.json"
    if not config.exists():
        return {}
    try:
        return dict(json.loads(config.read_text()).get("prompts") or {})
    except (OSError, ValueError) as exc:
        raise ValueError(f"{config} is not valid JSON: {exc}") from exc


class TextSearcher:
    """Loads the query model once; ``search`` embeds a query and ranks the catalogue."""

    def __init__(self, catalogue: Catalogue, settings: TextSearchSettings | None = None, models_dir=None):
        from movielens_dag.embeddings.encode import load_encoder
        from movielens_dag.embeddings.models import resolve_model
        from movielens_dag.embeddings.settings import EmbeddingSettings

        settings = settings or TextSearchSettings()

        self.catalogue = catalogue
        source = resolve_model(settings.model or catalogue.model_id, models_dir=models_dir)
        if source.model_id != catalogue.model_id:
            raise ValueError(
                f"movie_embeddings were made with {catalogue.model_id!r}, but the query model is "
                f"{source.model_id!r}; vectors of different models cannot be compared. Set the "
                f"model to {catalogue.model_id!r} (or re-materialize movie_embeddings)"
            )
        prompt = settings.query_prompt
        if prompt is None:
            prompt = saved_prompts(source.path).get("query") or ""
        self.prompt = prompt
        self.encoder = load_encoder(
            source, EmbeddingSettings(model=source.requested, device=settings.device, prompt=prompt or None)
        )
        if self.encoder.full_dim < catalogue.dim:
            raise ValueError(
                f"{source.model_id} gives {self.encoder.full_dim}-d vectors, movie_embeddings has "
                f"{catalogue.dim}-d ones: they were not made by this model"
            )

    def embed(self, query: str) -> np.ndarray:
        """(d,) unit vector of the query, truncated to the catalogue's dimensions like the documents."""
        if not isinstance(query, str) or not query.strip():
            raise ValueError("the search query is empty: give a few words describing the movie")
        v = self.encoder.encode([query.strip()]).vectors[0, : self.catalogue.dim]
        return (v / np.linalg.norm(v)).astype(np.float32)

    def search(
        self,
        query: str,
        k: int = 10,
        genre: str | Sequence[str] | None = None,
        min_year: int | None = None,
        max_year: int | None = None,
    ) -> pd.DataFrame:
        mask = candidate_mask(self.catalogue, genre, min_year, max_year)
        return rank_movies(self.catalogue, self.embed(query), k, mask)


def search_text(
    query: str,
    catalogue: Catalogue,
    k: int = 10,
    genre: str | Sequence[str] | None = None,
    min_year: int | None = None,
    max_year: int | None = None,
    settings: TextSearchSettings | None = None,
) -> pd.DataFrame:
    """One query, loading the model for it (use ``TextSearcher`` for several)."""
    return TextSearcher(catalogue, settings).search(query, k, genre, min_year, max_year)


def search_warehouse(
    paths: DataPaths,
    query: str,
    k: int = 10,
    genre: str | Sequence[str] | None = None,
    min_year: int | None = None,
    max_year: int | None = None,
    settings: TextSearchSettings | None = None,
) -> pd.DataFrame:
    """What ``movielens-dag search`` runs: the warehouse's vectors and movies, the same filters as SQL."""
    catalogue = Catalogue.from_warehouse(paths)
    return TextSearcher(catalogue, settings, models_dir=paths.models).search(query, k, genre, min_year, max_year)
