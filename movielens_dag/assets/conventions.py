"""What every asset definition shares: owner, automation, code versions and column descriptions.

* ``OWNERS``: shown in the UI and searchable (``owner:team:movielens-dag``).
* ``ON_UPSTREAM_CHANGE``: declarative automation. With the daemon running (`make dev`), an asset with
  this condition is rebuilt after its inputs change (a refresh that changes ``movie_documents`` flows
  on to embeddings, semantic IDs and their map) and not while an input is still being rebuilt.
* ``WEEKLY_REFRESH``: the freshness the weekly enrichment schedule promises.
* ``code_version(*modules)``: a short hash of the source files of the plain modules an asset calls, so
  editing them marks the asset "code changed" in the UI without anyone remembering to bump a number.
* ``columns({...})``: the column schema with descriptions, as definition metadata; the IO manager
  merges these descriptions into the schema it records at each materialization.

Two Dagster features used on purpose are not "stable" yet, and said so on every load (`make dev`, each
run): an explicit ``backfill_policy`` (beta) and partitioned asset checks (preview; the only way for a
check of a partitioned asset to read the run's partition). dagster is pinned to 1.13.*, so those two
warnings, and only those, are silenced here.
"""

import functools
import hashlib
import importlib.util
import warnings
from datetime import timedelta
from pathlib import Path

import dagster as dg

warnings.filterwarnings("ignore", message="Parameter `backfill_policy` of function `asset`", category=dg.BetaWarning)
warnings.filterwarnings(
    "ignore", message="Specifying a partitions_def on an AssetCheckSpec", category=dg.PreviewWarning
)

OWNERS = ["team:movielens-dag"]
ON_UPSTREAM_CHANGE = dg.AutomationCondition.eager()
# The weekly enrichment refresh (Mondays 04:00 UTC) promises data at most a week old: the UI warns after
# 8 days and fails after 9 (a missed Monday).
WEEKLY_REFRESH = dg.FreshnessPolicy.time_window(fail_window=timedelta(days=9), warn_window=timedelta(days=8))


@functools.cache
def _source_digest(module: str) -> str:
    spec = importlib.util.find_spec(module)  # locates the file without importing it (no torch at load)
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError(f"code_version: no module {module}")
    origin = Path(spec.origin)
    files = sorted(origin.parent.rglob("*.py")) if origin.name == "__init__.py" else [origin]
    h = hashlib.sha256()
    for f in files:
        h.update(f.read_bytes())
    return h.hexdigest()


def code_version(*modules: str) -> str:
    """12 hex chars over the source of ``modules`` (a package counts all its files)."""
    h = hashlib.sha256("".join(_source_digest(m) for m in modules).encode())
    return h.hexdigest()[:12]


def columns(described: dict[str, tuple[str, str]]) -> dict:
    """{name: (type, description)} -> definition metadata with the column schema."""
    return {
        "dagster/column_schema": dg.TableSchema(
            columns=[dg.TableColumn(name, typ, description=desc) for name, (typ, desc) in described.items()]
        )
    }


def columns_from_arrow(schema, descriptions: dict[str, str] | None = None) -> dict:
    """The column schema of an Arrow schema whose fields carry a b"description" (``descriptions`` adds or
    overrides them)."""
    extra = descriptions or {}
    return columns(
        {
            f.name: (str(f.type), extra.get(f.name) or (f.metadata or {}).get(b"description", b"").decode())
            for f in schema
        }
    )
