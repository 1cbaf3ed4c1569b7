"""MovieLens title strings → display title, year and alternate titles.

"Matrix, The (1999)" → ("The Matrix", 1999, []);
"City of Lost Children, The (Cité des enfants perdus, La) (1995)"
    → ("The City of Lost Children", 1995, ["La Cité des enfants perdus"]);
"Seven (a.k.a. Se7en) (1995)" → ("Seven", 1995, ["Se7en"]).
"""

import re
from dataclasses import dataclass, field

# Articles MovieLens moves to the end ("Misérables, Les"). Only ever matched after a final comma.
# Taken from what the releases contain; "I" (Italian plural) included, "Da"/"O" left out because
# English titles end with them ("Hello, Da").
_ARTICLES = {
    "the",
    "a",
    "an",
    "les",
    "la",
    "le",
    "l'",
    "il",
    "i",
    "lo",
    "gli",
    "das",
    "der",
    "die",
    "den",
    "det",
    "de",
    "des",
    "el",
    "los",
    "las",
    "un",
    "une",
    "uno",
    "una",
    "ett",
    "en",
    "ein",
    "eine",
    "het",
    "os",
    "as",
}

_YEAR = re.compile(r"\s*\((\d{4})(?:\s*[-–]\s*(?:\d{4})?)?\)\s*$")
_PAREN = re.compile(r"\s*\(([^()]*)\)\s*$")
_AKA = re.compile(r"^(?:a\.k\.a\.|aka)\s+", re.IGNORECASE)
_TRAILING_ARTICLE = re.compile(r"^(?P<body>.+?),\s*(?P<article>[^\s,]+)\s*$")


@dataclass(frozen=True)
class ParsedTitle:
    title: str
    year: int | None
    alt_titles: list[str] = field(default_factory=list)


def move_article(title: str) -> str:
    """'Matrix, The' → 'The Matrix'; "Auberge espagnole, L'" → "L'Auberge espagnole"."""
    match = _TRAILING_ARTICLE.match(title.strip())
    if not match:
        return title.strip()
    body, article = match["body"], match["article"]
    if article.lower() not in _ARTICLES:
        return title.strip()
    return f"{article}{body}" if article.endswith("'") else f"{article} {body}"


def parse_title(raw: str) -> ParsedTitle:
    text = " ".join(raw.split())  # collapse stray whitespace and trailing blanks
    year = None
    match = _YEAR.search(text)
    if match:
        year = int(match.group(1))
        text = text[: match.start()]
    alternates: list[str] = []
    # Peel parenthesised alternates off the end; keep the title itself if it is all parentheses.
    while (match := _PAREN.search(text)) and match.start() > 0:
        inner = match.group(1).strip()
        text = text[: match.start()]
        if inner:
            alternates.insert(0, move_article(_AKA.sub("", inner)))
    title = move_article(text)
    return ParsedTitle(title=title, year=year, alt_titles=[a for a in alternates if a and a != title])
