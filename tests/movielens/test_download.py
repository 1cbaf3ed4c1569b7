"""The download path against a real HTTP server on 127.0.0.1 serving a zip built here."""

import hashlib
import io
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from movielens_dag.movielens import readers
from movielens_dag.movielens.download import DownloadError
from movielens_dag.movielens.source import resolve_source_dir
from movielens_dag.movielens.variants import get_variant
from movielens_dag.paths import DataPaths

ML1M = get_variant("ml-1m")


def ml1m_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(
            "ml-1m/movies.dat", "1::Toy Story (1995)::Animation\n2::Heat (1995)::Action\n".encode("latin-1")
        )
        # Enough bytes that the connection can be cut half-way through.
        archive.writestr("ml-1m/ratings.dat", "".join(f"{u}::{1 + u % 2}::4::97830{u:04d}\n" for u in range(1, 4000)))
        archive.writestr("ml-1m/README", "test release")
    return buffer.getvalue()


class Release(BaseHTTPRequestHandler):
    files: dict[str, bytes] = {}
    cut_first_get_at: int | None = None
    requests: list[tuple[str, str | None]] = []

    def do_GET(self):
        type(self).requests.append((self.path, self.headers.get("Range")))
        body = self.files.get(self.path)
        if body is None:
            self.send_error(404)
            return
        start = 0
        if self.headers.get("Range"):
            start = int(self.headers["Range"].split("=")[1].split("-")[0])
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(body) - start))
        self.end_headers()
        cut = type(self).cut_first_get_at
        if cut is not None and self.path.endswith(".zip"):
            type(self).cut_first_get_at = None
            self.wfile.write(body[start:cut])
            self.wfile.flush()
            self.connection.close()  # the peer vanishes mid-download
            return
        self.wfile.write(body[start:])

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    Release.files, Release.requests, Release.cut_first_get_at = {}, [], None
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Release)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/datasets/movielens"
    httpd.shutdown()
    httpd.server_close()


def publish(body: bytes, md5: str | None = None) -> None:
    Release.files["/datasets/movielens/ml-1m.zip"] = body
    digest = md5 or hashlib.md5(body).hexdigest()
    Release.files["/datasets/movielens/ml-1m.zip.md5"] = f"MD5 (ml-1m.zip) = {digest}\n".encode()


def test_interrupted_download_resumes_verifies_and_extracts(server, tmp_path):
    body = ml1m_zip()
    publish(body)
    Release.cut_first_get_at = len(body) // 2
    messages: list[str] = []
    paths = DataPaths(tmp_path)
    folder = resolve_source_dir(ML1M, paths, base_url=server, log=messages.append)
    assert folder == paths.raw / "ml-1m" / "ml-1m"
    zip_gets = [r for r in Release.requests if r[0].endswith(".zip")]
    assert zip_gets == [
        ("/datasets/movielens/ml-1m.zip", None),
        ("/datasets/movielens/ml-1m.zip", f"bytes={len(body) // 2}-"),
    ]
    assert (paths.downloads / "ml-1m.zip").read_bytes() == body
    assert any(m.startswith("verified ml-1m.zip") for m in messages)
    movies, _ = readers.read_movies(folder, ML1M)
    assert movies.num_rows == 2

    # A second run finds the verified zip and extraction: no request at all.
    Release.requests.clear()
    assert resolve_source_dir(ML1M, paths, base_url=server, log=messages.append) == folder
    assert Release.requests == []


def test_checksum_mismatch_deletes_the_download(server, tmp_path):
    publish(ml1m_zip(), md5="0" * 32)
    paths = DataPaths(tmp_path)
    with pytest.raises(DownloadError, match="does not match the published 000"):
        resolve_source_dir(ML1M, paths, base_url=server, log=lambda m: None)
    assert sorted(p.name for p in paths.downloads.iterdir() if not p.name.endswith(".lock")) == []


def test_missing_checksum_is_an_error_unless_pinned(server, tmp_path):
    body = ml1m_zip()
    Release.files["/datasets/movielens/ml-1m.zip"] = body
    paths = DataPaths(tmp_path)
    with pytest.raises(DownloadError, match="set MOVIELENS_MD5"):
        resolve_source_dir(ML1M, paths, base_url=server, log=lambda m: None)
    pinned = hashlib.md5(body).hexdigest().upper()
    folder = resolve_source_dir(ML1M, paths, base_url=server, expected_md5=pinned, log=lambda m: None)
    assert (folder / "movies.dat").exists()


def test_local_source_dir_is_used_as_is(tmp_path, bundled_release):
    small = get_variant("ml-latest-small")
    assert resolve_source_dir(small, DataPaths(tmp_path), source_dir=str(bundled_release.parent)) == bundled_release
    with pytest.raises(ValueError, match="no movies.dat"):
        resolve_source_dir(ML1M, DataPaths(tmp_path), source_dir=str(tmp_path))
