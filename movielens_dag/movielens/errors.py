"""One error type for bad input files, so every message names file, line and what to do."""

from pathlib import Path


class DataError(ValueError):
    """Bad input: says which file, which line (or record) and why, plus what to do about it."""

    def __init__(self, path: Path | str, line: int | None, reason: str, hint: str = ""):
        self.path = str(path)
        self.line = line
        self.reason = reason
        where = f"{self.path}, line {line}" if line is not None else self.path
        message = f"{where}: {reason}"
        if hint:
            message += f". {hint}"
        super().__init__(message)
