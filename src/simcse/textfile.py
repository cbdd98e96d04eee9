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


def count_lines(path: Path) -> int:
    """Lines in a file (a last line without newline counts), read in 1 MiB blocks."""
    n, last = 0, b"\n"
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            n, last = n + block.count(b"\n"), block[-1:]
    return n + (last != b"\n")


def chunks(path: Path, skip: int, size: int) -> Iterator[tuple[int, list[tuple[int, str]]]]:
    """Yield ``(last_line_number, [(line_number, text), ...])`` per ``size`` lines after ``skip``."""
    batch, last = [], skip
    for lineno, text in iter_lines(path):
        if lineno <= skip:
            continue
        last = lineno
        if text.strip():
            batch.append((lineno, text))
        if lineno % size == 0:
            yield last, batch
            batch = []
    if last > skip and last % size:
        yield last, batch
