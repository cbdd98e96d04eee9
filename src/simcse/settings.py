"""Settings: one frozen dataclass per command, whose fields make its flags and config keys.

A field is declared once, with :func:`setting`: its default, its help text, and where
relevant its allowed values (a tuple, or a registry read lazily) and its lower bound.
From that one declaration come

* the command-line flag (``batch_size`` -> ``--batch-size``; :func:`add_flags`), with the
  help text, the choices and the default shown;
* the validation (:func:`check_fields`, called from the dataclass's ``__post_init__``);
* the config-file key with its type check (:func:`check_value`, :func:`read_config_file`).

Flags that are not given stay unset (``argparse.SUPPRESS``), so the dataclass defaults, and
presets or config files where a command has them, are never overridden by a copy of a
default. Field types: ``str``, ``int``, ``float``, ``bool``, ``Path``, ``Literal[...]``,
``X | None`` and ``tuple[X, ...]`` (a repeatable flag; numbers may also be given
comma-separated: ``--dims 384,256 128``).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import types
import typing
from pathlib import Path
from typing import Any, Callable, Iterable, Literal

from simcse.errors import ConfigError

NONE = "none"  # how a flag sets a nullable field to None
Choices = tuple[str, ...] | Callable[[], Iterable[str]]


def setting(default: Any = dataclasses.MISSING, help: str = "", *, choices: Choices | None = None,
            min: float | None = None, repeat: Literal["nargs", "append"] = "nargs",
            positional: bool = False, metavar: str | None = None,
            shown_default: str | Callable[[], str] | None = None) -> Any:
    """A dataclass field that is also a flag.

    Args:
        default: the default value (none: the flag is required).
        help: what the setting does, in the reader's terms.
        choices: allowed values, or a function returning them (e.g. ``lambda: POOLERS``), so
            that a registry, not a copy of it, is the list. ``Literal`` fields need none.
        min: smallest allowed value of a number.
        repeat: for ``tuple`` fields: ``--tasks A B`` (``nargs``) or ``--model A --model B``
            (``append``).
        positional: an argument without a ``--`` flag.
        metavar: the name shown in ``--help``.
        shown_default: what ``--help`` says the default is, when the field's own default only
            means "decided elsewhere" (e.g. ``None`` = each backend's default): a text, or a
            function returning it, so that it is read from where that default lives.
    """
    meta = {"help": help, "choices": choices, "min": min, "repeat": repeat, "positional": positional, "metavar": metavar,
            "shown_default": shown_default}
    return dataclasses.field(default=default, metadata=meta)


class FieldType(typing.NamedTuple):
    scalar: type  # str, int, float, bool, Path
    nullable: bool
    many: bool  # tuple[X, ...]
    literal: tuple[str, ...] | None


def field_types(cls: type) -> dict[str, FieldType]:
    """{field name: FieldType} of a settings dataclass (annotations resolved)."""
    hints = typing.get_type_hints(cls)
    out = {}
    for f in dataclasses.fields(cls):
        hint, nullable, many, literal = hints[f.name], False, False, None
        if typing.get_origin(hint) in (typing.Union, types.UnionType):
            inner = [a for a in typing.get_args(hint) if a is not type(None)]
            hint, nullable = inner[0], True
        if typing.get_origin(hint) is tuple:
            hint, many = typing.get_args(hint)[0], True
        if typing.get_origin(hint) is Literal:
            literal, hint = tuple(typing.get_args(hint)), str
        out[f.name] = FieldType(hint, nullable, many, literal)
    return out


def allowed(cls: type, name: str) -> tuple[str, ...] | None:
    """The allowed values of field ``name``: its ``Literal`` values or its declared choices."""
    spec = field_types(cls)[name]
    if spec.literal is not None:
        return spec.literal
    choices = {f.name: f for f in dataclasses.fields(cls)}[name].metadata.get("choices")
    if choices is None:
        return None
    return tuple(choices() if callable(choices) else choices)


def check_fields(obj: Any) -> None:
    """Validate every field of a settings dataclass instance against its choices and bounds;
    raise :class:`ConfigError` naming the field and the valid values."""
    cls = type(obj)
    for f in dataclasses.fields(cls):
        value = getattr(obj, f.name)
        values = value if isinstance(value, tuple) else (value,)
        valid = allowed(cls, f.name)
        bound = f.metadata.get("min")
        for v in values:
            if v is None:
                continue
            if isinstance(v, float) and not math.isfinite(v):
                raise ConfigError(f"{f.name} must be a finite number, got {v}")
            if valid is not None and v not in valid:
                raise ConfigError(f"{f.name} {v!r} is not one of: {', '.join(valid)}")
            if bound is not None and v < bound:
                raise ConfigError(f"{f.name} must be >= {bound:g}, got {v}")


def check_value(cls: type, name: str, value: Any, where: str) -> Any:
    """One config-file value, type-checked against field ``name``; ``where`` names the file."""
    specs = field_types(cls)
    if name not in specs:
        raise ConfigError(f"{where}: unknown key {name!r}; valid keys: {', '.join(specs)}")
    spec = specs[name]
    if value is None and spec.nullable:
        return None
    if spec.many:
        if not isinstance(value, list):
            raise ConfigError(f"{where}: key {name!r} must be a list, got {value!r}")
        return tuple(_check_scalar(spec, name, v, where) for v in value)
    return _check_scalar(spec, name, value, where)


def _check_scalar(spec: FieldType, name: str, value: Any, where: str) -> Any:
    typ = spec.scalar
    if typ is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if typ is Path and isinstance(value, str):
        return Path(value)
    if not isinstance(value, typ) or (typ in (int, float) and isinstance(value, bool)):
        shown = "text" if typ is Path else typ.__name__
        raise ConfigError(f"{where}: key {name!r} must be {shown}{' or null' if spec.nullable else ''}, got {value!r}")
    return value


def read_config_file(path: str | os.PathLike, cls: type, extra_keys: tuple[str, ...] = ()) -> dict[str, Any]:
    """Keys of a JSON or TOML file of ``cls`` settings (``-`` or ``_`` alike), type-checked;
    ``extra_keys`` (e.g. ``preset``) pass through unchecked."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no such config file")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise ConfigError(f"{path}: not valid UTF-8 (byte {err.start})") from None
    suffix = path.suffix.lower()
    if suffix == ".toml":
        import tomllib

        try:
            raw = tomllib.loads(text)
        except tomllib.TOMLDecodeError as err:
            raise ConfigError(f"{path}: invalid TOML ({err})") from None
    elif suffix == ".json":
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as err:
            raise ConfigError(f"{path}:{err.lineno}: invalid JSON ({err.msg})") from None
    else:
        raise ConfigError(f"{path}: config files are .json or .toml")
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a table/object of settings")
    out = {}
    for key, value in raw.items():
        name = key.replace("-", "_")
        out[name] = value if name in extra_keys else check_value(cls, name, value, str(path))
    return out


