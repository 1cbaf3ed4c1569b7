"""The MovieLens releases we know how to read, and where their files live."""

from dataclasses import dataclass

DEFAULT_BASE_URL = "https://files.grouplens.org/datasets/movielens"


@dataclass(frozen=True)
class Variant:
    name: str
    folder: str  # top-level folder inside the official zip
    format: str  # "csv" (comma separated, header, UTF-8) or "dat" ("::" separated, no header)
    has_links: bool
    has_tags: bool
    # The documented figures of a fixed release; None for releases that change (ml-latest).
    expected_movies: int | None = None
    expected_ratings: int | None = None
    expected_users: int | None = None

    @property
    def zip_name(self) -> str:
        return f"{self.name}.zip"

    def file_name(self, table: str) -> str:
        return f"{table}.{self.format}"


VARIANTS: dict[str, Variant] = {
    v.name: v
    for v in [
        Variant("ml-latest-small", "ml-latest-small", "csv", True, True, 9742, 100836, 610),
        Variant("ml-1m", "ml-1m", "dat", False, False, 3883, 1000209, 6040),
        Variant("ml-10m", "ml-10M100K", "dat", False, True, 10681, 10000054, 69878),
        Variant("ml-20m", "ml-20m", "csv", True, True, 27278, 20000263, 138493),
        Variant("ml-25m", "ml-25m", "csv", True, True, 62423, 25000095, 162541),
        Variant("ml-32m", "ml-32m", "csv", True, True, 87585, 32000204, 200948),
        Variant("ml-latest", "ml-latest", "csv", True, True),
    ]
}


def get_variant(name: str) -> Variant:
    try:
        return VARIANTS[name]
    except KeyError:
        raise ValueError(f"unknown MovieLens variant {name!r}; choose one of {', '.join(VARIANTS)}") from None
