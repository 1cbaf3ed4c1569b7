"""Explicit schemas of the TMDB and IMDb responses the enrichment reads.

Every response is validated before use. What is safely coercible is coerced:

- a number sent as a JSON string ("93.49" -> 93.49, "139" -> 139) or a whole float where an integer
  belongs (139.0 -> 139);
- a number where text belongs (a title of 1984 -> "1984");
- null or "" for a missing scalar, null for an empty list or object.

Anything else raises ResponseSchemaError naming every bad field: a word or a boolean where a number
belongs, a fractional number where an integer belongs, an object or list where text belongs, a list
that is an object, a date that is not YYYY-MM-DD, a number outside its column's range (int32 runtime,
float32 popularity), a missing ``id``. The table builders turn that error into a per-movie
``parse_error`` row (listed in the enrichment review queue), never a failed asset.

Only the fields the enrichment uses are declared; others are ignored. The validators raise ValueError
for a wrong type too: that is what pydantic turns into a field error (a TypeError would escape).
"""

import math
import re
from datetime import date
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

_FLOAT32_MAX = 3.4028234663852886e38
_INTEGER = re.compile(r"^[+-]?\d+$")


class ResponseSchemaError(ValueError):
    """A response that does not fit its schema; the message lists each bad field and value."""


def _kind(value: Any) -> str:
    return {bool: "a boolean", str: "text", list: "a list", dict: "an object"}.get(type(value), type(value).__name__)


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _float(value: Any) -> float | None:
    if _missing(value):
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"expected a number, got {_kind(value)}")
    try:
        number = float(value)
    except ValueError:
        raise ValueError("expected a number, got text that is not one") from None
    if not math.isfinite(number) or abs(number) > _FLOAT32_MAX:
        raise ValueError("expected a finite number within float32 range")
    return number


def _integer(bits: int):
    low, high = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1

    def check(value: Any) -> int | None:
        if _missing(value):
            return None
        if isinstance(value, bool):
            raise ValueError("expected an integer, got a boolean")
        if isinstance(value, int):
            number = value
        elif isinstance(value, float) and value.is_integer():
            number = int(value)
        elif isinstance(value, str) and _INTEGER.match(value.strip()):
            number = int(value.strip())
        elif isinstance(value, str):  # "139.0" is a whole number sent as text
            try:
                as_float = float(value)
            except ValueError:
                as_float = math.nan
            if not (math.isfinite(as_float) and as_float.is_integer()):
                raise ValueError("expected an integer, got text that is not one")
            number = int(as_float)
        else:
            raise ValueError(
                f"expected an integer, got {'a fractional number' if isinstance(value, float) else _kind(value)}"
            )
        if not low <= number <= high:
            raise ValueError(f"integer {number} is outside the {bits}-bit range")
        return number

    return check


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    raise ValueError(f"expected text, got {_kind(value)}")


def _date(value: Any) -> date | None:
    if _missing(value):
        return None
    if not isinstance(value, str):
        raise ValueError(f"expected a date (YYYY-MM-DD), got {_kind(value)}")
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise ValueError("expected a date (YYYY-MM-DD)") from None


def _list(value: Any) -> Any:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValueError(f"expected a list, got {_kind(value)}")
    return value


Text = Annotated[str | None, BeforeValidator(_text)]
Float32 = Annotated[float | None, BeforeValidator(_float)]
Int32 = Annotated[int | None, BeforeValidator(_integer(32))]
Int64 = Annotated[int | None, BeforeValidator(_integer(64))]
Date = Annotated[date | None, BeforeValidator(_date)]


