"""Training: minibatch MSE + L2 on the looked-up rows, early stopping on validation RMSE, one test pass.

``train_model`` trains one seed. Model selection sees only the validation ratings; the test ratings
are predicted once, with the weights of the best validation epoch.
"""

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from .features import PreparedRatings
from .metrics import evaluate
from .model import batch_of, build_model, count_params
from .settings import RatingModelSettings


@dataclass
class EpochLog:
    epoch: int
    loss: float  # mean training squared error (without the penalty)
    valid_rmse: float
    seconds: float
    best: bool


@dataclass
class TrainResult:
    seed: int
    best_epoch: int
    epochs_run: int
    valid: dict[str, float]  # at the best epoch
    test: dict[str, float]  # computed once, at the best epoch
    test_pred: np.ndarray  # [n_test] predictions, in split.rows("test") order
    history: list[EpochLog] = field(default_factory=list)
    num_params: int = 0
    wall_seconds: float = 0.0
    cpu_seconds: float = 0.0


@torch.no_grad()
def predict(
    model: torch.nn.Module, data: PreparedRatings, rows: np.ndarray, batch_size: int, device: str = "cpu"
) -> np.ndarray:
    """Predicted ratings of ``rows``, clipped to the training rating range -> [len(rows)] float32."""
    was_training = model.training
    model.eval()
    out = []
    for i in range(0, len(rows), batch_size):
        r = rows[i : i + batch_size]
        pred, _ = model(batch_of(data.user[r], data.movie[r], data.item[r]).to(device))  # [b]
        out.append(pred.float().cpu().numpy())
    model.train(was_training)
    lo, hi = data.rating_range
    return np.clip(np.concatenate(out) if out else np.zeros(0, np.float32), lo, hi)


def metrics_of(data: PreparedRatings, rows: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    return evaluate(
        pred,
        data.rating[rows].astype(np.float64),
        data.user_ids[rows],
        data.movie_train_count[rows],
        data.user_train_count[rows],
    )


def _optimizer(model: torch.nn.Module, settings: RatingModelSettings) -> torch.optim.Optimizer:
    """AdamW: embedding tables without weight decay (they get the L2 penalty), MLP weights with it."""
    tables = [p for m in model.modules() if isinstance(m, torch.nn.Embedding) for p in m.parameters()]
    table_ids = {id(p) for p in tables}
    rest = [p for p in model.parameters() if id(p) not in table_ids]
    return torch.optim.AdamW(
        [{"params": tables, "weight_decay": 0.0}, {"params": rest, "weight_decay": settings.train.weight_decay}],
        lr=settings.train.lr,
    )


def train_epoch(
    model: torch.nn.Module,
    opt: torch.optim.Optimizer,
    data: PreparedRatings,
    rows: np.ndarray,
    settings: RatingModelSettings,
    gen: torch.Generator,
    device: str,
) -> float:
    model.train()
    t = settings.train
    order = rows[torch.randperm(len(rows), generator=gen).numpy()]
    y_all = torch.from_numpy(data.rating)
    total = 0.0
    for i in range(0, len(order), t.batch_size):
        r = order[i : i + t.batch_size]
        batch = batch_of(data.user[r], data.movie[r], data.item[r])
        # some ids become UNK, so the UNK rows learn the unseen user / movie
        if t.user_id_dropout:
            batch.user = batch.user.masked_fill(torch.rand(len(r), generator=gen) < t.user_id_dropout, 0)
        if t.movie_id_dropout:
            batch.movie = batch.movie.masked_fill(torch.rand(len(r), generator=gen) < t.movie_id_dropout, 0)
        y = y_all[r].to(device)  # [B]
        pred, penalty = model(batch.to(device))  # [B], scalar
        mse = (pred - y).pow(2).mean()
        loss = mse + t.l2 * penalty
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        total += mse.item() * len(r)
    return total / max(len(order), 1)


def train_model(
    settings: RatingModelSettings,
    data: PreparedRatings,
    seed: int,
    device: str = "cpu",
    on_epoch: Callable[[EpochLog], None] | None = None,
    test: bool = True,
) -> TrainResult:
    """Train one seed with early stopping on validation RMSE; test once at the best epoch (``test=False``:
    never predict the test ratings, for tuning)."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model = build_model(settings.model, settings.features, data.tables, data.global_mean).to(device)
    opt = _optimizer(model, settings)
    train_rows, valid_rows, test_rows = (data.split.rows(s) for s in ("train", "valid", "test"))
    t = settings.train
    best = (float("inf"), 0, copy.deepcopy(model.state_dict()))
    history: list[EpochLog] = []
    bad, wall0, cpu0 = 0, time.perf_counter(), time.process_time()
    for epoch in range(1, t.max_epochs + 1):
        t0 = time.perf_counter()
        loss = train_epoch(model, opt, data, train_rows, settings, gen, device)
        valid_rmse = metrics_of(data, valid_rows, predict(model, data, valid_rows, t.eval_batch_size, device))["rmse"]
        is_best = valid_rmse < best[0]
        if is_best:
            best, bad = (valid_rmse, epoch, copy.deepcopy(model.state_dict())), 0
        else:
            bad += 1
        history.append(EpochLog(epoch, loss, valid_rmse, time.perf_counter() - t0, is_best))
        if on_epoch is not None:
            on_epoch(history[-1])
        if bad >= t.patience:
            break
    model.load_state_dict(best[2])
    valid = metrics_of(data, valid_rows, predict(model, data, valid_rows, t.eval_batch_size, device))
    test_rows = test_rows if test else test_rows[:0]
    test_pred = predict(model, data, test_rows, t.eval_batch_size, device)  # the one test pass
    return TrainResult(
        seed=seed,
        best_epoch=best[1],
        epochs_run=len(history),
        valid=valid,
        test=metrics_of(data, test_rows, test_pred) if test else {},
        test_pred=test_pred,
        history=history,
        num_params=count_params(model),
        wall_seconds=time.perf_counter() - wall0,
        cpu_seconds=time.process_time() - cpu0,
    )
