"""poster_images -> poster_embeddings: one L2-normalised CLIP image vector per movie with a poster.

The encoder is ``transformers``' ``CLIPVisionModelWithProjection`` (the image tower of any CLIP
checkpoint, e.g. ``openai/clip-vit-base-patch32``: 512-d) with its image processor. The model comes
from a hub id, a local folder or a folder under ``<data dir>/models/`` (``resolve_model``: a missing
path fails before any work), and runs on the GPU when there is one (``runtime.resolve_device``).

Incremental: vectors are cached by (model fingerprint, image SHA-256) in an ``EmbeddingCache`` under
``<data dir>/cache/poster_embeddings/``, so a re-run embeds only new images; with nothing new the
model is never loaded. Movies whose poster is not ``ok`` in ``poster_images`` get no row (counted in
the metadata by status).

Plain code: torch, transformers and Pillow are imported inside the functions.
"""

import importlib.util
import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from movielens_dag.embeddings.cache import EmbeddingCache, embedding_key
from movielens_dag.embeddings.models import ModelSource, resolve_model
from movielens_dag.embeddings.pipeline import EmbeddingRun
from movielens_dag.settings import setting

log = logging.getLogger(__name__)

DEFAULT_CLIP = "openai/clip-vit-base-patch32"


@dataclass(frozen=True)
class PosterEmbeddingSettings:
    """Which CLIP image encoder embeds the posters, and where it runs."""

    model: str = setting(
        DEFAULT_CLIP,
        "CLIP checkpoint: a hub id, a local folder or a folder under "
        "<data dir>/models/ (its vision tower and projection are used).",
    )
    revision: str | None = setting(None, "Hub revision (branch, tag or commit) of the model.")
    device: str = setting("auto", "auto (CUDA > MPS > CPU), cpu, cuda, cuda:1, ...")
    dtype: str = setting("auto", "auto (fp16 on CUDA, fp32 elsewhere), float32, float16 or bfloat16.")
    batch_size: int = setting(64, "Images per forward pass.")
    threads: int | None = setting(None, "torch CPU threads (None: torch's default).")
    use_cache: bool = setting(True, "Reuse vectors cached for the same model and image.")

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")
        if self.dtype not in ("auto", "float32", "float16", "bfloat16"):
            raise ValueError(f"dtype must be auto, float32, float16 or bfloat16, got {self.dtype!r}")


def output_schema(dim: int) -> pa.Schema:
    """The output columns; ``dim`` 0 (no posters, model never loaded) gives a variable-length list."""
    vector = pa.list_(pa.float32(), dim) if dim > 0 else pa.list_(pa.float32())
    return pa.schema(
        [
            ("movie_id", pa.int32()),
            ("model_id", pa.string()),
            ("dim", pa.int32()),
            ("image_sha256", pa.string()),
            ("embedding", vector),
        ]
    )


class ClipImageEncoder:
    """CLIP's image tower + projection; ``encode`` returns L2-normalised float32 vectors."""

    def __init__(self, source: ModelSource, device: str = "auto", dtype: str = "auto"):
        import torch
        from transformers import CLIPVisionModelWithProjection

        from movielens_dag.runtime import resolve_device

        self.source = source
        self.device = resolve_device(device)
        torch_dtype = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}.get(dtype)
        if torch_dtype is None:  # auto
            torch_dtype = torch.float16 if self.device.startswith("cuda") else torch.float32
        self.dtype = torch_dtype
        self.model = CLIPVisionModelWithProjection.from_pretrained(source.path, dtype=torch_dtype).to(self.device)
        self.model.eval()
        self.processor = _image_processor(source.path)
        self.dim = int(self.model.config.projection_dim)

    def encode(self, images: list) -> np.ndarray:
        """PIL images -> [B, dim] float32, unit L2 norm."""
        import torch

        inputs = self.processor(images=images, return_tensors="pt")
        pixels = inputs["pixel_values"].to(self.device, self.dtype)  # [B, 3, H, W]
        with torch.inference_mode():
            out = self.model(pixel_values=pixels).image_embeds  # [B, dim]
        return torch.nn.functional.normalize(out.float(), dim=-1).cpu().numpy()


def _image_processor(path: Path):
    """CLIP's processor; the torchvision-backed one when torchvision is installed, else the PIL one."""
    from transformers import CLIPImageProcessor

    if importlib.util.find_spec("torchvision") is None:
        try:
            from transformers import CLIPImageProcessorPil

            return CLIPImageProcessorPil.from_pretrained(path)
        except ImportError:  # older transformers: CLIPImageProcessor is the PIL one
            pass
    return CLIPImageProcessor.from_pretrained(path)


def load_image(path: Path):
    from PIL import Image

    with Image.open(path) as img:
        return img.convert("RGB")


