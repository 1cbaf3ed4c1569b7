"""What an enrichment refresh is configured with (plain dataclasses; Dagster configs are generated)."""

from dataclasses import dataclass

from movielens_dag.paths import OVERRIDES_DIR
from movielens_dag.settings import setting

OVERRIDES_FILE = OVERRIDES_DIR / "tmdb_ids.csv"


@dataclass(frozen=True)
class RefreshSettings:
    """Which stored responses are fetched again."""

    max_age_days: float = setting(90.0, "Refetch stored responses older than this many days.")
    use_changes_feed: bool = setting(True, "Ask TMDB /movie/changes which stored movies changed (daily at most).")


@dataclass(frozen=True)
class TmdbIdSettings(RefreshSettings):
    """Id resolution: the refresh settings plus the manual overrides file."""

    overrides_path: str = setting(str(OVERRIDES_FILE), "CSV of manual TMDB/IMDb ids (movie_id,tmdb_id,imdb_id,note).")