def List(item: type) -> Any:  # reads like a type in the models below
    return Annotated[list[item], BeforeValidator(_list), Field(default_factory=list)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class _Item(_Model):
    """List items (cast, crew, keywords, ... hundreds per response): pydantic's own checks, no Python
    validator per field, for speed. Text accepts text or a number (coerced), nothing else."""

    model_config = ConfigDict(extra="ignore", frozen=True, coerce_numbers_to_str=True)


def validate(model: type[_Model], payload: Any, what: str) -> _Model:
    """``payload`` checked against ``model``; ResponseSchemaError lists every field that does not fit."""
    if not isinstance(payload, dict):
        raise ResponseSchemaError(f"{what}: expected a JSON object, got {_kind(payload)}")
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        problems = []
        for error in exc.errors(include_url=False):
            where = ".".join(str(part) for part in error["loc"]) or "(response)"
            message = error["msg"].removeprefix("Value error, ")
            shown = error.get("input")
            problems.append(
                f"{where}: {message} ({shown!r:.40})" if error["type"] != "missing" else f"{where}: missing"
            )
        raise ResponseSchemaError(f"{what}: {'; '.join(problems)}") from None


# ---- TMDB /movie/{id}?append_to_response=keywords,external_ids,credits ----------------------------
class Named(_Item):
    name: str | None = None
    english_name: str | None = None


class CastMember(_Item):
    name: str | None = None
    order: int | None = None  # only sorts the cast


class CrewMember(_Item):
    name: str | None = None
    job: str | None = None
    department: str | None = None


class Credits(_Model):
    cast: List(CastMember)
    crew: List(CrewMember)


class Keywords(_Model):
    keywords: List(Named)


class ExternalIds(_Model):
    imdb_id: Text = None
    wikidata_id: Text = None


class TmdbMovie(_Model):
    id: Annotated[int, BeforeValidator(_integer(64))]
    imdb_id: Text = None
    title: Text = None
    original_title: Text = None
    overview: Text = None
    tagline: Text = None
    release_date: Date = None
    runtime: Int32 = None
    budget: Int64 = None
    revenue: Int64 = None
    original_language: Text = None
    spoken_languages: List(Named)
    production_countries: List(Named)
    genres: List(Named)
    keywords: Keywords | None = None
    external_ids: ExternalIds | None = None
    credits: Credits | None = None
    vote_average: Float32 = None
    vote_count: Int64 = None
    popularity: Float32 = None
    poster_path: Text = None


# ---- TMDB /search/movie, /find/{imdb_id}, /movie/changes -----------------------------------------
class TmdbCandidate(_Model):
    id: Int64 = None  # a result without an id is skipped
    title: Text = None
    original_title: Text = None
    release_date: Text = None  # only its year is used: "1999-10-15" or a bare "1999" both give 1999
    vote_count: Int64 = None
    popularity: Float32 = None


class TmdbCandidates(_Model):
    results: List(TmdbCandidate)
    movie_results: List(TmdbCandidate)


class ChangedId(_Model):
    id: Int64 = None


class TmdbChanges(_Model):
    results: List(ChangedId)
    total_pages: Int32 = None


# ---- IMDb GraphQL title query ----------------------------------------------------------------------
class _TextNode(_Model):
    text: Text = None


class _Id(_Model):
    id: Text = None


class _Year(_Model):
    year: Int32 = None


class _PlainText(_Model):
    plainText: Text = None


class _Plot(_Model):
    plotText: _PlainText | None = None


class _Ratings(_Model):
    aggregateRating: Float32 = None
    voteCount: Int64 = None


class _Genres(_Model):
    genres: List(_TextNode)


class _TextEdge(_Model):
    node: _TextNode | None = None


class _TextEdges(_Model):
    edges: List(_TextEdge)


class _Name(_Model):
    id: Text = None
    nameText: _TextNode | None = None


class _Credit(_Model):
    name: _Name | None = None


class _Category(_Model):
    id: Text = None
    text: Text = None


class _PrincipalCredit(_Model):
    category: _Category | None = None
    credits: List(_Credit)


class _Languages(_Model):
    spokenLanguages: List(_TextNode)


class _Countries(_Model):
    countries: List(_TextNode)


class _OriginalText(_Model):
    originalText: Text = None


class _ReviewText(_Model):
    originalText: _PlainText | None = None


class _Review(_Model):
    summary: _OriginalText | None = None
    text: _ReviewText | None = None


class _ReviewEdge(_Model):
    node: _Review | None = None


class _Reviews(_Model):
    edges: List(_ReviewEdge)


class _SimilarNode(_Model):
    id: Text = None


class _SimilarEdge(_Model):
    node: _SimilarNode | None = None


class _Similar(_Model):
    edges: List(_SimilarEdge)


class ImdbTitle(_Model):
    id: Text = None
    titleText: _TextNode | None = None
    releaseYear: _Year | None = None
    titleType: _Id | None = None
    plot: _Plot | None = None
    ratingsSummary: _Ratings | None = None
    genres: _Genres | None = None
    keywords: _TextEdges | None = None
    principalCredits: List(_PrincipalCredit)
    spokenLanguages: _Languages | None = None
    countriesOfOrigin: _Countries | None = None
    featuredReviews: _Reviews | None = None
    moreLikeThisTitles: _Similar | None = None
