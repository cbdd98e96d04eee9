"""Checks on one input text before it reaches the tokenizer.

A text that the tokenizer or the model cannot take (a lone surrogate, a NUL byte) must be
refused at the boundary, with a message naming where it came from, so that it never fails
inside a batch shared with other texts. The server and the CLI call the same checks.

Messages name the place (``queries[3]``, ``file.txt:12``) and the problem, never the text
itself: a caller may have sent megabytes, and the message is one line.
"""

from __future__ import annotations

import math
import re
from typing import Any, Sequence

from simcse.errors import DataError

# C0 and C1 control characters (Unicode category Cc) except tab, newline and carriage return.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def check_text(text: object, where: str, max_chars: int | None = None) -> str:
    """Return ``text`` if it is a usable sentence, else raise :class:`DataError` naming ``where``.

    Usable: a ``str``, not empty or only whitespace, well-formed Unicode (no lone
    surrogates), no control characters other than ``\\t``, ``\\n``, ``\\r``, and at most
    ``max_chars`` characters when that is given.
    """
    if not isinstance(text, str):
        raise DataError(f"{where}: expected a string, got {type(text).__name__}")
    if max_chars is not None and len(text) > max_chars:
        raise DataError(f"{where}: {len(text)} characters, more than the limit of {max_chars}")
    if not text.strip():
        raise DataError(f"{where}: empty text")
    if (bad := _SURROGATE.search(text)) is not None:
        raise DataError(f"{where}: ill-formed Unicode (lone surrogate U+{ord(bad.group()):04X} at character {bad.start()})")
    if (bad := _CONTROL.search(text)) is not None:
        raise DataError(f"{where}: control character U+{ord(bad.group()):04X} at character {bad.start()}")
    return text


def check_texts(
    texts: object, where: str, max_texts: int | None = None, max_chars: int | None = None
) -> list[str]:
    """Check a list of texts; errors name the item as ``where[i]``.

    ``texts`` must be a non-empty list or tuple of at most ``max_texts`` items, each passing
    :func:`check_text`.
    """
    if isinstance(texts, (str, bytes)) or not isinstance(texts, Sequence):
        raise DataError(f"{where}: expected a list of strings, got {type(texts).__name__}")
    if not texts:
        raise DataError(f"{where}: empty list")
    if max_texts is not None and len(texts) > max_texts:
        raise DataError(f"{where}: {len(texts)} texts, more than the limit of {max_texts}")
    return [check_text(text, f"{where}[{i}]", max_chars) for i, text in enumerate(texts)]


def check_metadata(value: Any, where: str) -> Any:
    """Return ``value`` if it is JSON that round-trips: objects with string keys, lists,
    strings without lone surrogates, finite numbers, booleans and null; else a
    :class:`DataError` naming ``where`` and the field (``where: field 'a.b': ...``)."""
    stack: list[tuple[str, Any]] = [("", value)]
    while stack:
        path, item = stack.pop()
        field = f"{where}: field {path.lstrip('.')!r}" if path else where
        if isinstance(item, dict):
            for key, inner in item.items():
                if not isinstance(key, str) or _SURROGATE.search(key):
                    raise DataError(f"{field}: keys must be well-formed strings")
                stack.append((f"{path}.{key}", inner))
        elif isinstance(item, list):
            stack.extend((f"{path}[{i}]", inner) for i, inner in enumerate(item))
        elif isinstance(item, str):
            if (bad := _SURROGATE.search(item)) is not None:
                raise DataError(f"{field}: ill-formed Unicode (lone surrogate U+{ord(bad.group()):04X})")
        elif isinstance(item, float) and not math.isfinite(item):
            raise DataError(f"{field}: {item} is not a JSON number")
        elif item is not None and not isinstance(item, (bool, int, float)):
            raise DataError(f"{field}: {type(item).__name__} is not a JSON value")
    return value


__all__ = ["check_metadata", "check_text", "check_texts"]
