"""The published preset stays exactly the paper's ML-1M setup; the new objectives are opt-in."""

import pytest

from movielens_dag.recommender.config import PUBLISHED, SMALL, TrainConfig, variant_config


def test_published_preset_is_the_papers():
    t, e = PUBLISHED.train, PUBLISHED.encoder
    assert (t.loss, t.windows, t.negative_sampling, t.num_negatives, t.batch_size, t.lr, t.temperature) == (
        "sampled",
        "last",
        "per_position",
        128,
        128,
        1e-3,
        0.05,
    )
    assert (t.max_epochs, t.patience, t.weight_decay) == (101, 10, 0.0)
    assert (e.dim, e.num_blocks, e.num_heads, e.max_len, e.dropout) == (50, 2, 1, 200, 0.2)
    assert variant_config("hstu-id", "published") == PUBLISHED
    assert variant_config("hstu-id", "ml-1m").train.loss == "sampled"


def test_small_preset_uses_the_new_objective_and_everything_is_configurable():
    t = SMALL.train
    assert (t.loss, t.temperature, t.windows, t.patience) == ("full_softmax", 0.1, "all", 30)
    cfg = variant_config("sasrec-id", "small", {"train": {"loss": "full_softmax", "windows": "sample"}})
    assert (cfg.train.loss, cfg.train.windows) == ("full_softmax", "sample")
    with pytest.raises(ValueError, match="loss must be one of"):
        TrainConfig(loss="bpr")
    with pytest.raises(ValueError, match="windows must be one of"):
        TrainConfig(windows="first")
