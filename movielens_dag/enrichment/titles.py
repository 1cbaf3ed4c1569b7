"""Title normalisation for matching across sources ("Matrix, The" / "The Matrix" / "MATRIX").

The key folds case and accents, turns '&' into 'and', drops punctuation and a leading article, and
writes Roman numerals II–X as digits, so "Léon: The Professional" == "Leon - The Professional" and
"Rocky II" == "Rocky 2". It is a matching key, never shown to anyone.
"""

import re
import unicodedata

_LEADING_ARTICLES = {
    "the",
    "a",
    "an",
    "les",
    "la",
    "le",
    "l",
    "il",
    "lo",
    "gli",
    "el",
    "los",
    "las",
    "der",
    "die",
    "das",
    "den",
    "det",
    "de",
    "het",
    "un",
    "une",
    "uno",
    "una",
    "ein",
    "eine",
}
_ROMAN = {"ii": "2", "iii": "3", "iv": "4", "v": "5", "vi": "6", "vii": "7", "viii": "8", "ix": "9", "x": "10"}
_APOSTROPHES = re.compile(r"['’`´]")
_NON_WORD = re.compile(r"[^\w]+")


def fold_accents(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def normalise_title(title: str | None) -> str:
    if not title:
        return ""
    text = fold_accents(title).casefold().replace("&", " and ")
    text = _APOSTROPHES.sub("", text)
    words = [w for w in _NON_WORD.sub(" ", text).replace("_", " ").split()]
    words = [_ROMAN.get(w, w) for w in words]
    if len(words) > 1 and words[0] in _LEADING_ARTICLES:
        words = words[1:]
    return " ".join(words)


def title_variants(title: str, alt_titles: list[str] | None = None) -> list[str]:
    """The title then its alternates (a.k.a. / parenthesised), distinct by normalised key."""
    seen: set[str] = set()
    variants: list[str] = []
    for candidate in [title, *(alt_titles or [])]:
        key = normalise_title(candidate)
        if candidate and key and key not in seen:
            seen.add(key)
            variants.append(candidate.strip())
    return variants


def year_of(date: str | None) -> int | None:
    """'1999-10-15' → 1999; '' / None → None."""
    if date and len(date) >= 4 and date[:4].isdigit():
        return int(date[:4])
    return None
