"""Manual TMDB/IMDb id overrides: ``data/overrides/tmdb_ids.csv`` (movie_id, tmdb_id, imdb_id, note).

A row pins a movie to a TMDB id and/or an IMDb id, beating every automatic method. Lines starting
with '#' and blank lines are ignored. Every problem is reported at once, each naming file and line.
The file is UTF-8, with or without the byte-order mark Excel writes ("CSV UTF-8").
"""

import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path

COLUMNS = ["movie_id", "tmdb_id", "imdb_id", "note"]
HEADER_LINE = ",".join(COLUMNS)
_IMDB_ID = re.compile(r"^tt\d{7,9}$")


@dataclass(frozen=True)
class Override:
    movie_id: int
    tmdb_id: int | None
    imdb_id: str | None
    note: str
    line: int


class OverridesError(ValueError):
    def __init__(self, path: Path, problems: list[str]):
        super().__init__(f"{path}: {len(problems)} problem(s) in the overrides file:\n  " + "\n  ".join(problems))
        self.path, self.problems = path, problems


def read_overrides(path: Path, known_movie_ids: set[int] | None = None) -> dict[int, Override]:
    """Parse and validate; a missing file means no overrides."""
    path = Path(path)
    if not path.exists():
        return {}
    problems: list[str] = []
    overrides: dict[int, Override] = {}
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")  # Excel's "CSV UTF-8" starts with a BOM
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        problem = (
            f"{path.name} line {line}: bytes {data[exc.start : exc.start + 4]!r} are not UTF-8; save the "
            "file as 'CSV UTF-8' (Excel) or UTF-8 text"
        )
        raise OverridesError(path, [problem]) from None
    rows = list(csv.reader(io.StringIO(text, newline="")))
    header_seen = False
    for line_no, row in enumerate(rows, start=1):
        if not row or not "".join(row).strip() or row[0].lstrip().startswith("#"):
            continue
        cells = [c.strip() for c in row]
        where = f"{path.name} line {line_no}"
        if not header_seen:
            header_seen = True
            if cells[: len(COLUMNS)] != COLUMNS:
                problems.append(f"{where}: header must be '{HEADER_LINE}', found '{','.join(cells)}'")
                break
            continue
        if len(cells) > len(COLUMNS) or len(cells) < 3:
            problems.append(f"{where}: expected {len(COLUMNS)} columns ({HEADER_LINE}), found {len(cells)}: {row}")
            continue
        movie_raw, tmdb_raw, imdb_raw = cells[0], cells[1], cells[2]
        note = cells[3] if len(cells) > 3 else ""
        if not movie_raw.isdigit():
            problems.append(f"{where}: movie_id {movie_raw!r} is not a number")
            continue
        movie_id = int(movie_raw)
        if known_movie_ids is not None and movie_id not in known_movie_ids:
            problems.append(f"{where}: movie_id {movie_id} is not a movie of this MovieLens variant")
        if movie_id in overrides:
            problems.append(f"{where}: duplicate movie_id {movie_id} (first on line {overrides[movie_id].line})")
            continue
        if tmdb_raw and not tmdb_raw.isdigit():
            problems.append(f"{where}: tmdb_id {tmdb_raw!r} is not a number")
            continue
        if imdb_raw and not _IMDB_ID.match(imdb_raw):
            problems.append(f"{where}: imdb_id {imdb_raw!r} is not like 'tt0114709'")
            continue
        if not tmdb_raw and not imdb_raw:
            problems.append(f"{where}: give a tmdb_id, an imdb_id or both for movie_id {movie_id}")
            continue
        overrides[movie_id] = Override(movie_id, int(tmdb_raw) if tmdb_raw else None, imdb_raw or None, note, line_no)
    if problems:
        raise OverridesError(path, problems)
    return overrides
