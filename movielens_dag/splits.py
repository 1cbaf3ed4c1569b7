"""Global time cuts shared by every model evaluated on held-out time (recommender and rating model).

Train on events before ``valid_start``, validate on events in [valid_start, test_start), test on
events at or after ``test_start``. The cuts are quantiles of all rating timestamps, so the recommender's
temporal protocol and the rating model split the same release at the same instants.

Plain code: numpy only.
"""

from dataclasses import dataclass

import numpy as np

from movielens_dag.settings import setting


@dataclass(frozen=True)
class TemporalSplitSettings:
    """Where the two global cuts fall, as quantiles of the rating timestamps."""

    valid_quantile: float = setting(0.8, "Events before this timestamp quantile train the model.")
    test_quantile: float = setting(0.9, "Events from this quantile on are the test period.")

    def __post_init__(self) -> None:
        if not 0.0 < self.valid_quantile < self.test_quantile < 1.0:
            raise ValueError(
                f"need 0 < valid_quantile < test_quantile < 1, got {self.valid_quantile} and {self.test_quantile}"
            )


@dataclass(frozen=True)
class TemporalCuts:
    valid_start: int  # unix seconds: first instant of the validation period
    test_start: int  # unix seconds: first instant of the test period

    def period(self, seconds: np.ndarray) -> np.ndarray:
        """0 = train, 1 = validation, 2 = test, per event (int8)."""
        t = np.asarray(seconds, dtype=np.int64)
        return (t >= self.valid_start).astype(np.int8) + (t >= self.test_start).astype(np.int8)


def temporal_cuts(seconds: np.ndarray, settings: TemporalSplitSettings = TemporalSplitSettings()) -> TemporalCuts:
    """The two cuts for these event timestamps (unix seconds). Each period must hold events."""
    t = np.asarray(seconds, dtype=np.int64)
    if t.size == 0:
        raise ValueError("no events to split by time")
    valid_start = int(np.quantile(t, settings.valid_quantile, method="higher"))
    test_start = int(np.quantile(t, settings.test_quantile, method="higher"))
    cuts = TemporalCuts(valid_start, test_start)
    counts = np.bincount(cuts.period(t), minlength=3)
    if valid_start >= test_start or (counts == 0).any():
        raise ValueError(
            f"time cuts at quantiles {settings.valid_quantile}/{settings.test_quantile} leave an empty "
            f"period (train/valid/test events: {counts.tolist()}); the timestamps are too concentrated"
        )
    return cuts
