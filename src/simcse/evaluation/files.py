"""Reading SentEval data files: located, checked, tokenized as SentEval does.

SentEval splits every sentence on whitespace (``str.split()``) and SimCSE's batcher joins the
words back with single spaces (``' '.join(s)``); :func:`senteval_text` is that round trip.
No lower-casing happens at evaluation time: the SimCSE-processed SentEval archive is already
lower-cased and tokenized where the original releases were.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from simcse.errors import DataError, MissingFileError

DOWNLOAD_HINT = "run `simcse data download senteval` or set SIMCSE_DATA_DIR / --data-dir"


class DataFormatError(DataError):
    """A data file line that does not have the expected shape; the message names file:line."""

    def __init__(self, path: Path, lineno: int, problem: str) -> None:
        super().__init__(f"{path}:{lineno}: {problem}")
        self.path, self.lineno = path, lineno


def senteval_text(sentence: str) -> str:
    """``' '.join(sentence.split())``: SentEval's tokenization followed by SimCSE's batcher."""
    return " ".join(sentence.split())


def task_dir(data_dir: Path, relative: str, task: str) -> Path:
    """``data_dir / relative``, or MissingFileError naming the folder and how to get it."""
    folder = Path(data_dir) / relative
    if not folder.is_dir():
        raise MissingFileError(
            f"{task}: data folder not found: {folder} (expected the SentEval layout "
            f"<data-dir>/{relative}/); {DOWNLOAD_HINT}"
        )
    return folder


def task_file(folder: Path, name: str, task: str) -> Path:
    """``folder / name``, or MissingFileError naming the file expected."""
    path = folder / name
    if not path.is_file():
        raise MissingFileError(f"{task}: data file not found: {path}; {DOWNLOAD_HINT}")
    return path


def tab_fields(path: Path, lineno: int, line: str, at_least: int) -> list[str]:
    """``line.strip().split('\\t')`` (SentEval's parse), checking the number of fields."""
    fields = line.strip().split("\t")
    if len(fields) < at_least:
        raise DataFormatError(
            path, lineno, f"expected {at_least} tab-separated fields, got {len(fields)}"
        )
    return fields


def parse_float(path: Path, lineno: int, text: str, what: str) -> float:
    """``float(text)`` or a DataFormatError naming file, line and field."""
    try:
        return float(text)
    except ValueError:
        raise DataFormatError(path, lineno, f"{what} is not a number: {text!r}") from None


def sha256(path: Path) -> str:
    """Hex SHA-256 of a file's bytes (for the settings recorded next to results)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
