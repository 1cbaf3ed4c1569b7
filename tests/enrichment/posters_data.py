"""Small upstream data and helpers for the poster asset tests (tests/enrichment and tests/embeddings)."""

import dagster as dg
import pyarrow as pa

from movielens_dag.assets import embeddings as embedding_assets
from movielens_dag.assets import enrichment as enrichment_assets
from movielens_dag.devtools.api_emulator import EmulatorConfig
from movielens_dag.movielens.readers import LINKS_SCHEMA, MOVIES_SCHEMA
from movielens_dag.paths import DataPaths
from movielens_dag.resources.http import HttpFetcher
from movielens_dag.settings import read_environment
from movielens_dag.warehouse import write_parquet_atomic

TOKEN = "poster-test-token"
# movie_id -> links tmdb id; movies 1 and 8 share TMDB 11 (one file, one request)
LINKED = {1: 11, 2: 12, 3: 13, 4: 14, 5: 15, 6: 404, 7: None, 8: 11}
EXPECTED = {
    1: "ok",
    2: "ok",
    3: "no_poster",
    4: "not_found",
    5: "broken_image",
    6: "not_fetched",
    7: "no_tmdb_id",
    8: "ok",
}
POSTER_CHAIN = ["tmdb_ids", "tmdb_movies", "poster_images"]


def emulator_config(token: str | None = TOKEN) -> EmulatorConfig:
    return EmulatorConfig(
        tmdb_token=token,
        no_poster_tmdb_ids={13},
        missing_posters={"/poster14.jpg"},
        broken_posters={"/poster15.jpg"},
        missing_tmdb_ids={404},
    )


def write_upstream(paths: DataPaths) -> None:
    """movies and links of eight made-up movies (7 has no id anywhere: TMDB search finds nothing)."""
    movies = pa.Table.from_pylist(
        [
            dict(
                movie_id=m,
                title=f"Poster Movie {m}",
                year=1990 + m,
                genres=["Drama"],
                alt_titles=[],
                raw_title=f"Poster Movie {m} ({1990 + m})",
            )
            for m in LINKED
        ],
        schema=MOVIES_SCHEMA,
    )
    links = pa.Table.from_pylist(
        [dict(movie_id=m, imdb_id=None, tmdb_id=t) for m, t in LINKED.items()], schema=LINKS_SCHEMA
    )
    write_parquet_atomic(movies, paths.asset_file("movielens", "movies"))
    write_parquet_atomic(links, paths.asset_file("movielens", "links"))


def fetcher(emu, token: str | None = TOKEN) -> HttpFetcher:
    return HttpFetcher(tmdb_api_base_url=emu.tmdb_url, tmdb_read_access_token=token, tmdb_requests_per_second=200)


def materialize(paths: DataPaths, http_fetcher: HttpFetcher, selection, run_config=None, raise_on_error=True):
    from movielens_dag.definitions import make_resources

    built = embedding_assets.build(read_environment({}))
    poster_embeddings = next(a for a in built.assets if a.key == dg.AssetKey("poster_embeddings"))
    assets = [
        dg.AssetSpec("movies", group_name="movielens"),
        dg.AssetSpec("links", group_name="movielens"),
        enrichment_assets.tmdb_ids,
        enrichment_assets.tmdb_movies,
        enrichment_assets.poster_images,
        poster_embeddings,
    ]
    keys = {a.key for a in assets if isinstance(a, dg.AssetsDefinition)}
    checks = [
        c
        for c in [*dg.load_asset_checks_from_modules([enrichment_assets]), *built.asset_checks]
        if {k.asset_key for k in c.check_keys} <= keys
    ]
    return dg.materialize(
        [*assets, *checks],
        selection=selection,
        run_config=run_config,
        resources={**make_resources(str(paths.root)), "http_fetcher": http_fetcher},
        raise_on_error=raise_on_error,
        instance=dg.DagsterInstance.ephemeral(),
    )


def metadata(result, asset: str) -> dict:
    event = next(e for e in result.get_asset_materialization_events() if e.asset_key.path[-1] == asset)
    return {k: v.value for k, v in event.materialization.metadata.items()}


def checks(result) -> dict[str, bool]:
    return {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
