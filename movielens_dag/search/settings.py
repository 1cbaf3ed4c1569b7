"""Settings of the search assets and of free-text search (plain dataclasses, no heavy imports)."""

from dataclasses import dataclass

from movielens_dag.settings import setting


@dataclass(frozen=True)
class SimilarMoviesSettings:
    """How 'similar_movies' is built and judged."""

    k: int = setting(20, "Neighbours kept per movie.")
    model_id: str | None = setting(
        None, "Embedding model to use when movie_embeddings holds several; None: the only one."
    )
    incremental: bool = setting(
        True,
        "Recompute only movies whose vector or neighbours can have changed "
        "(False: every movie, e.g. after a code change).",
    )
    block_mb: int = setting(256, "Memory for one block of similarity scores (chunk of movies x all movies).")
    quality_k: int = setting(10, "Neighbours per movie the quality figures look at.")
    random_pairs: int = setting(100_000, "Random movie pairs the genre-overlap baseline averages over.")
    collab_min_ratings: int = setting(20, "Movies need this many ratings to enter the collaborative comparison.")
    collab_queries: int = setting(2000, "Movies sampled for the collaborative comparison (all when fewer).")
    seed: int = setting(0, "Seed of the random pairs and the collaborative sample.")

    def validate(self) -> None:
        for name in ("k", "block_mb", "quality_k", "random_pairs", "collab_min_ratings", "collab_queries"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.quality_k > self.k:
            raise ValueError(f"quality_k ({self.quality_k}) cannot exceed k ({self.k})")


@dataclass(frozen=True)
class TextSearchSettings:
    """How a free-text query becomes a vector (the documents' model; a query instruction when it has one)."""

    model: str | None = setting(
        None,
        "Model to embed the query with; None: the model movie_embeddings was made "
        "with ('bundled', a hub id or a local folder also work if it is the same).",
    )
    query_prompt: str | None = setting(
        None,
        "Instruction put before the query; None: the model's saved 'query' "
        "prompt (Qwen3-Embedding has one, MiniLM none).",
    )
    device: str = setting("auto", "Where the query is embedded: auto, cpu, cuda, ...")
