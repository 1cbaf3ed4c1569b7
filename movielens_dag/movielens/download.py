"""Fetch an official MovieLens zip: resumable, checksum-verified, extracted atomically."""

import hashlib
import os
import re
import shutil
import zipfile
from collections.abc import Callable
from pathlib import Path

import filelock
import httpx
import tenacity

from movielens_dag.http.retry import raise_for_retryable, retry_policy
from movielens_dag.movielens.variants import Variant

_MD5 = re.compile(r"\b([0-9a-fA-F]{32})\b")


class DownloadError(RuntimeError):
    pass


def file_md5(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def published_md5(client: httpx.Client, url: str) -> str:
    """GroupLens publishes ``<zip>.md5`` beside each zip ("MD5 (ml-25m.zip) = …" or "… ml-25m.zip")."""
    for attempt in tenacity.Retrying(**retry_policy(max_attempts=4)):
        with attempt:
            response = client.get(url)
            raise_for_retryable(response)
    if response.status_code != 200:
        raise DownloadError(
            f"no checksum at {url} (HTTP {response.status_code}); set MOVIELENS_MD5 to the expected "
            "MD5 of the zip to download anyway"
        )
    match = _MD5.search(response.text)
    if not match:
        raise DownloadError(f"{url} does not contain an MD5 checksum: {response.text[:100]!r}")
    return match.group(1).lower()


def _download_once(client: httpx.Client, url: str, part: Path, log: Callable[[str], None]) -> None:
    offset = part.stat().st_size if part.exists() else 0
    headers = {"Range": f"bytes={offset}-"} if offset else {}
    with client.stream("GET", url, headers=headers) as response:
        if response.status_code == 416:  # the part file already holds everything
            return
        raise_for_retryable(response)
        if response.status_code not in (200, 206):
            raise DownloadError(f"GET {url} answered HTTP {response.status_code}")
        if response.status_code == 200 and offset:
            log(f"server ignored the Range header; restarting {part.name} from 0")
            offset = 0
        total = offset + int(response.headers.get("content-length", 0) or 0)
        step = max(total // 20, 8 << 20) if total else 16 << 20
        next_report = offset + step
        done = offset
        with open(part, "ab" if offset else "wb") as out:
            for chunk in response.iter_raw():  # bytes as they arrive: a cut keeps what came
                out.write(chunk)
                done += len(chunk)
                if done >= next_report:
                    pct = f" ({100 * done / total:.0f}%)" if total else ""
                    log(f"downloaded {done / 1e6:,.1f} MB of {url.rsplit('/', 1)[-1]}{pct}")
                    next_report += step
            out.flush()
            os.fsync(out.fileno())


def download_zip(
    client: httpx.Client,
    base_url: str,
    variant: Variant,
    downloads: Path,
    expected_md5: str | None = None,
    log: Callable[[str], None] = print,
) -> Path:
    """Download ``<base_url>/<variant>.zip`` into ``downloads/`` unless a verified copy is there.

    Interrupted downloads resume from the ``.part`` file (HTTP Range); a checksum mismatch deletes
    the bad file and raises. The finished zip appears only after verification (rename).
    """
    downloads.mkdir(parents=True, exist_ok=True)
    expected_md5 = expected_md5.lower() if expected_md5 else None
    url = f"{base_url.rstrip('/')}/{variant.zip_name}"
    dest = downloads / variant.zip_name
    verified = dest.with_name(dest.name + ".verified-md5")  # lets a rerun skip the network
    with filelock.FileLock(str(dest) + ".lock"):  # parallel assets share one download
        if dest.exists() and verified.exists():
            actual = file_md5(dest)
            if verified.read_text().strip() == actual and expected_md5 in (None, actual):
                return dest
        expected = (expected_md5 or published_md5(client, url + ".md5")).lower()
        if dest.exists() and file_md5(dest) == expected:
            verified.write_text(expected)
            return dest
        part = dest.with_name(dest.name + ".part")
        log(f"downloading {url}" + (f" (resuming at {part.stat().st_size:,} bytes)" if part.exists() else ""))
        for attempt in tenacity.Retrying(**retry_policy(max_attempts=8)):
            with attempt:
                _download_once(client, url, part, log)
        actual = file_md5(part)
        if actual != expected:
            part.unlink()
            raise DownloadError(
                f"{url}: MD5 {actual} does not match the published {expected}; the partial file was "
                "deleted, run again to download it afresh"
            )
        os.replace(part, dest)
        verified.write_text(actual)
        log(f"verified {dest.name} (md5 {actual})")
        return dest


def extract_zip(zip_path: Path, raw_dir: Path, variant: Variant) -> Path:
    """Extract into ``raw/<variant>/`` via a temp folder + rename; returns the release folder."""
    target = raw_dir / variant.name
    release = target / variant.folder
    marker = target / ".complete"
    if marker.exists() and marker.read_text() == file_md5(zip_path):
        return release
    raw_dir.mkdir(parents=True, exist_ok=True)
    tmp = raw_dir / f".{variant.name}.extracting"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        with zipfile.ZipFile(zip_path) as archive:
            bad = archive.testzip()
            if bad is not None:
                raise DownloadError(f"{zip_path}: member {bad} is corrupt; delete the zip and rerun")
            archive.extractall(tmp)  # zipfile strips absolute paths and '..' components
        if not (tmp / variant.folder).is_dir():
            raise DownloadError(f"{zip_path} has no folder {variant.folder}/ inside")
        (tmp / ".complete").write_text(file_md5(zip_path))
        shutil.rmtree(target, ignore_errors=True)
        os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return release
