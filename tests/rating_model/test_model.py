"""The model pieces against hand computations: interactions, biases, MF, the DLRM's wiring."""

import numpy as np
import pytest
import torch

from movielens_dag.rating_model.features import FeatureTables
from movielens_dag.rating_model.model import DLRM, BiasModel, DotInteraction, MatrixFactorization, batch_of
from movielens_dag.rating_model.settings import FeatureSettings, ModelSettings, RatingModelSettings


def test_dot_interaction_matches_hand_computation():
    # one example, three vectors of size 2: a=(1,2), b=(3,-1), c=(0,5)
    x = torch.tensor([[[1.0, 2.0], [3.0, -1.0], [0.0, 5.0]]])  # [1, 3, 2]
    # pairs (a,b), (a,c), (b,c): 1*3 + 2*-1 = 1, 1*0 + 2*5 = 10, 3*0 + -1*5 = -5
    assert DotInteraction()(x).tolist() == [[1.0, 10.0, -5.0]]
    # a batch of random vectors: every pair (i < j) in row-major order, nothing else
    x = torch.randn(4, 5, 3)
    got = DotInteraction()(x)
    expected = torch.stack([(x[:, i] * x[:, j]).sum(-1) for i in range(5) for j in range(i + 1, 5)], dim=1)
    assert got.shape == (4, 10)
    torch.testing.assert_close(got, expected)


def tables(users: int = 4, movies: int = 5) -> FeatureTables:
    return FeatureTables(num_users=users, num_movies=movies)


def test_bias_model_is_mean_plus_biases_and_unk_rows_are_separate():
    m = BiasModel(tables(), global_mean=3.5)
    with torch.no_grad():
        m.user_bias.weight[:, 0] = torch.tensor([0.0, 0.5, -0.25, 1.0])
        m.movie_bias.weight[:, 0] = torch.tensor([-0.1, 0.2, 0.0, 0.3, -0.4])
    pred, penalty = m(batch_of(np.array([1, 2, 0]), np.array([3, 0, 4]), np.zeros(3, np.int64)))
    torch.testing.assert_close(pred, torch.tensor([3.5 + 0.5 + 0.3, 3.5 - 0.25 - 0.1, 3.5 + 0.0 - 0.4]))
    # penalty: mean over the batch of the squared looked-up biases
    expected = np.mean([0.5**2 + 0.3**2, 0.25**2 + 0.1**2, 0.0 + 0.4**2])
    assert penalty.item() == pytest.approx(expected, rel=1e-6)


def test_matrix_factorization_adds_the_dot_product():
    m = MatrixFactorization(tables(), global_mean=3.0, dim=2)
    with torch.no_grad():
        m.user_vec.weight[1] = torch.tensor([1.0, 2.0])
        m.movie_vec.weight[2] = torch.tensor([0.5, -1.0])
    pred, _ = m(batch_of(np.array([1]), np.array([2]), np.array([0])))
    assert pred.item() == pytest.approx(3.0 + 1.0 * 0.5 + 2.0 * -1.0)


def dlrm_tables() -> FeatureTables:
    # catalogue rows 0..3 (0 = not in the catalogue); genres padded to 2, one SID level with 3 codes
    return FeatureTables(
        num_users=3,
        num_movies=4,
        genres=np.array([[0, 0], [1, 2], [2, 0], [0, 0]]),
        num_genres=3,
        year=np.array([0, 1, 2, 1]),
        num_years=3,
        sid=np.array([[0], [1], [3], [2]]),
        sid_sizes=(4,),
        item_dense=np.arange(4 * 3, dtype=np.float32).reshape(4, 3),
        user_dense=np.ones((3, 1), np.float32),
        dense_names=["t0", "t1", "t2", "activity"],
    )


def test_dlrm_equals_the_hand_wired_computation():
    features = FeatureSettings(genres=True, year=True, sid_levels=1, text=True, user_activity=True)
    cfg = ModelSettings(kind="dlrm", dim=4, bottom_mlp=(5,), top_mlp=(6,))
    torch.manual_seed(0)
    m = DLRM(dlrm_tables(), 3.0, features, cfg).eval()
    b = batch_of(np.array([1, 0, 2]), np.array([3, 0, 1]), np.array([1, 2, 0]))
    pred, _ = m(b)

    t = m.sparse.tables
    genre_rows = torch.tensor([[1, 2], [2, 0], [0, 0]])
    genre = torch.stack(
        [t["genres"].weight[[1, 2]].mean(0), t["genres"].weight[2], torch.zeros(4)]
    )  # an empty bag (not in the catalogue) is the zero vector
    assert (genre_rows > 0).sum().item() == 3
    sparse = [
        t["user"].weight[[1, 0, 2]],
        t["movie"].weight[[3, 0, 1]],
        genre,
        t["year"].weight[[1, 2, 0]],
        t["sid0"].weight[[1, 3, 0]],
    ]
    dense = torch.cat([torch.tensor(dlrm_tables().item_dense[[1, 2, 0]]), torch.ones(3, 1)], dim=1)
    z = m.bottom(dense)
    vecs = [z, *sparse]  # F = 6 vectors
    dots = torch.stack([(vecs[i] * vecs[j]).sum(-1) for i in range(6) for j in range(i + 1, 6)], dim=1)
    expected = 3.0 + m.top(torch.cat([z, dots], dim=1)).squeeze(-1)
    torch.testing.assert_close(pred, expected)
    assert m.top[0].in_features == 4 + 15  # bottom vector + 6 * 5 / 2 pairs


def test_settings_refuse_impossible_models():
    with pytest.raises(ValueError, match="exactly the user and movie ids"):
        RatingModelSettings(model=ModelSettings(kind="bias"), features=FeatureSettings(text=True))
    with pytest.raises(ValueError, match="at least two"):
        RatingModelSettings(features=FeatureSettings(user_id=False, movie_id=True))
    with pytest.raises(ValueError, match="model kind"):
        ModelSettings(kind="svd")