# ---------------------------------------------------------------- argparse


def _parser_for(spec: FieldType) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        if spec.nullable and text.lower() == NONE:
            return None
        if spec.scalar is bool:
            lowered = text.lower()
            if lowered not in ("true", "false"):
                raise argparse.ArgumentTypeError(f"expected true, false or none, got {text!r}")
            return lowered == "true"
        try:
            return spec.scalar(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {spec.scalar.__name__}, got {text!r}") from None

    parse.__name__ = spec.scalar.__name__
    return parse


def _default_text(value: Any) -> str:
    if isinstance(value, tuple):
        return " ".join(map(str, value)) or "none"
    return "none" if value is None else str(value)


def _shown_default(f: dataclasses.Field, defaults: dict[str, Any]) -> str | None:
    """What ``--help`` says field ``f`` defaults to; None for a required field."""
    if f.name in defaults:
        return _default_text(defaults[f.name])
    shown = f.metadata.get("shown_default")
    if shown is not None:
        return shown() if callable(shown) else shown
    return None if f.default is dataclasses.MISSING else _default_text(f.default)


def add_flags(parser: argparse.ArgumentParser, cls: type, skip: Iterable[str] = (),
              defaults: dict[str, Any] | None = None, strip_prefix: str = "") -> None:
    """One flag per field of ``cls`` (except ``skip``); unset flags stay absent from the
    namespace. ``defaults`` overrides the default shown in the help (e.g. a preset's);
    ``strip_prefix`` shortens the flags of fields named with it (``eval_pairs`` -> ``--pairs``)
    where a command needs no prefix, the field names staying the same."""
    specs, skip = field_types(cls), set(skip)
    for f in dataclasses.fields(cls):
        if f.name in skip:
            continue
        spec, meta = specs[f.name], f.metadata
        shown = _shown_default(f, defaults or {})
        help_text = (meta.get("help", "") + ("" if shown is None else f" (default: {shown})")).replace("%", "%%")
        kwargs: dict[str, Any] = {"help": help_text, "default": argparse.SUPPRESS}
        if meta.get("metavar"):
            kwargs["metavar"] = meta["metavar"]
        if spec.scalar is bool and not spec.nullable and not spec.many:
            kwargs["action"] = argparse.BooleanOptionalAction
        else:
            kwargs["type"] = _parser_for(spec)
            if spec.scalar is bool:
                kwargs.setdefault("metavar", "{true,false,none}")
            else:
                valid = allowed(cls, f.name)
                if valid is not None:
                    shown = (*valid, NONE) if spec.nullable else valid
                    kwargs.setdefault("metavar", "{" + ",".join(shown) + "}")
                    kwargs["type"] = _choice_parser(spec, shown)
            if spec.many and spec.scalar in (int, float):
                kwargs.update(type=_comma_list(kwargs["type"]), action=_Flatten, nargs="+")
            elif spec.many:
                if meta.get("repeat") == "append":
                    kwargs["action"] = "append"
                else:
                    kwargs["nargs"] = "+"
        if meta.get("positional"):
            kwargs.pop("default")
            if spec.many:
                kwargs["nargs"] = "+"
            parser.add_argument(f.name, **kwargs)
            continue
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:  # type: ignore[misc]
            kwargs["required"] = True
        parser.add_argument("--" + f.name.removeprefix(strip_prefix).replace("_", "-"), dest=f.name, **kwargs)


def _comma_list(parse: Callable[[str], Any]) -> Callable[[str], list[Any]]:
    def parse_list(text: str) -> list[Any]:
        return [parse(part) for part in text.split(",") if part.strip()]

    parse_list.__name__ = parse.__name__
    return parse_list


class _Flatten(argparse.Action):
    """``--dims 384,256 128`` -> [384, 256, 128]: each word parsed to a list, the lists joined."""

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        setattr(namespace, self.dest, [v for word in values for v in word])


def _choice_parser(spec: FieldType, shown: tuple[str, ...]) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        if text not in shown:
            raise argparse.ArgumentTypeError(f"invalid choice {text!r} (choose from {', '.join(shown)})")
        return None if spec.nullable and text == NONE else text

    parse.__name__ = "choice"
    return parse


def given(cls: type, args: argparse.Namespace, skip: Iterable[str] = ()) -> dict[str, Any]:
    """The fields of ``cls`` (except ``skip``) set on the command line (lists made tuples)."""
    out, skip = {}, set(skip)
    for f in dataclasses.fields(cls):
        if f.name not in skip and hasattr(args, f.name):
            value = getattr(args, f.name)
            out[f.name] = tuple(value) if isinstance(value, list) else value
    return out


def from_args(cls: type, args: argparse.Namespace, skip: Iterable[str] = (), **overrides: Any) -> Any:
    """``cls(**given flags, **overrides)``: defaults come from the dataclass alone; flags of
    fields in ``skip`` (registered by another dataclass of the same command) are ignored."""
    return cls(**{**given(cls, args, skip), **overrides})


__all__ = ["NONE", "FieldType", "add_flags", "allowed", "check_fields", "check_value", "field_types", "from_args",
           "given", "read_config_file", "setting"]
