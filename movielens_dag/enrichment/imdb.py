"""IMDb's GraphQL endpoint (unofficial, opt-in): title query, search query and their parsers.

The endpoint is often blocked (403); the asset turns that into "source disabled for this run". Field
names follow the public schema served at api.graphql.imdb.com; the parser tolerates missing parts.
"""

from movielens_dag.enrichment import schemas
from movielens_dag.http.fetcher import FetchRequest

SOURCE_TITLE = "imdb_title"

TITLE_QUERY = """
query Title($id: ID!) {
  title(id: $id) {
    id
    titleText { text }
    originalTitleText { text }
    releaseYear { year }
    titleType { id }
    plot { plotText { plainText } }
    ratingsSummary { aggregateRating voteCount }
    genres { genres { text } }
    keywords(first: 25) { edges { node { text } } }
    principalCredits { category { id text } credits { name { id nameText { text } } } }
    spokenLanguages { spokenLanguages { id text } }
    countriesOfOrigin { countries { id text } }
    featuredReviews(first: 3) {
      edges { node { summary { originalText } text { originalText { plainText } } authorRating } }
    }
    moreLikeThisTitles(first: 12) { edges { node { id titleText { text } } } }
  }
}
""".strip()


class ImdbGraphQLError(ValueError):
    """The endpoint answered 200 with GraphQL errors and no data (schema drift, bad query)."""


def title_request(url: str, imdb_id: str) -> FetchRequest:
    return FetchRequest(
        SOURCE_TITLE, imdb_id, url, method="POST", json_body={"query": TITLE_QUERY, "variables": {"id": imdb_id}}
    )


def _text(node, *path: str) -> str | None:
    """Follow attribute ``path`` through validated models; non-blank text or None."""
    for key in path:
        if node is None:
            return None
        node = getattr(node, key)
    return node if isinstance(node, str) and node.strip() else None


def _nodes(conn) -> list:
    return [e.node for e in (conn.edges if conn else []) if e.node is not None]


def parse_title(payload: dict) -> dict | None:
    """A title query response → flat record; None when IMDb has no such title.

    The title is checked against ``schemas.ImdbTitle`` first: a field that cannot be safely coerced
    raises schemas.ResponseSchemaError, which the table builder records as this title's parse_error.
    """
    if not isinstance(payload, dict):
        raise schemas.ResponseSchemaError(f"IMDb title response: expected a JSON object, got {type(payload).__name__}")
    data = payload.get("data")
    if data is None:
        messages = "; ".join(str(e.get("message", "?")) for e in payload.get("errors") or [] if isinstance(e, dict))
        raise ImdbGraphQLError(f"IMDb GraphQL returned no data: {messages or 'no errors given'}")
    if not isinstance(data, dict):
        raise schemas.ResponseSchemaError(f"IMDb title response: data: expected an object, got {type(data).__name__}")
    if not data.get("title"):
        return None
    raw = data["title"]
    t = schemas.validate(schemas.ImdbTitle, raw, f"IMDb title {raw.get('id') if isinstance(raw, dict) else '?'}")
    credits: dict[str | None, list[str | None]] = {}
    for group in t.principalCredits:
        names = [_text(c, "name", "nameText", "text") for c in group.credits]
        credits.setdefault(group.category.id if group.category else None, []).extend(names)
    reviews = []
    for node in _nodes(t.featuredReviews):
        text = _text(node, "text", "originalText", "plainText")
        if text:
            summary = _text(node, "summary", "originalText")
            reviews.append(f"{summary}: {text}" if summary else text)
    ratings = t.ratingsSummary
    return {
        "imdb_id": t.id,
        "imdb_title": _text(t, "titleText", "text"),
        "imdb_year": t.releaseYear.year if t.releaseYear else None,
        "title_type": t.titleType.id if t.titleType else None,
        "plot": _text(t, "plot", "plotText", "plainText"),
        "rating": ratings.aggregateRating if ratings else None,
        "votes": ratings.voteCount if ratings else None,
        "genres": [g.text for g in (t.genres.genres if t.genres else []) if g.text],
        "keywords": [n.text for n in _nodes(t.keywords) if n.text],
        "directors": [n for n in credits.get("director", []) if n],
        "writers": [n for n in credits.get("writer", []) if n],
        "stars": [n for n in credits.get("cast", credits.get("star", [])) if n],
        "languages": [x.text for x in (t.spokenLanguages.spokenLanguages if t.spokenLanguages else []) if x.text],
        "countries": [x.text for x in (t.countriesOfOrigin.countries if t.countriesOfOrigin else []) if x.text],
        "featured_reviews": reviews,
        "similar_titles": [n.id for n in _nodes(t.moreLikeThisTitles) if n.id],
    }
