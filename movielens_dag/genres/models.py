"""The classifiers: label-frequency baseline, logistic regression (scikit-learn) and a small torch MLP.

Each returns probabilities (N, G) for every movie; thresholds and scores are the evaluator's job.
scikit-learn and torch are imported inside the functions.
"""

import numpy as np

from movielens_dag.genres.settings import MlpSettings


def frequency_probabilities(y_train: np.ndarray, n: int) -> np.ndarray:
    """The baseline: every movie gets each genre's training frequency (knows the labels' prior only)."""
    return np.broadcast_to(y_train.mean(0, dtype=np.float64), (n, y_train.shape[1])).copy()


def logreg_probabilities(
    x_train: np.ndarray, y_train: np.ndarray, x: np.ndarray, c: float, threads: int | None = 1
) -> np.ndarray:
    """One L2-regularised logistic regression per genre (lbfgs, deterministic)."""
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits

    out = np.empty((x.shape[0], y_train.shape[1]))
    with threadpool_limits(limits=threads):
        for j in range(y_train.shape[1]):
            model = LogisticRegression(C=c, max_iter=2000).fit(x_train, y_train[:, j])
            out[:, j] = model.predict_proba(x)[:, 1]
    return out


def _mlp(d: int, g: int, settings: MlpSettings):
    from torch import nn

    return nn.Sequential(
        nn.Linear(d, settings.hidden),  # (B, d) -> (B, H)
        nn.GELU(),
        nn.Dropout(settings.dropout),
        nn.Linear(settings.hidden, g),  # (B, H) -> (B, G) logits
    )


def mlp_probabilities(
    x: np.ndarray,
    y: np.ndarray,
    train: np.ndarray,
    valid: np.ndarray,
    settings: MlpSettings,
    seed: int,
    threads: int | None = 1,
) -> tuple[np.ndarray, dict]:
    """Train on rows ``train`` with BCE, stop on the validation loss, return the best epoch's probabilities."""
    import torch
    import torch.nn.functional as F

    from movielens_dag.runtime import torch_threads

    with torch_threads(threads):
        torch.manual_seed(seed)
        gen = torch.Generator().manual_seed(seed)
        xt, yt = torch.from_numpy(np.asarray(x, np.float32)), torch.from_numpy(np.asarray(y, np.float32))
        model = _mlp(xt.shape[1], yt.shape[1], settings)
        opt = torch.optim.AdamW(model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
        tr, va = torch.from_numpy(train), torch.from_numpy(valid)
        best, best_state, best_epoch, waited, epoch = float("inf"), None, 0, 0, 0
        for epoch in range(1, settings.max_epochs + 1):
            model.train()
            for batch in tr[torch.randperm(tr.numel(), generator=gen)].split(settings.batch_size):
                loss = F.binary_cross_entropy_with_logits(model(xt[batch]), yt[batch])
                opt.zero_grad()
                loss.backward()
                opt.step()
            model.eval()
            with torch.no_grad():
                val = F.binary_cross_entropy_with_logits(model(xt[va]), yt[va]).item()
            if val < best - 1e-5:
                best, best_epoch, waited = val, epoch, 0
                best_state = {k: v.clone() for k, v in model.state_dict().items()}
            else:
                waited += 1
                if waited >= settings.patience:
                    break
        model.load_state_dict(best_state)
        model.eval()
        with torch.no_grad():
            p = torch.sigmoid(model(xt)).double().numpy()
    return p, {"best_epoch": best_epoch, "epochs": epoch, "valid_loss": best}
