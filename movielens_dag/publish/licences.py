"""What each MovieLens release's licence lets us redistribute, and how to cite it.

From the "Usage License" section of each release's README (GroupLens): ml-latest-small, ml-32m and
ml-latest allow redistributing "the data set, including transformations, so long as it is distributed
under these same license conditions"; ml-1m, ml-10m, ml-20m and ml-25m say "The user may not
redistribute the data without separate permission". Every release is for research, non-commercial use,
must be cited, and must not imply endorsement by the University of Minnesota or GroupLens.

For the releases that forbid redistribution we export only data derived per movie by this pipeline
(ids, documents, embeddings, semantic IDs); ratings and tags need ``acknowledge_licence`` (the user
states they hold GroupLens's separate permission).
"""

from dataclasses import dataclass

CITATION = (
    "F. Maxwell Harper and Joseph A. Konstan. 2015. The MovieLens Datasets: History and Context. "
    "ACM Transactions on Interactive Intelligent Systems (TiiS) 5, 4: 19:1-19:19. "
    "https://doi.org/10.1145/2827872"
)
BIBTEX = """@article{harper2015movielens,
  author = {Harper, F. Maxwell and Konstan, Joseph A.},
  title = {The MovieLens Datasets: History and Context},
  journal = {ACM Transactions on Interactive Intelligent Systems},
  volume = {5}, number = {4}, pages = {19:1--19:19}, year = {2015},
  doi = {10.1145/2827872}
}"""
COMMON_TERMS = (
    "Research use only; no commercial or revenue-bearing use without permission from the GroupLens Research "
    "Project (University of Minnesota); do not state or imply endorsement by the University of Minnesota or "
    "GroupLens; acknowledge the data set in publications (cite Harper & Konstan 2015). The data come with no "
    "guarantee of correctness or fitness for any purpose."
)


@dataclass(frozen=True)
class ReleaseLicence:
    variant: str
    redistributable: bool  # may user-level data (ratings, tags) be redistributed under the same terms?

    @property
    def terms(self) -> str:
        if self.redistributable:
            return (
                f"{COMMON_TERMS} The {self.variant} licence allows redistributing the data set, including "
                "transformations, under these same conditions: this dataset is distributed under them."
            )
        return (
            f"{COMMON_TERMS} The {self.variant} licence forbids redistributing the data without separate "
            "permission from GroupLens."
        )


LICENCES = {
    v: ReleaseLicence(v, ok)
    for v, ok in [
        ("ml-latest-small", True),
        ("ml-32m", True),
        ("ml-latest", True),
        ("ml-1m", False),
        ("ml-10m", False),
        ("ml-20m", False),
        ("ml-25m", False),
    ]
}


def licence_of(variant: str) -> ReleaseLicence:
    try:
        return LICENCES[variant]
    except KeyError:
        raise ValueError(
            f"no licence is recorded for MovieLens variant {variant!r}; known: {sorted(LICENCES)}"
        ) from None


def usage_licence_section(readme_text: str) -> str | None:
    """The "Usage License" section of a release README (text up to the next underlined heading), if any."""
    lines = readme_text.splitlines()
    for i, line in enumerate(lines):
        if line.strip().lower().startswith(("usage license", "summary & usage license")):
            body = []
            for nxt, following in zip(lines[i + 2 :], lines[i + 3 :] + [""]):
                if following.strip().startswith("===") and nxt.strip():
                    break
                body.append(nxt)
            return "\n".join(body).strip() or None
    return None
