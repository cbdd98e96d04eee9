"""Reading the user's own tabular files with declared columns, checked line by line.

Three formats, chosen by the caller or by the file's suffix (never by its content):

* ``tsv``: tab-separated, a header line naming the columns, no quoting at all
  (``csv.QUOTE_NONE``): a ``"`` is an ordinary character, as in MRPC's text.
* ``csv``: comma-separated, a header line, standard CSV quoting (a quoted field may span lines).
* ``jsonl``: one JSON object per line; a column is a key.

Every value is checked as it is read; the first problem raises :class:`DataFormatError`
(a :class:`simcse.errors.DataError`) whose message starts with ``file:line:``. Bytes are
decoded one line at a time, so a non-UTF-8 byte is reported with its line. A UTF-8 byte
order mark on the first line is dropped; blank lines are skipped.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any, Iterator, Literal, Sequence

from simcse.errors import ConfigError, DataError, MissingFileError
from simcse.evaluation.files import DataFormatError
from simcse.text_checks import check_text
from simcse.textfile import DataError as TextFileError
from simcse.textfile import iter_lines

Format = Literal["tsv", "csv", "jsonl"]
SUFFIXES: dict[str, Format] = {".tsv": "tsv", ".csv": "csv", ".jsonl": "jsonl"}


def file_format(path: Path, declared: str | None) -> Format:
    """``declared``, or the format named by the file's suffix; ConfigError when neither is known."""
    if declared is None:
        if path.suffix.lower() not in SUFFIXES:
            raise ConfigError(f"{path}: cannot tell the format from the suffix {path.suffix!r}; "
                              f"declare one of {', '.join(sorted(set(SUFFIXES.values())))}")
        return SUFFIXES[path.suffix.lower()]
    if declared not in SUFFIXES.values():
        raise ConfigError(f"unknown file format {declared!r}; valid: {', '.join(SUFFIXES.values())}")
    return declared  # type: ignore[return-value]


def check_name(name: str) -> None:
    """An evaluator's name prefixes its result keys (``<name>/<metric>``): non-empty, no ``/``."""
    if not isinstance(name, str) or not name.strip() or "/" in name or name != name.strip():
        raise ConfigError(f"an evaluator name must be non-empty, without '/' or surrounding spaces, got {name!r}")


def utf8_lines(path: Path) -> Iterator[tuple[int, str]]:
    """``(line number, text + "\\n")`` per line (the csv module wants the line ends):
    :func:`simcse.textfile.iter_lines`, its errors as :class:`simcse.errors.DataError`."""
    if not path.is_file():
        raise MissingFileError(f"{path}: no such file")
    try:
        for lineno, text in iter_lines(path):
            yield lineno, text + "\n"
    except TextFileError as err:  # "file:line: not valid UTF-8 ..."
        raise DataError(str(err)) from None


def _json_rows(path: Path, columns: Sequence[str], optional: Sequence[str]) -> Iterator[tuple[int, tuple[Any, ...]]]:
    for lineno, text in utf8_lines(path):
        if not text.strip():
            continue
        try:
            obj = json.loads(text)
        except ValueError as err:
            raise DataFormatError(path, lineno, f"not a JSON object ({err})") from None
        if not isinstance(obj, dict):
            raise DataFormatError(path, lineno, f"expected a JSON object, got {type(obj).__name__}")
        missing = [c for c in columns if c not in obj]
        if missing:
            raise DataFormatError(path, lineno, f"no key {missing[0]!r}; keys: {', '.join(map(repr, obj))}")
        yield lineno, tuple(obj[c] for c in columns) + tuple(obj.get(c) for c in optional)


