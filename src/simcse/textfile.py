"""Text files of sentences, one per line, read with errors that name the file and the line.

The rule for every command that encodes such a file (``simcse encode``, ``simcse index
build|add``): each line is one sentence, so row ``i`` of the result is line ``i + 1``. A blank
line, a byte that is not UTF-8, or a text that :func:`simcse.text_checks.check_text` refuses
(a lone surrogate, a control character) is a :class:`~simcse.errors.DataError`
``file:line: ...``, found by :func:`check_file` in one pass before any encoding is spent.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

from simcse.errors import DataError, MissingFileError
from simcse.text_checks import check_text


def iter_lines(path: str | os.PathLike) -> Iterator[tuple[int, str]]:
    """Yield ``(line_number, text)`` for each line of a UTF-8 file, without the newline.

    Lines are decoded one at a time, so a bad byte is reported with its line number and
    the file is never held in memory whole. A leading byte-order mark is dropped.
    """
    path = Path(path)
    if not path.is_file():
        raise MissingFileError(f"{path}: no such file")
    with open(path, "rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as err:
                raise DataError(f"{path}:{lineno}: not valid UTF-8 (byte {err.start}: {raw[err.start:err.start + 1]!r})") from None
            if lineno == 1:
                text = text.removeprefix("\ufeff")
            yield lineno, text.rstrip("\r\n")


def check_file(path: str | os.PathLike) -> int:
    """Read the whole file once and return its number of lines; the first bad line raises
    :class:`DataError` ``file:line: ...`` (a blank line included: rows must match lines)."""
    lines = 0
    for lines, text in iter_lines(path):
        if not text.strip():
            raise DataError(f"{path}:{lines}: blank line; each line must hold one sentence")
        check_text(text, f"{path}:{lines}")
    return lines


def iter_chunks(path: str | os.PathLike, size: int) -> Iterator[list[str]]:
    """The lines of ``path`` in lists of ``size`` (the last may be shorter). No checks beyond
    decoding: run :func:`check_file` first."""
    chunk: list[str] = []
    for _, text in iter_lines(path):
        chunk.append(text)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


# DataError is re-exported: callers that read other text formats import it from here.
__all__ = ["DataError", "check_file", "iter_chunks", "iter_lines"]
