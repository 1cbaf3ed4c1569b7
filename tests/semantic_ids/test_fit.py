import numpy as np
import pytest

from movielens_dag.semantic_ids.fit import fit_semantic_ids
from movielens_dag.semantic_ids.ids import SemanticIds
from movielens_dag.semantic_ids.settings import RqvaeSettings, SemanticIdConfigError, SidSettings
from tests.semantic_ids.conftest import clustered


@pytest.mark.parametrize("method", ["rqkmeans", "rqvae"])
def test_every_item_gets_a_unique_sid(method):
    x = clustered(400, 16, levels=2, branching=5, seed=0, noise=0.05)
    config = SidSettings(
        method=method,
        levels=2,
        codes=20,
        rqvae=RqvaeSettings(hidden_dims=(32,), latent_dim=8, epochs=5, batch_size=128),
    )
    fit = fit_semantic_ids(x, config)
    sids = SemanticIds.with_digit(np.arange(400), fit.codes, method)
    assert fit.codes.shape == (400, 2) and sids.full_codes().shape == (400, 3)
    assert len(np.unique(sids.full_codes(), axis=0)) == 400
    assert (sids.codes == fit.codes).all() and sids.levels == 2 and sids.has_digit
    assert fit.x.shape == fit.x_hat.shape == (400, 16)
    np.testing.assert_allclose(np.linalg.norm(fit.x, axis=1), 1.0, rtol=1e-5)  # normalised by default
    assert fit.codebooks.shape == (2, 20, 16 if method == "rqkmeans" else 8)


def test_bad_config_is_refused_before_any_work():
    x = np.random.default_rng(0).standard_normal((50, 4)).astype(np.float32)
    with pytest.raises(SemanticIdConfigError, match="method must be one of"):
        fit_semantic_ids(x, SidSettings(method="pq", codes=8, levels=2))
    with pytest.raises(SemanticIdConfigError, match="balanced=True applies to method 'rqkmeans' only"):
        fit_semantic_ids(x, SidSettings(method="rqvae", balanced=True, codes=8, levels=2))
    with pytest.raises(SemanticIdConfigError, match="larger than the number of items"):
        fit_semantic_ids(x, SidSettings(codes=64))
    with pytest.raises(SemanticIdConfigError, match="raise `levels` to 2"):
        fit_semantic_ids(x, SidSettings(codes=8, levels=1))
    with pytest.raises(SemanticIdConfigError, match="no CUDA GPU"):
        import torch

        if torch.cuda.is_available():
            pytest.skip("a GPU is present")
        fit_semantic_ids(x, SidSettings(codes=8, levels=2, device="cuda"))