def _delimited_rows(path: Path, fmt: Format, columns: Sequence[str],
                    optional: Sequence[str]) -> Iterator[tuple[int, tuple[Any, ...]]]:
    lines = (text for _, text in utf8_lines(path))
    quoting = csv.QUOTE_NONE if fmt == "tsv" else csv.QUOTE_MINIMAL
    reader = csv.reader(lines, delimiter="\t" if fmt == "tsv" else ",", quoting=quoting)
    header: list[str] | None = None
    where: list[int] = []  # field index of each column (-1: an optional column absent)
    while True:
        start = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as err:
            raise DataFormatError(path, start, f"malformed {fmt.upper()} ({err})") from None
        if not row or (len(row) == 1 and not row[0].strip()):
            continue
        if header is None:
            header = row
            missing = [c for c in columns if c not in header]
            if missing:
                raise DataFormatError(path, start, f"no column {missing[0]!r} in the header; "
                                      f"columns: {', '.join(map(repr, header))}")
            where = [header.index(c) for c in columns] + [header.index(c) if c in header else -1 for c in optional]
            continue
        if len(row) != len(header):
            raise DataFormatError(path, start, f"expected {len(header)} fields as in the header, got {len(row)}")
        yield start, tuple(row[i] if i >= 0 else None for i in where)
    if header is None:
        raise DataFormatError(path, 1, "empty file: expected a header line naming the columns")


def read_rows(path: Path, fmt: Format, columns: Sequence[str],
              optional: Sequence[str] = ()) -> Iterator[tuple[int, tuple[Any, ...]]]:
    """``(line, values)`` per record: the values of ``columns`` (each required) then of
    ``optional`` (None where absent), in that order. TSV/CSV values are ``str``; JSON values
    are whatever the line holds (check them with :func:`text_value` etc.)."""
    if fmt == "jsonl":
        return _json_rows(path, columns, optional)
    return _delimited_rows(path, fmt, columns, optional)


def text_value(path: Path, lineno: int, value: Any, column: str) -> str:
    """A sentence: a non-empty, well-formed ``str`` (see :func:`simcse.text_checks.check_text`)."""
    return check_text(value, f"{path}:{lineno}: {column!r}")


def id_value(path: Path, lineno: int, value: Any, column: str) -> str:
    """An identifier: a non-empty string, or a JSON integer (read as its decimal text)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str) or not value.strip():
        raise DataFormatError(path, lineno, f"{column!r} must be a non-empty string, got {value!r}")
    return value


def _short(value: Any) -> str:
    """``repr(value)``, cut to 60 characters (a JSON integer may have thousands of digits)."""
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:60]}... ({len(text)} characters)"


def float_value(path: Path, lineno: int, value: Any, column: str) -> float:
    """A finite number (a JSON number or its text)."""
    try:
        if isinstance(value, bool):
            raise ValueError
        number = float(value)
    except OverflowError:  # a JSON integer beyond float range
        raise DataFormatError(path, lineno, f"{column!r} is out of range: {_short(value)}") from None
    except (TypeError, ValueError):
        raise DataFormatError(path, lineno, f"{column!r} is not a number: {_short(value)}") from None
    if not math.isfinite(number):
        raise DataFormatError(path, lineno, f"{column!r} is not finite: {_short(value)}")
    return number


def int_value(path: Path, lineno: int, value: Any, column: str, allowed: Sequence[int] | None = None) -> int:
    """An integer (a JSON number or ``true``/``false``, or its text: ``1``, ``1.0``),
    optionally one of ``allowed``."""
    try:
        number: float | None = float(value.strip() if isinstance(value, str) else value)
    except OverflowError:  # a JSON integer beyond float range
        raise DataFormatError(path, lineno, f"{column!r} is out of range: {_short(value)}") from None
    except (TypeError, ValueError):
        number = None
    if number is not None and number.is_integer():
        number = int(number)
    else:
        number = None
    if number is None or (allowed is not None and number not in allowed):
        want = f"one of {', '.join(map(str, allowed))}" if allowed is not None else "an integer"
        raise DataFormatError(path, lineno, f"{column!r} must be {want}, got {_short(value)}")
    return number


__all__ = ["Format", "SUFFIXES", "check_name", "file_format", "float_value", "id_value", "int_value", "read_rows",
           "text_value", "utf8_lines"]
