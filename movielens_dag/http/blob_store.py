"""Content-addressed files for binary responses (poster images): ``<root>/<sha[:2]>/<sha256><ext>``.

The name is the SHA-256 of the bytes, so the same image fetched twice (two movies sharing a poster,
a refetch after a crash) is stored once, a file is never half-written under its final name (temp
file, fsync, rename), and a reader can check a file against its name. The fetch store records which
key gave which hash; this store only holds the bytes.
"""

import hashlib
import os
import uuid
from pathlib import Path

EXTENSIONS = {
    "image/jpeg": ".jpg",
    "image/jpg": ".jpg",
    "image/png": ".png",
    "image/webp": ".webp",
    "image/gif": ".gif",
    "image/svg+xml": ".svg",
}


def extension_for(content_type: str | None) -> str:
    """'image/jpeg; charset=...' -> '.jpg'; unknown types -> '.bin'."""
    kind = (content_type or "").split(";")[0].strip().lower()
    return EXTENSIONS.get(kind, ".bin")


class BlobStore:
    def __init__(self, root: Path):
        self.root = Path(root)

    def relative_path(self, sha256: str, ext: str) -> str:
        if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
            raise ValueError(f"{sha256!r} is not a lowercase hex SHA-256")
        return f"{sha256[:2]}/{sha256}{ext}"

    def path(self, relative: str) -> Path:
        return self.root / relative

    def put(self, data: bytes, ext: str = ".bin") -> tuple[str, str]:
        """Store ``data`` (once) -> (sha256, path relative to the root)."""
        sha = hashlib.sha256(data).hexdigest()
        rel = self.relative_path(sha, ext)
        dest = self.root / rel
        if dest.exists() and dest.stat().st_size == len(data):
            return sha, rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex[:8]}.tmp")
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, dest)
        return sha, rel

    def verify(self, relative: str) -> bool:
        """True when the file exists and its bytes still hash to its name."""
        path = self.root / relative
        if not path.is_file():
            return False
        return hashlib.sha256(path.read_bytes()).hexdigest() == Path(relative).stem
