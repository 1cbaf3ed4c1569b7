"""Title keys and the TMDB candidate choice on tricky titles."""

import pytest

from movielens_dag.enrichment.titles import normalise_title, title_variants, year_of
from movielens_dag.enrichment.tmdb import LOW_CONFIDENCE, Candidate, choose
from movielens_dag.movielens.titles import parse_title


@pytest.mark.parametrize(
    "a, b",
    [
        ("The Matrix", "Matrix"),
        ("Léon: The Professional", "Leon - The Professional"),
        ("Tom & Jerry", "Tom and Jerry"),
        ("What's Up, Doc?", "Whats Up Doc"),
        ("Alien³", "Alien3"),  # NFKD folds the superscript
        ("Rocky II", "Rocky 2"),
        ("Amélie", "AMELIE"),
        ("#Horror", "Horror"),
        ("Les Misérables", "Miserables"),
        ("Se7en", "se7en"),
    ],
)
def test_equal_keys(a, b):
    assert normalise_title(a) == normalise_title(b)


@pytest.mark.parametrize(
    "a, b",
    [
        ("Rocky II", "Rocky III"),
        ("A", "An"),  # a lone article is the title, not dropped
        ("Heat", "Hate"),
        ("M", "W"),
    ],
)
def test_different_keys(a, b):
    assert normalise_title(a) != normalise_title(b)


def test_aka_and_parenthesised_titles_become_variants():
    parsed = parse_title("Léon: The Professional (a.k.a. The Professional) (Léon) (1994)")
    variants = title_variants(parsed.title, parsed.alt_titles)
    assert variants == ["Léon: The Professional", "The Professional", "Léon"]
    assert title_variants("Seven", ["Se7en", "SEVEN"]) == ["Seven", "Se7en"]  # distinct by key


def test_year_of():
    assert year_of("1999-10-15") == 1999 and year_of("") is None and year_of(None) is None


def cand(tmdb_id, title, year, votes, original=None):
    return Candidate(tmdb_id, title, original or title, year, votes, votes / 10)


def test_exact_title_and_year_beats_votes():
    pool = [
        cand(1, "The Matrix Reloaded", 1999, 90000),
        cand(2, "The Matrix", 1999, 20000),
        cand(3, "The Matrix", 2021, 50000),
    ]
    choice = choose(pool, ["Matrix, The", "The Matrix"], 1999)
    assert choice.candidate.tmdb_id == 2 and choice.confidence >= LOW_CONFIDENCE


def test_original_title_and_year_off_by_one():
    pool = [cand(5, "Amelie", 2002, 100, original="Le Fabuleux Destin d'Amélie Poulain")]
    choice = choose(pool, ["Amélie", "Fabuleux destin d'Amélie Poulain, Le"], 2001)
    assert choice.candidate.tmdb_id == 5 and choice.reason == "exact title, year ±1"
    exact = choose(
        [cand(6, "Le Fabuleux Destin d'Amélie Poulain", 2001, 5)], ["Le Fabuleux Destin d'Amélie Poulain"], 2001
    )
    assert exact.confidence == 0.95


def test_no_exact_title_falls_back_to_most_votes_with_low_confidence():
    pool = [cand(1, "Something Else", 1995, 10), cand(2, "Other", 1995, 500)]
    choice = choose(pool, ["Missing Title"], 1995)
    assert choice.candidate.tmdb_id == 2 and choice.confidence < LOW_CONFIDENCE


def test_near_tie_between_exact_matches_is_not_confident():
    pool = [cand(1, "Hamlet", 1990, 100), cand(2, "Hamlet", 1990, 120)]
    choice = choose(pool, ["Hamlet"], 1990)
    assert choice.candidate.tmdb_id == 2 and choice.confidence < LOW_CONFIDENCE


def test_no_candidates():
    assert choose([], ["x"], 2000).candidate is None
