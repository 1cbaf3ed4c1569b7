"""Movies that arrive after the fit get codes from the existing codebooks; old SIDs never change."""

import numpy as np
import pytest
import torch

from movielens_dag.semantic_ids import tables
from movielens_dag.semantic_ids.assign import encode_new, extend, load_rqvae, rqkmeans_from_codebooks
from movielens_dag.semantic_ids.fit import fit_semantic_ids
from movielens_dag.semantic_ids.ids import SemanticIds
from movielens_dag.semantic_ids.settings import RqvaeSettings, SidSettings

from .conftest import clustered


def setup_fit(method: str = "rqkmeans", **kw):
    x = clustered(600, 16, levels=3, branching=6, seed=0)
    ids = np.arange(1, 601) * 3  # sparse movie ids
    old = np.arange(600) < 500  # fit on the first 500 movies only
    settings = SidSettings(method=method, levels=3, codes=8, seed=0, **kw)
    fit = fit_semantic_ids(x[old], settings)
    return x, ids, old, fit, SemanticIds.with_digit(ids[old], fit.codes, method)


def nearest_old(x: np.ndarray, old: np.ndarray, i: int) -> int:
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)
    sims = xn[old] @ xn[i]
    return int(np.flatnonzero(old)[np.argmax(sims)])


def test_new_movies_keep_old_sids_and_share_their_neighbours_prefixes():
    x, ids, old, fit, before = setup_fit()
    # new movies: the held-out 100, plus near-copies of 5 old movies (their codes must collide)
    copies = np.flatnonzero(old)[:5]
    new_x = np.concatenate([x[~old], x[copies] + 1e-4])
    new_ids = np.concatenate([ids[~old], 10_000 + np.arange(5)])
    after = extend(before, new_ids, encode_new(fit.model, new_x))
    # every old SID, digit included, is unchanged
    rows = after.rows_for(before.movie_ids)
    assert np.array_equal(after.codes[rows], before.codes) and np.array_equal(after.digit[rows], before.digit)
    # the near-copies get their originals' codes and a digit no old movie of that tuple has
    for k, c in enumerate(copies):
        r = after.rows_for(np.array([10_000 + k]))[0]
        assert after.codes[r].tolist() == before.codes[c].tolist()
        same = np.all(before.codes == before.codes[c], axis=1)
        assert after.digit[r] > before.digit[same].max()
    # full SIDs stay unique
    assert len({tuple(r) for r in after.full_codes().tolist()}) == len(after)
    # held-out movies share the first code with their nearest old neighbour (clusters are well apart)
    agree = [
        after.codes[after.rows_for(ids[[i]])[0], 0] == before.codes[nearest_old(x, old, i), 0]
        for i in np.flatnonzero(~old)
    ]
    assert np.mean(agree) > 0.95


def test_codebooks_table_round_trip_encodes_the_same():
    x, _, old, fit, _ = setup_fit(spread=0.0)
    table = tables.codebooks_table(fit.codebooks, fit.codes, "rqkmeans", fit.codebook_space)
    again = rqkmeans_from_codebooks(table)
    assert np.array_equal(encode_new(again, x[~old]), encode_new(fit.model, x[~old]))
    # Old movies keep their stored codes (assign never re-encodes them). The stored codes come from the
    # fit's joint refinement; encoding the same vectors afresh lands on the same codes for most movies
    # and at the same reconstruction error, not necessarily on every same code.
    recoded = encode_new(again, x[old])
    assert (recoded == fit.codes).all(1).mean() > 0.7

    def error(codes):
        return float(((fit.x - fit.model.decode(torch.from_numpy(codes)).numpy()) ** 2).sum())

    assert error(recoded) <= error(fit.codes) * 1.03


def test_rqvae_checkpoint_encodes_new_movies(tmp_path):
    x, ids, old, fit, before = setup_fit(
        "rqvae", rqvae=RqvaeSettings(hidden_dims=(32,), latent_dim=8, epochs=3, batch_size=64)
    )
    path = tmp_path / "rqvae.pt"
    torch.save({"config": fit.model.config.__dict__, "state_dict": fit.model.state_dict()}, path)
    model = load_rqvae(path)
    assert np.array_equal(encode_new(model, x[old]), fit.codes)
    after = extend(before, ids[~old], encode_new(model, x[~old]))
    assert len(after) == 600 and np.array_equal(after.codes[after.rows_for(before.movie_ids)], before.codes)


def test_refusing_to_reassign_an_old_movie():
    x, ids, old, fit, before = setup_fit()
    with pytest.raises(ValueError, match="already have a semantic ID"):
        extend(before, ids[:2], encode_new(fit.model, x[:2]))
    with pytest.raises(ValueError, match="new codes must be"):
        extend(before, ids[~old][:2], np.zeros((2, 2), dtype=np.int64))
