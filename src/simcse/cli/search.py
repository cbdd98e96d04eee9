"""``simcse search``: query an index folder; the model is read from its manifest unless given.

Each hit is a line ``score<TAB>id<TAB>text``. With ``--group-by-document`` each document
comes once, as ``score<TAB>id<TAB>metadata (JSON)``, followed by its best passages, each
``<TAB>score<TAB>[start:end]<TAB>text`` (line breaks shown as spaces).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

from simcse.cli.common import ModelOptions, SearchTuning, add_model_flags, load_index_and_model
from simcse.errors import ConfigError
from simcse.index import AGGREGATIONS, DEFAULT_AGGREGATE, DEFAULT_THRESHOLD, DEFAULT_TOP_K, DEFAULT_TOP_M, DocumentHit
from simcse.settings import add_flags, check_fields, from_args, setting
from simcse.text_checks import check_texts


@dataclass(frozen=True)
class SearchConfig:
    """``simcse search``: one field per flag (beside :class:`ModelOptions` and :class:`SearchTuning`)."""

    index: Path = setting(help="index folder made by `simcse index build`", metavar="FOLDER")
    queries: tuple[str, ...] = setting(help="one or more query sentences", positional=True, metavar="QUERY")
    top_k: int = setting(DEFAULT_TOP_K, "results per query", min=1)
    threshold: float | None = setting(DEFAULT_THRESHOLD, "drop results (passages) with a lower cosine; none = no cut")
    group_by_document: bool = setting(False, "return each document once, scored from its passages (an index of "
                                      "sentences: each sentence is a document)")
    aggregate: str = setting(DEFAULT_AGGREGATE, "with --group-by-document: a document scores its best passage (max) "
                             "or the sum of its --top-m best (sum)", choices=lambda: AGGREGATIONS)
    top_m: int = setting(DEFAULT_TOP_M, "with --group-by-document: passages per document, summed by sum and shown",
                         min=1)
    where: tuple[str, ...] = setting((), "with --group-by-document: keep the documents whose metadata FIELD equals "
                                     "VALUE (a string, or a number, true, false or null as JSON spells it); "
                                     "repeat for several (all must hold)", repeat="append", metavar="FIELD=VALUE")

    def __post_init__(self) -> None:
        check_fields(self)
        check_texts(self.queries, "QUERY")
        if self.where and not self.group_by_document:
            raise ConfigError("--where filters documents; add --group-by-document")
        self.filters()

    def filters(self) -> dict[str, str]:
        """``--where`` as ``{field: value}``."""
        out: dict[str, str] = {}
        for item in self.where:
            field, sep, value = item.partition("=")
            if not sep or not field:
                raise ConfigError(f"--where {item!r}: expected FIELD=VALUE")
            if field in out:
                raise ConfigError(f"--where: field {field!r} given twice")
            out[field] = value
        return out


def add_parser(sub) -> None:
    p = sub.add_parser("search", help="find the indexed sentences or documents most similar to a query",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_model_flags(p, model_default="the index's")
    add_flags(p, SearchConfig)
    add_flags(p, SearchTuning)
    p.set_defaults(func=run)


def print_documents(hits: list[DocumentHit]) -> None:
    for doc in hits:
        print(f"{doc.score:.4f}\t{doc.id}\t{json.dumps(doc.metadata, ensure_ascii=False)}")
        for p in doc.passages:
            print(f"\t{p.score:.4f}\t[{p.start}:{p.end}]\t{' '.join(p.text.split())}")


def run(args: argparse.Namespace) -> int:
    cfg = from_args(SearchConfig, args)
    index, model = load_index_and_model(cfg.index, from_args(ModelOptions, args), from_args(SearchTuning, args))
    queries = model.encode(list(cfg.queries), normalize=True)
    for k, query in enumerate(cfg.queries):
        if len(cfg.queries) > 1:
            print(f"# {query}")
        if cfg.group_by_document:
            (hits,) = index.search_documents(queries[k : k + 1], cfg.top_k, cfg.threshold, aggregate=cfg.aggregate,
                                             top_m=cfg.top_m, where=cfg.filters())
            print_documents(hits)
            continue
        for hit in index.search(queries[k : k + 1], top_k=cfg.top_k, threshold=cfg.threshold)[0]:
            print(f"{hit.score:.4f}\t{hit.id}\t{hit.text}")
    return 0


__all__ = ["SearchConfig", "add_parser", "print_documents", "run"]
