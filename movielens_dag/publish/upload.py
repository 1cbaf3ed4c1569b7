"""Upload the dataset folder to the Hugging Face hub, or say what would be uploaded.

``huggingface_hub`` is imported inside ``upload``; tests pass a fake ``api`` object with the two
methods used (``create_repo``, ``upload_folder``), since the hub is unreachable from CI.
"""

from pathlib import Path
from typing import Any

UPLOAD_IGNORE = ["manifest.json", ".*"]


def planned_files(folder: Path) -> list[tuple[str, int]]:
    """(relative path, bytes) of what ``upload`` sends, sorted."""
    folder = Path(folder)
    if not (folder / "README.md").exists():
        raise FileNotFoundError(
            f"{folder} is not a dataset folder (no README.md): materialize enriched_dataset "
            "first, or run `movielens-dag publish --build`"
        )
    return sorted(
        (p.relative_to(folder).as_posix(), p.stat().st_size)
        for p in folder.rglob("*")
        if p.is_file()
        and p.name != "manifest.json"
        and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )


def describe_plan(folder: Path, repo_id: str) -> str:
    files = planned_files(folder)
    lines = [
        (
            f"would upload {len(files)} files ({sum(s for _, s in files) / 2**20:,.1f} MiB) from {folder} to "
            f"https://huggingface.co/datasets/{repo_id}:"
        )
    ]
    lines += [f"  {path}  ({size:,} bytes)" for path, size in files]
    return "\n".join(lines)


def upload(
    folder: Path,
    repo_id: str,
    token: str,
    *,
    private: bool = True,
    api: Any = None,
    commit_message: str = "Upload the movielens-dag enriched dataset",
) -> str:
    """Create the dataset repo if needed and upload the folder in one commit; returns the commit URL."""
    planned_files(folder)  # a clear error before any network call
    if api is None:
        from huggingface_hub import HfApi

        api = HfApi(token=token)
    api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
    info = api.upload_folder(
        folder_path=str(folder),
        repo_id=repo_id,
        repo_type="dataset",
        commit_message=commit_message,
        ignore_patterns=UPLOAD_IGNORE,
    )
    return str(getattr(info, "commit_url", info))
