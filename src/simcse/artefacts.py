"""Reading saved artefacts defensively: every fault becomes one line naming the file.

Model folders, index folders and checkpoints are read through these helpers so that a
truncated, garbled or hand-edited file gives a :class:`~simcse.errors.FormatError` (or a
:class:`~simcse.errors.MissingFileError`) whose message starts with the file's path, never
a traceback from json, safetensors, faiss or numpy, and never a silently wrong value.
"""

from __future__ import annotations

import contextlib
import json
import math
import types
import typing
from pathlib import Path
from typing import Any, Iterator

from simcse.errors import FormatError, MissingFileError

INT64_MAX = 2**63 - 1


def one_line(err: BaseException) -> str:
    """An exception as ``Type: message`` on one line (third-party messages span several)."""
    text = " ".join(str(err).split())
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


@contextlib.contextmanager
def corrupt_if_raises(path: Path, *errors: type[BaseException], what: str = "cannot be read") -> Iterator[None]:
    """Turn ``errors`` raised inside the block into ``FormatError("{path}: {what} (...)")``."""
    try:
        yield
    except errors as err:
        raise FormatError(f"{path}: {what} ({one_line(err)})") from None


def require_file(path: Path, why: str) -> Path:
    """``path`` if it is a file, else ``MissingFileError`` saying why it is needed."""
    if not path.is_file():
        raise MissingFileError(f"{path}: missing; {why}")
    return path


def read_json(path: Path, expect: type = dict, why: str = "the folder needs it") -> Any:
    """Parse a JSON file that must hold a value of type ``expect`` (``dict`` or ``list``)."""
    require_file(path, why)
    try:
        value = json.loads(path.read_bytes().decode("utf-8"))
    except json.JSONDecodeError as err:
        raise FormatError(f"{path}:{err.lineno}: not valid JSON ({err.msg})") from None
    except UnicodeDecodeError:
        raise FormatError(f"{path}: not valid JSON (not UTF-8 text)") from None
    if not isinstance(value, expect):
        raise FormatError(f"{path}: expected a JSON {_JSON_NAMES[expect]}, got {json_type(value)}")
    return value


_JSON_NAMES = {dict: "object", list: "array", tuple: "array", str: "string", int: "integer", float: "number", bool: "boolean"}


def json_type(value: Any) -> str:
    """The JSON name of a parsed value's type, for messages."""
    return "null" if value is None else _JSON_NAMES.get(type(value), type(value).__name__)


def _matches(value: Any, hint: Any) -> bool:
    """Whether a parsed JSON value has the declared type (``bool`` is not an ``int`` here)."""
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        return any(_matches(value, h) for h in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if hint is Any:
        return True
    if hint in (int, bool):
        return type(value) is hint
    if hint is float:
        return type(value) in (int, float) and math.isfinite(value)
    if typing.get_origin(hint) is tuple:  # tuple[X, ...]
        return isinstance(value, (list, tuple)) and all(_matches(v, typing.get_args(hint)[0]) for v in value)
    return isinstance(value, typing.get_origin(hint) or hint)


def field_type_problems(values: dict[str, Any], cls: type) -> list[str]:
    """``"field: expected int, got str"`` for each value not of its dataclass field's declared type."""
    hints = typing.get_type_hints(cls)
    return [
        f"field {name!r} must be {_hint_name(hints[name])}, got {json_type(value)} {value!r:.40}"
        for name, value in values.items()
        if name in hints and not _matches(value, hints[name])
    ]


def _hint_name(hint: Any) -> str:
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        return " or ".join(_hint_name(h) for h in typing.get_args(hint))
    if hint is type(None):
        return "null"
    base = typing.get_origin(hint) or hint
    return _JSON_NAMES.get(base, getattr(base, "__name__", str(base)))


__all__ = ["INT64_MAX", "corrupt_if_raises", "field_type_problems", "json_type", "one_line", "read_json", "require_file"]
