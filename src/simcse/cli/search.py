"""``simcse search``: query an index folder; the model is read from its manifest unless given."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

from simcse.cli.common import ModelOptions, SearchTuning, add_model_flags, load_index_and_model
from simcse.index import DEFAULT_THRESHOLD, DEFAULT_TOP_K
from simcse.settings import add_flags, check_fields, from_args, setting
from simcse.text_checks import check_texts


@dataclass(frozen=True)
class SearchConfig:
    """``simcse search``: one field per flag (beside :class:`ModelOptions` and :class:`SearchTuning`)."""

    index: Path = setting(help="index folder made by `simcse index build`", metavar="FOLDER")
    queries: tuple[str, ...] = setting(help="one or more query sentences", positional=True, metavar="QUERY")
    top_k: int = setting(DEFAULT_TOP_K, "results per query", min=1)
    threshold: float | None = setting(DEFAULT_THRESHOLD, "drop results with a lower cosine; none = no cut")

    def __post_init__(self) -> None:
        check_fields(self)
        check_texts(self.queries, "QUERY")


def add_parser(sub) -> None:
    p = sub.add_parser("search", help="find the indexed sentences most similar to a query", description=__doc__)
    add_model_flags(p, model_default="the index's")
    add_flags(p, SearchConfig)
    add_flags(p, SearchTuning)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    cfg = from_args(SearchConfig, args)
    index, model = load_index_and_model(cfg.index, from_args(ModelOptions, args), from_args(SearchTuning, args))
    hits = index.search(model.encode(list(cfg.queries), normalize=True), top_k=cfg.top_k, threshold=cfg.threshold)
    for query, row in zip(cfg.queries, hits):
        if len(cfg.queries) > 1:
            print(f"# {query}")
        for hit in row:
            print(f"{hit.score:.4f}\t{hit.id}\t{hit.text}")
    return 0


__all__ = ["SearchConfig", "add_parser", "run"]
