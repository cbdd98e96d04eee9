"""Reading text files line by line with errors that name the file, the line and the problem."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator


class DataError(ValueError):
    """Bad input data: the message starts with ``file:line:``."""


def iter_lines(path: str | os.PathLike) -> Iterator[tuple[int, str]]:
    """Yield ``(line_number, text)`` for each line of a UTF-8 file, without the newline.

    Lines are decoded one at a time, so a bad byte is reported with its line number and
    the file is never held in memory whole.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    with open(path, "rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as err:
                raise DataError(f"{path}:{lineno}: not valid UTF-8 (byte {err.start}: {raw[err.start:err.start + 1]!r})") from None
            if lineno == 1:
                text = text.removeprefix("\ufeff")
            yield lineno, text.rstrip("\r\n")


def read_sentences(path: str | os.PathLike) -> list[str]:
    """One sentence per line; a blank line is an error (embeddings must align with lines)."""
    out = []
    for lineno, text in iter_lines(path):
        if not text.strip():
            raise DataError(f"{path}:{lineno}: empty sentence")
        out.append(text)
    return out
