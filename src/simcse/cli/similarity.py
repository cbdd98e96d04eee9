"""``simcse similarity``: cosine similarity between two sentences."""

from __future__ import annotations

import argparse

from simcse.cli.encode import add_model_args, load_model


def add_parser(sub) -> None:
    p = sub.add_parser("similarity", help="cosine similarity of two sentences", description=__doc__)
    add_model_args(p)
    p.add_argument("first", help="a sentence")
    p.add_argument("second", help="another sentence")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    for name in ("first", "second"):
        if not getattr(args, name).strip():
            raise ValueError(f"the {name} sentence is empty")
    score = load_model(args).similarity(args.first, args.second)[0, 0]
    print(f"{score:.4f}")
    return 0