def embed_images(
    encoder: ClipImageEncoder,
    paths: list[Path],
    batch_size: int = 64,
    progress: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """[len(paths), dim] normalised vectors, in ``paths`` order."""
    out = np.zeros((len(paths), encoder.dim), np.float32)
    for i in range(0, len(paths), batch_size):
        chunk = paths[i : i + batch_size]
        out[i : i + len(chunk)] = encoder.encode([load_image(p) for p in chunk])
        if progress is not None:
            progress(i + len(chunk), len(paths))
    return out


def embed_posters(
    poster_images: pa.Table,
    blob_root: Path,
    settings: PosterEmbeddingSettings,
    *,
    cache_root: Path,
    models_dir: Path | None = None,
    logger: Callable[[str], None] | None = None,
) -> EmbeddingRun:
    """Embed every ``ok`` poster of ``poster_images`` (files relative to ``blob_root``), reusing the cache."""
    say = logger or log.info
    missing = {"movie_id", "status", "sha256", "file"} - set(poster_images.column_names)
    if missing:
        raise ValueError(f"poster_images lacks column(s) {sorted(missing)}; re-materialize poster_images")
    t0 = time.perf_counter()
    statuses = Counter(poster_images["status"].to_pylist())
    ok = poster_images.filter(pc.equal(poster_images["status"], "ok")).sort_by("movie_id")
    movie_ids, shas, files = (ok[c].to_pylist() for c in ("movie_id", "sha256", "file"))
    gone = [m for m, f in zip(movie_ids, files, strict=True) if not (Path(blob_root) / f).is_file()]
    if gone:
        raise FileNotFoundError(
            f"{len(gone)} poster file(s) listed as ok are missing under {blob_root}, e.g. "
            f"movie_id {gone[:5]}: re-materialize poster_images (it fetches them again)"
        )
    skipped = {f"skipped_{s}": n for s, n in sorted(statuses.items()) if s != "ok"}
    if not movie_ids:  # nothing to embed: the model is neither resolved nor loaded (offline, no weights needed)
        say(f"no posters to embed ({dict(statuses) or 'poster_images is empty'}); {settings.model} not loaded")
        return EmbeddingRun(
            table=output_schema(0).empty_table(),
            metadata={
                "model_id": settings.model,
                "dim": 0,
                "movies": 0,
                "distinct_images": 0,
                "embedded": 0,
                "reused": 0,
                "model_loaded": False,
                "device": "-",
                "seconds": round(time.perf_counter() - t0, 2),
                "images_per_second": 0.0,
                **skipped,
            },
        )
    source = resolve_model(settings.model, models_dir=models_dir, revision=settings.revision)
    key = embedding_key(
        fingerprint=source.fingerprint, prompt=None, prompt_name="clip-image", max_seq_length=None, truncate_dim=None
    )
    cache = EmbeddingCache(Path(cache_root), key)
    distinct = list(dict.fromkeys(shas))  # first file per image hash
    file_of = dict(zip(shas, files, strict=True))
    cached = cache.lookup(set(distinct)) if settings.use_cache else None
    index = cached.index() if cached is not None else {}
    new = [h for h in distinct if h not in index]
    say(
        f"{source.model_id}: {len(movie_ids):,} posters, {len(distinct):,} distinct images; "
        f"{len(distinct) - len(new):,} cached, {len(new):,} to embed"
    )
    vectors: dict[str, np.ndarray] = {h: cached.vectors[i] for h, i in index.items()} if cached is not None else {}
    encoder = None
    if new:
        from movielens_dag.runtime import torch_threads

        with torch_threads(settings.threads):
            encoder = ClipImageEncoder(source, settings.device, settings.dtype)
            fresh = embed_images(encoder, [Path(blob_root) / file_of[h] for h in new], settings.batch_size)
        vectors.update(zip(new, fresh, strict=True))
    dim = encoder.dim if encoder is not None else (cached.dim if cached is not None and cached.dim else 0)
    if new and settings.use_cache:
        cache.write(
            "all",
            distinct,
            np.stack([vectors[h] for h in distinct]),
            np.zeros(len(distinct), np.int32),
            np.zeros(len(distinct), bool),
            {"model_id": source.model_id, "kind": "clip-image", "fingerprint": source.fingerprint},
        )
    matrix = np.stack([vectors[h] for h in shas]) if shas else np.zeros((0, dim), np.float32)
    table = pa.Table.from_arrays(
        [
            pa.array(movie_ids, pa.int32()),
            pa.array([source.model_id] * len(shas), pa.string()),
            pa.array(np.full(len(shas), dim), pa.int32()),
            pa.array(shas, pa.string()),
            pa.FixedSizeListArray.from_arrays(pa.array(np.ascontiguousarray(matrix, np.float32).ravel()), dim),
        ],
        schema=output_schema(dim),
    )
    seconds = time.perf_counter() - t0
    metadata: dict[str, Any] = {
        "model_id": source.model_id,
        "dim": dim,
        "movies": len(movie_ids),
        "distinct_images": len(distinct),
        "embedded": len(new),
        "reused": len(distinct) - len(new),
        "model_loaded": encoder is not None,
        "device": encoder.device if encoder is not None else "-",
        "seconds": round(seconds, 2),
        "images_per_second": round(len(new) / seconds, 1) if new else 0.0,
        **skipped,
    }
    return EmbeddingRun(table=table, metadata=metadata)
