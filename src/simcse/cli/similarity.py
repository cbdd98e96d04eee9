"""``simcse similarity``: cosine similarity between two sentences."""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from simcse.cli.common import ModelOptions, add_model_flags, load_model
from simcse.settings import add_flags, from_args, setting
from simcse.text_checks import check_text


@dataclass(frozen=True)
class SimilarityConfig:
    """``simcse similarity``: the two sentences (the model's flags are :class:`ModelOptions`)."""

    first: str = setting(help="a sentence", positional=True)
    second: str = setting(help="another sentence", positional=True)

    def __post_init__(self) -> None:
        check_text(self.first, "the first sentence")
        check_text(self.second, "the second sentence")


def add_parser(sub) -> None:
    p = sub.add_parser("similarity", help="cosine similarity of two sentences", description=__doc__)
    add_model_flags(p)
    add_flags(p, SimilarityConfig)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    cfg = from_args(SimilarityConfig, args)
    score = load_model(from_args(ModelOptions, args)).similarity(cfg.first, cfg.second)[0, 0]
    print(f"{score:.4f}")
    return 0


__all__ = ["SimilarityConfig", "add_parser", "run"]
