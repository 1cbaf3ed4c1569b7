"""DuckDB table macros for ad-hoc search from SQL, kept in the warehouse catalogue.

``search_macros_ddl(...)`` returns the statements; the catalogue code runs them once (they only hold
SQL text, so a read-only session can call them). After that::

    SELECT * FROM search.similar_to('Toy Story', 10, genre := 'Animation', min_year := 1990);
    SELECT * FROM search.similar_to(2571, genre := 'predicted');     -- the classifier's genres of 2571
    SELECT * FROM search.sid_siblings(1, 2);                         -- movies sharing 1's first 2 codes
    SELECT search.movie_id_of('Toy Story (1995)');

A query movie is a movie_id (an integer) or a title (a string), matched case-insensitively against the
title ("The Matrix"), the MovieLens title ("Matrix, The (1999)") and "title (year)" ("The Matrix
(1999)"). A title several movies share is an error listing them, so the user can pass the id or the
year; an unknown title or genre is an error too (DuckDB's ``error()``).

``similar_to`` is exact: it scores every candidate with ``list_cosine_similarity`` (the vectors are
unit length; see docs/benchmarks.md for its latency at 87k x 1024).
"""

from collections.abc import Sequence


def _ident(name: str) -> str:
    """``schema.view`` -> ``"schema"."view"`` (each part quoted)."""
    parts = name.split(".")
    if not 1 <= len(parts) <= 3 or not all(parts):
        raise ValueError(f"{name!r} is not a view name like 'schema.view'")
    return ".".join('"' + p.replace('"', '""') + '"' for p in parts)


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def search_macros_ddl(
    *,
    movies: str = "movielens.movies",
    embeddings: str = "embeddings.movie_embeddings",
    semantic_ids: str | None = "semantic_ids.semantic_ids",
    genre_predictions: str | None = "search.genre_predictions",
    schema: str = "search",
) -> list[str]:
    """CREATE OR REPLACE MACRO statements over the given views (None: that view does not exist yet).

    Without ``semantic_ids`` the SID columns are NULL and ``sid_siblings`` is an error saying what to
    materialize; without ``genre_predictions``, ``genre := 'predicted'`` is.
    """
    s = _ident(schema)
    mv, emb = _ident(movies), _ident(embeddings)
    fn = f"{s}.movie_id_of"
    statements = [f"CREATE SCHEMA IF NOT EXISTS {s}"]

    statements.append(f"""CREATE OR REPLACE MACRO {fn}(query) AS (
  SELECT CASE count(*)
    WHEN 1 THEN min(m.movie_id)
    WHEN 0 THEN error('search: no movie matches ''' || query::VARCHAR || ''''
                      || ' (a movie_id, a title or ''Title (year)''; find it with: SELECT movie_id, title, year '
                      || 'FROM {movies} WHERE title ILIKE ''%...%'')')
    ELSE error('search: ''' || query::VARCHAR || ''' matches ' || count(*) || ' movies: '
               || string_agg(m.movie_id || ' ' || m.title || coalesce(' (' || m.year || ')', ''), '; '
                             ORDER BY m.movie_id)
               || '. Pass the movie_id or ''Title (year)''')
  END
  FROM {mv} m
  WHERE CASE WHEN typeof(query) = 'VARCHAR'
             THEN lower(trim(query::VARCHAR)) IN (lower(m.title), lower(m.raw_title),
                                                   lower(m.title || ' (' || m.year || ')'))
             ELSE m.movie_id = TRY_CAST(query AS BIGINT) END
)""")

    if genre_predictions is not None:
        predicted = (
            f"(SELECT coalesce(any_value(p.predicted_genres), error('search: ' || {fn}(query) "
            f"|| ' has no row in {genre_predictions}; re-materialize it')) FROM {_ident(genre_predictions)} p "
            f"WHERE p.movie_id = {fn}(query))"
        )
    else:
        predicted = (
            "error('search: genre := ''predicted'' needs the genre_predictions asset; materialize it, "
            "then refresh the catalogue (movielens-dag catalog)')"
        )
    if semantic_ids is not None:
        sids = _ident(semantic_ids)
        sid_join = f"LEFT JOIN {sids} cs ON cs.movie_id = c.movie_id"
        sid_query = f"(SELECT x.codes[1:x.levels] FROM {sids} x WHERE x.movie_id = {fn}(query))"
        sid_cols = (
            "cs.sid AS sid, CASE WHEN cs.codes IS NULL OR q.codes IS NULL THEN NULL ELSE "
            "coalesce(list_position(list_transform(range(1, len(q.codes) + 1), "
            "lambda i: cs.codes[i] = q.codes[i]), false) - 1, len(q.codes)) END AS sid_shared_levels"
        )
    else:
        sid_join, sid_query = "", "NULL::INTEGER[]"
        sid_cols = "NULL::VARCHAR AS sid, NULL::INTEGER AS sid_shared_levels"

    statements.append(f"""CREATE OR REPLACE MACRO {s}.similar_to(query, k := 10, genre := NULL, min_year := NULL,
                                          max_year := NULL) AS TABLE
WITH q AS (
  SELECT e.movie_id, e.model_id, e.embedding::FLOAT[] AS v, {sid_query} AS codes
  FROM {emb} e WHERE e.movie_id = {fn}(query)
), guard AS (
  SELECT CASE count(*) WHEN 1 THEN true
    WHEN 0 THEN error('search: movie ' || {fn}(query) || ' has no vector in {embeddings}; re-materialize it')
    ELSE error('search: {embeddings} holds ' || count(*) || ' vectors for movie ' || {fn}(query)
               || ' (several models); keep one model per warehouse') END AS ok
  FROM q
), wanted AS (
  SELECT CASE
    WHEN genre IS NULL THEN NULL
    WHEN lower(genre::VARCHAR) = 'predicted' THEN {predicted}
    WHEN NOT EXISTS (SELECT 1 FROM (SELECT unnest(genres) AS g FROM {mv}) WHERE lower(g) = lower(genre::VARCHAR))
      THEN error('search: unknown genre ''' || genre::VARCHAR || '''; known: '
                 || (SELECT string_agg(DISTINCT g, ', ' ORDER BY g) FROM (SELECT unnest(genres) AS g FROM {mv}))
                 || ', or ''predicted''')
    ELSE [(SELECT any_value(g) FROM (SELECT unnest(genres) AS g FROM {mv}) WHERE lower(g) = lower(genre::VARCHAR))]
  END AS genres
)
SELECT row_number() OVER (ORDER BY score DESC, movie_id) AS rank, *
FROM (
  SELECT c.movie_id, m.title, m.year, m.genres,
         list_cosine_similarity(c.embedding::FLOAT[], q.v) AS score, {sid_cols}, q.movie_id AS query_movie_id
  FROM {emb} c JOIN {mv} m ON m.movie_id = c.movie_id {sid_join}, q, guard, wanted w
  WHERE guard.ok AND c.model_id = q.model_id AND c.movie_id <> q.movie_id
    AND (min_year IS NULL OR m.year >= min_year) AND (max_year IS NULL OR m.year <= max_year)
    AND (w.genres IS NULL OR list_has_any(m.genres, w.genres))
  ORDER BY score DESC, c.movie_id
  LIMIT k
)
ORDER BY rank""")

    if semantic_ids is not None:
        # Inside a macro an unqualified name equal to a parameter ("levels") means the parameter: the
        # table's own levels column is always qualified.
        statements.append(f"""CREATE OR REPLACE MACRO {s}.sid_siblings(query, levels := NULL) AS TABLE
WITH q AS (
  SELECT s.movie_id, s.codes[1:s.levels] AS codes, s.levels AS sid_levels FROM {sids} s
  WHERE s.movie_id = {fn}(query)
), n AS (
  SELECT coalesce(levels, q.sid_levels) AS depth,
         CASE WHEN coalesce(levels, 1) BETWEEN 1 AND q.sid_levels THEN true
              ELSE error('search: levels must be 1..' || q.sid_levels || ', got ' || levels) END AS ok
  FROM q
), guard AS (
  SELECT CASE WHEN count(*) = 1 THEN true
              ELSE error('search: movie ' || {fn}(query) || ' has ' || count(*)
                         || ' semantic IDs in {semantic_ids}; re-materialize semantic_ids') END AS ok
  FROM q
)
SELECT * FROM (
  SELECT s.movie_id, m.title, m.year, m.genres, s.sid,
         coalesce(list_position(list_transform(range(1, q.sid_levels + 1), lambda i: s.codes[i] = q.codes[i]), false)
                  - 1, q.sid_levels) AS shared_levels
  FROM {sids} s JOIN {mv} m ON m.movie_id = s.movie_id, q, n, guard
  WHERE guard.ok AND n.ok AND s.movie_id <> q.movie_id AND s.codes[1:n.depth] = q.codes[1:n.depth]
)
ORDER BY shared_levels DESC, movie_id""")
    else:
        statements.append(f"""CREATE OR REPLACE MACRO {s}.sid_siblings(query, levels := NULL) AS TABLE
SELECT error('search: sid_siblings needs the semantic_ids asset; materialize it, then refresh the catalogue')
       AS movie_id""")
    return statements


def macro_names(schema: str = "search") -> Sequence[str]:
    return [f"{schema}.movie_id_of", f"{schema}.similar_to", f"{schema}.sid_siblings"]
