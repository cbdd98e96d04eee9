"""The ``simcse`` command: a thin layer of subcommands over the library.

Each subcommand lives in its own module exposing ``add_parser(subparsers)``, which registers
the subparser (its flags generated from the command's settings dataclasses) and sets
``func`` to a ``run(args) -> int`` callable. Subcommand modules share code only through
:mod:`simcse.cli.common` and the library.

Exit status: 0 on success; 2 for a mistake the user can fix (any
:class:`~simcse.errors.SimCSEError`, printed as one line ``simcse <command>: error: ...``, or
a bad flag); 130 when interrupted. Any other exception is a bug and shows its traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from simcse.errors import SimCSEError

# Registry of subcommand modules, in the order ``--help`` lists them.
SUBCOMMANDS = ("encode", "similarity", "export", "evaluate", "train", "whiten", "mine", "data", "index", "search",
               "serve")


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
    except SimCSEError as err:
        print(f"simcse {args.command}: error: {' '.join(str(err).split())}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"simcse {args.command}: interrupted", file=sys.stderr)
        return 130


__all__ = ["SUBCOMMANDS", "build_parser", "main"]

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
