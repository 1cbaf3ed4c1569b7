"""The dataset card (README.md): YAML header with configs and features, then what a reader needs to know.

The features are written in the Hugging Face ``datasets`` YAML form (the same as
``datasets.Features._to_yaml_list()``, which the tests compare against) without importing ``datasets``.
"""

from dataclasses import dataclass, field

import pyarrow as pa
import yaml

from movielens_dag.publish.licences import BIBTEX, CITATION, ReleaseLicence

_DTYPES = {"float": "float32", "double": "float64", "halffloat": "float16"}


def dtype_yaml(t: pa.DataType) -> dict:
    """One feature's type in the datasets YAML form (without its name)."""
    if pa.types.is_struct(t):
        return {"struct": [{"name": f.name, **dtype_yaml(f.type)} for f in t]}
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        inner = t.value_type
        if pa.types.is_struct(inner):
            out: dict = {"list": [{"name": f.name, **dtype_yaml(f.type)} for f in inner]}
        else:
            inner_yaml = dtype_yaml(inner)
            out = {"list": inner_yaml["dtype"] if set(inner_yaml) == {"dtype"} else inner_yaml}
        if pa.types.is_fixed_size_list(t):
            out["length"] = t.list_size
        return out
    return {"dtype": _DTYPES.get(str(t), str(t))}


def features_yaml(schema: pa.Schema) -> list[dict]:
    return [{"name": f.name, **dtype_yaml(f.type)} for f in schema]


@dataclass
class ConfigInfo:
    """One table of the dataset: a config with one ``train`` split."""

    name: str
    schema: pa.Schema
    rows: int
    files: list[str]  # relative paths
    num_bytes: int
    description: str


@dataclass
class CardFacts:
    variant: str
    licence: ReleaseLicence
    configs: list[ConfigInfo]
    excluded: dict[str, str]  # table -> why it is not in the dataset
    sid_quality: dict | None = None  # the primary fit's sid_quality row
    embedding_model: str | None = None
    template_versions: dict[str, int] = field(default_factory=dict)
    licence_text: str | None = None  # the release README's Usage License section, verbatim
    pretty_name: str = "MovieLens with documents, embeddings and semantic IDs"
    permission_acknowledged: bool = False  # user data of a no-redistribution release, under stated permission


def size_category(n: int) -> str:
    for limit, name in [
        (1_000, "n<1K"),
        (10_000, "1K<n<10K"),
        (100_000, "10K<n<100K"),
        (1_000_000, "100K<n<1M"),
        (10_000_000, "1M<n<10M"),
        (100_000_000, "10M<n<100M"),
    ]:
        if n < limit:
            return name
    return "100M<n<1B"


def header(facts: CardFacts) -> dict:
    default = facts.configs[0].name
    return {
        "pretty_name": facts.pretty_name,
        "license": "other",
        "license_name": f"movielens-{facts.variant}",
        "license_link": "LICENSE.md",
        "tags": ["movielens", "recommender-systems", "semantic-ids", "embeddings"],
        "size_categories": [size_category(max(c.rows for c in facts.configs))],
        "configs": [
            {
                "config_name": c.name,
                "data_files": [{"split": "train", "path": f"{c.name}/*.parquet"}],
                **({"default": True} if c.name == default else {}),
            }
            for c in facts.configs
        ],
        "dataset_info": [
            {
                "config_name": c.name,
                "features": features_yaml(c.schema),
                "splits": [{"name": "train", "num_bytes": c.num_bytes, "num_examples": c.rows}],
            }
            for c in facts.configs
        ],
    }


