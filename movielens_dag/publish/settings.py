"""Settings of the publishable dataset (plain dataclass, no heavy imports)."""

from dataclasses import dataclass

from movielens_dag.settings import setting


@dataclass(frozen=True)
class PublishSettings:
    """What goes into the Hugging Face dataset folder."""

    include_embeddings: bool = setting(True, "Add the movie embeddings (one float32 vector per movie).")
    include_user_data: bool = setting(
        True, "Add ratings and tags when the release's licence allows redistributing them."
    )
    acknowledge_licence: bool = setting(
        False,
        "I hold GroupLens's separate permission to redistribute this release: "
        "also add ratings and tags of ml-1m, ml-10m, ml-20m and ml-25m.",
    )
    rows_per_shard: int = setting(1_000_000, "Rows per Parquet shard.")
    pretty_name: str = setting("MovieLens with documents, embeddings and semantic IDs", "Title of the dataset card.")

    def validate(self) -> None:
        if self.rows_per_shard < 1:
            raise ValueError(f"rows_per_shard must be >= 1, got {self.rows_per_shard}")
