import pytest

from movielens_dag.movielens.titles import move_article, parse_title


@pytest.mark.parametrize(
    "raw, title, year, alternates",
    [
        ("Matrix, The (1999)", "The Matrix", 1999, []),
        ("Misérables, Les (1995)", "Les Misérables", 1995, []),
        ("Auberge espagnole, L' (2002)", "L'Auberge espagnole", 2002, []),
        (
            "City of Lost Children, The (Cité des enfants perdus, La) (1995)",
            "The City of Lost Children",
            1995,
            ["La Cité des enfants perdus"],
        ),
        ("Seven (a.k.a. Se7en) (1995)", "Seven", 1995, ["Se7en"]),
        (
            "Léon: The Professional (a.k.a. The Professional) (Léon) (1994)",
            "Léon: The Professional",
            1994,
            ["The Professional", "Léon"],
        ),
        (
            "Vitelloni, I (a.k.a. The Young and the Passionate) (1953)",
            "I Vitelloni",
            1953,
            ["The Young and the Passionate"],
        ),
        ("(500) Days of Summer (2009)", "(500) Days of Summer", 2009, []),
        ("Babylon 5", "Babylon 5", None, []),
        ("Hush (2016) ", "Hush", 2016, []),
        ("Fawlty Towers (1975-1979)", "Fawlty Towers", 1975, []),
        ("Honey, I Shrunk the Kids (1989)", "Honey, I Shrunk the Kids", 1989, []),
        ("Hip Hop Witch, Da (2000)", "Hip Hop Witch, Da", 2000, []),
        ("Shall We Dance? (Shall We Dansu?) (1996)", "Shall We Dance?", 1996, ["Shall We Dansu?"]),
    ],
)
def test_parse_title(raw, title, year, alternates):
    parsed = parse_title(raw)
    assert (parsed.title, parsed.year, parsed.alt_titles) == (title, year, alternates)


def test_move_article_only_moves_known_articles():
    assert move_article("Beat That My Heart Skipped, The") == "The Beat That My Heart Skipped"
    assert move_article("Crazy, Stupid, Love") == "Crazy, Stupid, Love"


def test_every_bundled_title_parses(bundled_release):
    import csv

    with open(bundled_release / "movies.csv", encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    parsed = [parse_title(r["title"]) for r in rows]
    assert all(p.title and not p.title.endswith(", The") for p in parsed)
    assert sum(p.year is None for p in parsed) == 12  # "Babylon 5", "Moonlight", … have no year
