"""Settings of the genre classifier (plain dataclasses, no heavy imports)."""

from dataclasses import dataclass

from movielens_dag.runtime import check_threads
from movielens_dag.settings import setting

MODELS = ("logreg", "mlp")


@dataclass(frozen=True)
class MlpSettings:
    """The small torch MLP: vector -> hidden -> one logit per genre."""

    hidden: int = setting(256, "Hidden units.")
    dropout: float = setting(0.3, "Dropout after the hidden layer.")
    lr: float = setting(1e-3, "AdamW learning rate.")
    weight_decay: float = setting(1e-4, "AdamW weight decay.")
    batch_size: int = setting(256, "Movies per batch.")
    max_epochs: int = setting(200, "Epochs at most (early stopping on validation loss).")
    patience: int = setting(10, "Epochs without a better validation loss before stopping.")


@dataclass(frozen=True)
class GenreClassifierSettings:
    """How the genre classifier is trained, selected (on validation) and evaluated (on test, once)."""

    valid_fraction: float = setting(0.15, "Share of movies for validation (model, C and thresholds are chosen on it).")
    test_fraction: float = setting(0.15, "Share of movies for the test figures.")
    split_seed: int = setting(0, "Seed of the movie split (a movie's split depends only on it and its id).")
    seeds: tuple[int, ...] = setting((0, 1, 2), "Training seeds; figures are mean ± std over them.")
    models: tuple[str, ...] = setting(MODELS, f"Models to train, from {MODELS}.")
    logreg_c: tuple[float, ...] = setting(
        (0.3, 1.0, 3.0, 10.0), "Inverse regularisation strengths tried for logistic regression (chosen on validation)."
    )
    min_genre_movies: int = setting(10, "Genres with fewer labelled training movies are not predicted.")
    review_extra: float = setting(
        0.8, "Flag a movie for review when the model gives a genre MovieLens lacks at least this probability ..."
    )
    review_missing: float = setting(0.01, "... or a genre MovieLens lists at most this probability.")
    bootstrap: int = setting(1000, "Bootstrap resamples of the test movies for the micro-F1 CI against the baseline.")
    mlp: MlpSettings = setting(factory=MlpSettings, help="The MLP's architecture and training.")
    threads: int | None = setting(1, "CPU threads for torch and scikit-learn; None: all cores.")

    def validate(self) -> None:
        if not (
            0 < self.valid_fraction < 1 and 0 < self.test_fraction < 1 and self.valid_fraction + self.test_fraction < 1
        ):
            raise ValueError(
                f"valid_fraction ({self.valid_fraction}) and test_fraction ({self.test_fraction}) "
                "must be in (0, 1) and leave movies for training"
            )
        unknown = sorted(set(self.models) - set(MODELS))
        if unknown or not self.models:
            raise ValueError(f"models must be a non-empty subset of {MODELS}, got {list(self.models)}")
        if not self.seeds:
            raise ValueError("seeds must name at least one seed")
        if not self.logreg_c or min(self.logreg_c) <= 0:
            raise ValueError(f"logreg_c must be positive numbers, got {list(self.logreg_c)}")
        if not 0 < self.review_missing < self.review_extra < 1:
            raise ValueError(
                f"need 0 < review_missing ({self.review_missing}) < review_extra ({self.review_extra}) < 1"
            )
        check_threads(self.threads)
