"""Wikipedia plots CSV: multi-line quoted plots, line numbers, and the matching rules."""

from pathlib import Path

import pytest

from movielens_dag.enrichment.wikipedia import (
    MovieKey,
    WikipediaCsvError,
    WikiPlot,
    clean_plot,
    director_names,
    match_plots,
    read_plots,
)

SAMPLE = Path(__file__).parent.parent / "fixtures" / "wikipedia" / "sample.csv"


def plot(title, year, director="Unknown", line=2):
    return WikiPlot(line, year, title, "American", director, "", "", f"https://w/{title}_{year}_{director}", "Plot.")


def test_sample_with_multiline_plots():
    plots = read_plots(SAMPLE)
    assert len(plots) == 15
    kong = next(p for p in plots if p.title == "King Kong")
    assert kong.year == 1933 and "\n" in kong.plot and "[1]" not in kong.plot
    text = SAMPLE.read_text(encoding="utf-8").splitlines()
    assert text[kong.line - 1].startswith("1933.0,King Kong,")  # line = first physical line of the record
    assert [p.line for p in plots] == sorted(p.line for p in plots) and plots[0].line == 2


def test_full_extract(shared_dir):
    plots = read_plots(shared_dir / "fixtures" / "wikipedia" / "wiki_movie_plots_1901-1935.csv")
    assert len(plots) == 1992  # 1,999 rows, 7 repeat a Wiki page
    assert min(p.year for p in plots) == 1901 and max(p.year for p in plots) == 1935


def test_bad_year_and_header_name_the_line(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text(
        SAMPLE.read_text(encoding="utf-8").split("\n", 1)[0]
        + '\n1933.0,A,American,X,,drama,u,"one\ntwo"\nabc,B,American,Y,,drama,u2,p\n',
        encoding="utf-8",
    )
    with pytest.raises(WikipediaCsvError, match=r"bad.csv line 4: release year 'abc'"):
        read_plots(bad)
    bad.write_text("Year,Title\n", encoding="utf-8")
    with pytest.raises(WikipediaCsvError, match="line 1: expected header"):
        read_plots(bad)


def test_clean_plot():
    assert clean_plot("A man.[1] He  runs.[citation needed]\r\n\r\nThe end.[12]") == "A man. He runs.\nThe end."


def test_director_names():
    assert director_names("Joel Coen, Ethan Coen") == {"joel coen", "ethan coen"}
    assert director_names("Merian C. Cooper and Ernest B. Schoedsack") == {"merian c. cooper", "ernest b. schoedsack"}
    assert director_names("Unknown") == set()


def test_matching_rules():
    plots = [
        plot("King Kong", 1933),
        plot("The Mummy", 1932, line=3),
        plot("Camille", 1921, "Ray C. Smallwood"),
        plot("Camille", 1921, "Someone Else"),
        plot("Hamlet", 1920, "A"),
        plot("Hamlet", 1920, "B"),
        plot("Les Misérables", 1935),
        plot("Dracula", 1931),
    ]
    movies = [
        MovieKey(1, "King Kong", 1933),
        MovieKey(2, "Mummy", 1933),  # article dropped, year ±1
        MovieKey(3, "Camille", 1921, directors=("Ray C. Smallwood",)),  # director breaks the tie
        MovieKey(4, "Hamlet", 1920, directors=("Nobody",)),  # still ambiguous
        MovieKey(5, "Misérables, Les", 1935, alt_titles=("Les Miserables",)),
        MovieKey(6, "Dracula", 1958),
        MovieKey(7, "Dracula", None),
    ]
    result = match_plots(movies, plots)
    how = {m: h for m, (_, h) in result.matches.items()}
    assert how == {1: "title+year", 2: "title+year±1", 3: "title+year+director", 5: "title+year"}
    assert result.matches[3][0].director == "Ray C. Smallwood"
    assert [p.director for p in result.ambiguous[4]] == ["A", "B"]
    assert result.no_year == 1 and result.eligible == 5  # 1958 lies outside 1920–1935


def test_exact_year_beats_neighbouring_year():
    plots = [plot("Frankenstein", 1931, "James Whale"), plot("Frankenstein", 1930, "Other")]
    result = match_plots([MovieKey(1, "Frankenstein", 1931)], plots)
    assert result.matches[1][0].director == "James Whale" and not result.ambiguous
