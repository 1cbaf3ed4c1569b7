"""IMDb's GraphQL endpoint (unofficial, opt-in): title query, search query and their parsers.

The endpoint is often blocked (403); the asset turns that into "source disabled for this run". Field
names follow the public schema served at api.graphql.imdb.com; the parser tolerates missing parts.
"""

from dataclasses import dataclass

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
    featuredReviews(first: 3) { edges { node { summary { originalText } text { originalText { plainText } } authorRating } } }
    moreLikeThisTitles(first: 12) { edges { node { id titleText { text } } } }
  }
}
""".strip()

class ImdbGraphQLError(ValueError):
    """The endpoint answered 200 with GraphQL errors and no data (schema drift, bad query)."""


def title_request(url: str, imdb_id: str) -> FetchRequest:
    return FetchRequest(SOURCE_TITLE, imdb_id, url, method="POST",
                        json_body={"query": TITLE_QUERY, "variables": {"id": imdb_id}})


def _text(node: dict | None, *path: str) -> str | None:
    for key in path:
        if not isinstance(node, dict):
            return None
        node = node.get(key)
    return node if isinstance(node, str) and node.strip() else None


def _edges(conn: dict | None) -> list[dict]:
    return [e.get("node") or {} for e in (conn or {}).get("edges") or []]


def parse_title(payload: dict) -> dict | None:
    """A title query response → flat record; None when IMDb has no such title."""
    data = payload.get("data")
    if data is None:
        messages = "; ".join(e.get("message", "?") for e in payload.get("errors") or [])
        raise ImdbGraphQLError(f"IMDb GraphQL returned no data: {messages or 'no errors given'}")
    title = data.get("title")
    if not title:
        return None
    credits = {c.get("category", {}).get("id"): [_text(x, "name", "nameText", "text") for x in c.get("credits") or []]
               for c in title.get("principalCredits") or []}
    reviews = []
    for node in _edges(title.get("featuredReviews")):
        text = _text(node, "text", "originalText", "plainText")
        if text:
            summary = _text(node, "summary", "originalText")
            reviews.append(f"{summary}: {text}" if summary else text)
    ratings = title.get("ratingsSummary") or {}
    return {
        "imdb_id": title.get("id"),
        "imdb_title": _text(title, "titleText", "text"),
        "imdb_year": (title.get("releaseYear") or {}).get("year"),
        "title_type": (title.get("titleType") or {}).get("id"),
        "plot": _text(title, "plot", "plotText", "plainText"),
        "rating": ratings.get("aggregateRating"),
        "votes": ratings.get("voteCount"),
        "genres": [g["text"] for g in (title.get("genres") or {}).get("genres") or [] if g.get("text")],
        "keywords": [n["text"] for n in _edges(title.get("keywords")) if n.get("text")],
        "directors": [n for n in credits.get("director", []) if n],
        "writers": [n for n in credits.get("writer", []) if n],
        "stars": [n for n in credits.get("cast", credits.get("star", [])) if n],
        "languages": [x["text"] for x in (title.get("spokenLanguages") or {}).get("spokenLanguages") or [] if x.get("text")],
        "countries": [x["text"] for x in (title.get("countriesOfOrigin") or {}).get("countries") or [] if x.get("text")],
        "featured_reviews": reviews,
        "similar_titles": [n["id"] for n in _edges(title.get("moreLikeThisTitles")) if n.get("id")],
    }
