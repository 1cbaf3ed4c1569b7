"""One text per movie, built from a versioned template; its hash changes only when the text does."""

import hashlib

import pandas as pd

TEMPLATE_VERSION = "movielens-v1"
TOP_TAGS = 10


def document_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def top_tags(tags: pd.DataFrame, k: int = TOP_TAGS) -> dict[int, list[str]]:
    """Per movie, the ``k`` tags applied by the most distinct users (case-folded, ties by name)."""
    if tags.empty:
        return {}
    frame = tags.assign(tag=tags["tag"].astype(str).str.strip().str.lower())
    frame = frame[frame["tag"] != ""]
    counts = (
        frame.groupby(["movie_id", "tag"])["user_id"].nunique().rename("users").reset_index()
        .sort_values(["movie_id", "users", "tag"], ascending=[True, False, True])
    )
    return {int(m): list(g["tag"].head(k)) for m, g in counts.groupby("movie_id", sort=False)}


def render_document(title: str, year: int | None, genres: list[str], alt_titles: list[str],
                    tags: list[str]) -> str:
    """The MovieLens-only template. Empty sections are left out rather than printed empty."""
    lines = [f"Title: {title}" + (f" ({year})" if year else "")]
    if alt_titles:
        lines.append("Also known as: " + "; ".join(alt_titles))
    if genres:
        lines.append("Genres: " + ", ".join(genres))
    if tags:
        lines.append("Tags: " + ", ".join(tags))
    return "\n".join(lines)


def build_movielens_documents(movies: pd.DataFrame, tags: pd.DataFrame) -> pd.DataFrame:
    """movie_id, document, document_hash, template_version — one row per movie, in movie order."""
    tag_lists = top_tags(tags)
    texts = [
        render_document(
            row.title,
            None if pd.isna(row.year) else int(row.year),
            list(row.genres),
            list(row.alt_titles),
            tag_lists.get(int(row.movie_id), []),
        )
        for row in movies.itertuples(index=False)
    ]
    return pd.DataFrame(
        {
            "movie_id": movies["movie_id"].astype("int32").to_numpy(),
            "document": texts,
            "document_hash": [document_hash(t) for t in texts],
            "template_version": TEMPLATE_VERSION,
        }
    )
