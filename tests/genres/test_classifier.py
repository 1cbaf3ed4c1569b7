"""The genre classifier on MiniLM vectors of real genre-blind documents, and its building blocks."""

import numpy as np
import pytest

from movielens_dag.genres import evaluate
from movielens_dag.genres.chart import f1_chart
from movielens_dag.genres.data import split_of
from movielens_dag.genres.pipeline import BASELINE, predictions_table, summary_markdown, train_genre_classifier
from movielens_dag.genres.settings import GenreClassifierSettings, MlpSettings
from movielens_dag.semantic_ids.tables import embedding_matrix

FAST = GenreClassifierSettings(
    logreg_c=(1.0, 4.0), seeds=(0, 1, 2), bootstrap=300, mlp=MlpSettings(max_epochs=60, patience=5)
)


@pytest.fixture(scope="module")
def run(blind_embeddings, foundation_tables):
    ids, x, _ = embedding_matrix(blind_embeddings)
    return train_genre_classifier(ids, x, foundation_tables["movies"], FAST, log=lambda _: None)


def test_both_models_beat_the_label_frequency_baseline_on_test(run):
    summary = {r["model"]: r for r in run.summary()}
    base = summary[BASELINE]["test_micro_f1"]
    assert summary[run.selected]["test_micro_f1"] > base + 0.03, summary_markdown(run)
    for model in ("logreg", "mlp"):  # on this 2,500-movie subset the MLP gains less than on all movies
        assert summary[model]["test_micro_f1"] > base, summary_markdown(run)
    low, high = run.ci
    assert 0 < low < high, summary_markdown(run)  # the selected model's gain is outside the bootstrap noise
    assert summary["mlp"]["seeds"] == 3 and summary["mlp"]["test_micro_f1_std"] > 0  # seeds really differ
    assert run.selected in ("logreg", "mlp")


def test_report_has_every_genre_and_the_aggregates(run):
    report = run.report_table().to_pylist()
    genres = {r["genre"] for r in report if r["model"] == "logreg"}
    assert genres == set(run.data.genres) | {"micro", "macro"}
    for r in report:
        assert 0 <= r["f1"] <= 1
        if r["model"] == "logreg" and r["genre"] not in ("micro", "macro"):  # one fit: a grid value
            assert np.abs(evaluate.THRESHOLDS - r["threshold"]).min() < 1e-9


def test_predictions_propose_genres_for_unlabelled_movies_and_flag_confident_disagreements(run, foundation_tables):
    table = predictions_table(run, foundation_tables["movies"]).to_pylist()
    assert len(table) == len(run.data.movie_ids)
    unlabelled = [r for r in table if r["split"] == "unlabelled"]
    assert len(unlabelled) == 34  # the bundled release's "(no genres listed)" movies
    assert all(
        r["review"] == "propose genres" and r["predicted_genres"] and not r["movielens_genres"] for r in unlabelled
    )
    for r in table:
        probs = [p["probability"] for p in r["probabilities"]]
        assert probs == sorted(probs, reverse=True) and len(probs) == len(run.data.genres)
        assert (r["review"] == "check genres") == r["disagrees"]
        assert set(r["extra_genres"]) <= set(r["predicted_genres"])
    flagged = [r for r in table if r["disagrees"]]
    assert 0 < len(flagged) < 0.2 * len(table)  # a review list, not everything


def test_chart_is_a_png(run, tmp_path):
    path = f1_chart(run, tmp_path / "genre_f1.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 10_000


def test_thresholds_maximise_f1_on_the_given_data():
    y = np.array([[1], [1], [0], [0]], bool)
    p = np.array([[0.9], [0.6], [0.55], [0.1]])
    assert evaluate.choose_thresholds(p, y)[0] == pytest.approx(0.56)  # just above the negative's 0.55
    assert evaluate.choose_thresholds(p, np.zeros_like(y))[0] == 0.5  # no positives: the default


def test_decode_gives_every_movie_a_genre_and_scores_match_hand_counts():
    p = np.array([[0.9, 0.1], [0.2, 0.3], [0.05, 0.01]])
    pred = evaluate.decode(p, np.array([0.5, 0.5]))
    assert pred.tolist() == [[True, False], [False, True], [True, False]]
    y = np.array([[1, 0], [1, 1], [0, 0]], bool)
    s = evaluate.scores(y, pred)
    # genre 0: tp 1, fp 1, fn 1; genre 1: tp 1, fp 0, fn 0
    assert s.f1.tolist() == pytest.approx([0.5, 1.0])
    assert s.micro_f1 == pytest.approx(2 * 2 / (2 * 2 + 1 + 1))
    assert s.macro_f1 == pytest.approx(0.75)


def test_shared_threshold_is_the_best_top_m_frequency_rule():
    freq = np.array([0.6, 0.3, 0.05])
    p = np.tile(freq, (4, 1))
    y = np.array([[1, 0, 0], [1, 1, 0], [1, 0, 0], [0, 1, 1]], bool)
    t = evaluate.choose_shared_threshold(p, y)
    assert t == pytest.approx(0.3)  # predict the two most frequent genres


def test_split_is_stable_and_close_to_the_fractions():
    ids = np.arange(1, 20001)
    split = split_of(ids, 0.15, 0.15, seed=0)
    assert (split == "test").mean() == pytest.approx(0.15, abs=0.01)
    assert (split == "valid").mean() == pytest.approx(0.15, abs=0.01)
    np.testing.assert_array_equal(split_of(ids[::7], 0.15, 0.15, seed=0), split[::7])  # per movie, not per set
    assert (split_of(ids, 0.15, 0.15, seed=1) != split).any()


def test_settings_are_checked():
    with pytest.raises(ValueError, match="leave movies for training"):
        GenreClassifierSettings(valid_fraction=0.5, test_fraction=0.5).validate()
    with pytest.raises(ValueError, match="models"):
        GenreClassifierSettings(models=("svm",)).validate()
