"""The ``simcse`` command: a thin layer of subcommands over the library.

Each subcommand lives in its own module exposing ``add_parser(subparsers)``, which
registers the subparser and sets ``func`` to a ``run(args) -> int`` callable.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

# Registry of subcommand modules, in the order ``--help`` lists them.
SUBCOMMANDS = ("encode", "similarity", "export", "evaluate", "train", "data", "index", "search", "serve")


class CLIError(Exception):
    """A user-facing error: printed without a traceback, exit status 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="simcse", description="SimCSE sentence embeddings: train, evaluate, encode, search."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in SUBCOMMANDS:
        importlib.import_module(f"simcse.cli.{name}").add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s"
    )
    try:
        return int(args.func(args) or 0)
    except (CLIError, FileNotFoundError, ValueError, UnicodeDecodeError) as err:
        print(f"simcse {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
