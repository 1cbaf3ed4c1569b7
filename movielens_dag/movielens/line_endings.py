"""Uniform line endings for a text file DuckDB's strict CSV parser refuses.

DuckDB detects one line ending per file and stops with "CSV Parser state machine reached an invalid
state" (no line number) when CRLF and LF lines are mixed, which is still valid CSV. Such a file is
rewritten once, streamed, with LF record endings; quoted fields keep their bytes exactly (including
any line breaks inside them), so every record keeps its line number and its values.
"""

import csv
import uuid
from pathlib import Path

from movielens_dag.movielens.errors import DataError

_BLOCK = 1 << 22  # bytes per read when rewriting a file with no quoting


def is_line_ending_error(exc: BaseException) -> bool:
    """DuckDB's error for a file whose line endings change midway (or a lone CR)."""
    return "state machine reached an invalid state" in str(exc)


def normalised_copy(path: Path, quoted: bool, temp_dir: Path) -> Path:
    """A copy of ``path`` under ``temp_dir`` whose records all end with LF.

    ``quoted`` (CSV): records are read with Python's csv module (CRLF, LF and CR all end a record;
    quoting is strict, so a malformed quote raises a DataError naming its line) and written back with
    LF endings. Not quoted (``::`` .dat files): every CRLF becomes LF. Undecodable bytes pass through
    unchanged, so the reader still reports them with their line.
    """
    temp_dir.mkdir(parents=True, exist_ok=True)
    dest = temp_dir / f".{path.stem}.lf-{uuid.uuid4().hex[:12]}{path.suffix}"
    try:
        if quoted:
            _rewrite_csv(path, dest)
        else:
            _rewrite_bytes(path, dest)
    except BaseException:
        dest.unlink(missing_ok=True)
        raise
    return dest


def _rewrite_csv(path: Path, dest: Path) -> None:
    text = {"encoding": "utf-8", "errors": "surrogateescape", "newline": ""}
    with open(path, **text) as source, open(dest, "w", **text) as out:
        reader = csv.reader(source, strict=True)
        writer = csv.writer(out, lineterminator="\n")
        line = 0
        try:
            for row in reader:
                writer.writerow(row)
                line = reader.line_num
        except csv.Error as exc:
            raise DataError(
                path, line + 1, f"malformed CSV ({exc})", "Fix the quoting of this record; nothing was written"
            ) from None


def _rewrite_bytes(path: Path, dest: Path) -> None:
    with open(path, "rb") as source, open(dest, "wb") as out:
        carry = b""
        while block := source.read(_BLOCK):
            block = carry + block
            carry = b"\r" if block.endswith(b"\r") else b""  # a CRLF split across two reads
            out.write(block[: len(block) - len(carry)].replace(b"\r\n", b"\n"))
        out.write(carry)