def _sid_section(q: dict | None) -> list[str]:
    if not q:
        return ["No semantic IDs were included."]

    def pct(key: str) -> str:
        value = q.get(key)
        return "n/a" if value is None else f"{value:.1%}"

    return [
        (
            f"Method `{q.get('method')}`{' (balanced)' if q.get('balanced') else ''}: {q.get('levels')} levels x "
            f"{q.get('codes')} codes, then a uniqueness digit that tells apart movies whose codes collide; fitted "
            f"on the `{q.get('embedding_model')}` vectors of {q.get('n_items'):,} movies (seed {q.get('seed')})."
        ),
        "",
        "| figure | value |",
        "|---|---:|",
        f"| relative reconstruction error | {q.get('rel_recon_error', float('nan')):.4f} |",
        f"| movies sharing their codes with another (before the digit) | {pct('collision_rate')} |",
        f"| largest group sharing one code tuple | {q.get('max_collision_group')} |",
        f"| lowest codebook utilisation over levels | {pct('min_utilisation')} |",
        (
            f"| nearest neighbour shares the first code (chance) | {pct('nn_first_code_agreement')} "
            f"({pct('nn_agreement_chance')}) |"
        ),
        f"| genre purity of first-level codes (chance) | {pct('genre_purity')} ({pct('genre_purity_chance')}) |",
    ]


def render(facts: CardFacts) -> str:
    """README.md: the YAML header, then summary, tables, SID method and quality, provenance, licence, citation."""
    body = [
        f"# {facts.pretty_name}",
        "",
        (
            f"Per-movie data built from the MovieLens **{facts.variant}** release by the movielens-dag "
            "pipeline (Dagster): one text document per movie "
            "(MovieLens title, year, genres and top user tags, enriched with TMDB / IMDb / Wikipedia fields where "
            "those were fetched), its embedding, and a semantic ID (a short tuple of discrete codes from residual "
            "quantisation of the embedding) for generative retrieval and recommendation."
        ),
        "",
        "## Tables",
        "",
        "| config | rows | what it is |",
        "|---|---:|---|",
    ]
    body += [f"| `{c.name}` | {c.rows:,} | {c.description} |" for c in facts.configs]
    body += [
        "",
        "```python",
        "from datasets import load_dataset",
        f'movies = load_dataset("<this repo>", "{facts.configs[0].name}", split="train")',
        "```",
        "",
    ]
    if facts.excluded:
        body += ["Not included:", ""] + [f"- `{name}`: {why}" for name, why in facts.excluded.items()] + [""]
    body += ["## Semantic IDs", ""] + _sid_section(facts.sid_quality) + [""]
    body += [
        "## How it was built",
        "",
        (
            "1. MovieLens files parsed into one schema for every release (titles with leading articles moved "
            "back, years and alternate titles split out)."
        ),
        "2. Documents rendered from a versioned template"
        + (
            ": " + ", ".join(f"`{v}` ({n:,})" for v, n in sorted(facts.template_versions.items()))
            if facts.template_versions
            else ""
        )
        + "; `document_hash` identifies the text.",
        f"3. Embeddings: `{facts.embedding_model or 'n/a'}`, L2-normalised float32.",
        "4. Semantic IDs: the quantiser above, fitted on all movies of the release.",
        "",
        (
            "Document fields other than MovieLens's come from TMDB (\"This product uses the TMDB API but is not "
            "endorsed or certified by TMDB\"), IMDb and Wikipedia plot summaries (CC BY-SA); each document's "
            "`provenance` column names the source of every field. Check those sources' terms before reuse."
        ),
        "",
        "## Licence",
        "",
        facts.licence.terms,
        "",
    ]
    if facts.permission_acknowledged:
        body += [
            (
                "Ratings and tags are included because the publisher stated that they hold GroupLens's separate "
                "permission to redistribute them (the `acknowledge_licence` setting)."
            ),
            "",
        ]
    if facts.licence_text:
        body += [
            "The release's own terms (from its README), which apply to this dataset:",
            "",
            *[f"> {line}" if line else ">" for line in facts.licence_text.splitlines()],
            "",
        ]
    body += ["## Citation", "", "Cite the MovieLens data set:", "", f"> {CITATION}", "", "```bibtex", BIBTEX, "```", ""]
    head = yaml.safe_dump(header(facts), sort_keys=False, allow_unicode=True, width=1000)
    return f"---\n{head}---\n\n" + "\n".join(body)


def licence_file(facts: CardFacts) -> str:
    text = [f"# Licence of this dataset (MovieLens {facts.variant})", "", facts.licence.terms, ""]
    if facts.licence_text:
        text += ["## The release's Usage License, verbatim", "", facts.licence_text, ""]
    text += ["## Citation", "", CITATION, ""]
    return "\n".join(text)
