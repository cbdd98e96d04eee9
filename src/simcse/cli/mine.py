"""``simcse mine``: hard negatives for (anchor, positive) pairs, as triplets for ``simcse train``.

Candidates come from a search over the pairs' positives (or ``--corpus``, one text per line);
the rank window and the margins below the positive's own score keep false negatives out (see
:mod:`simcse.mine`). Writes ``--out`` (CSV: anchor, positive, hard negative; one row per
negative) and ``<out>.json`` with the options, the model and what the filters kept.
"""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass
from pathlib import Path

from simcse.cli.common import ModelOptions, add_model_flags, load_model
from simcse.errors import ConfigError
from simcse.index import BACKENDS
from simcse.mine import MineOptions, mine_hard_negatives, write_triplets
from simcse.settings import add_flags, check_fields, from_args, setting
from simcse.textfile import check_file, iter_chunks
from simcse.train.readers import HARD_NEG, SENT0, SENT1, Schema, read_rows


PAIR_SUFFIXES = (".csv", ".tsv", ".jsonl")


@dataclass(frozen=True)
class MineFiles:
    """Where the pairs come from and the triplets go."""

    pairs: Path = setting(help="(anchor, positive) pairs: .csv/.tsv with a header, or .jsonl")
    out: Path = setting(help="the triplets CSV to write (and <out>.json beside it)")
    corpus: Path | None = setting(None, "candidate texts, one per line (UTF-8)", shown_default="the pairs' positives")
    anchor_column: str = setting(SENT0, "column/key of the anchor")
    positive_column: str = setting(SENT1, "column/key of the positive")
    negative_column: str = setting(HARD_NEG, "column name of the negative in the output")
    backend: str = setting("exact", "index backend for the candidate search", choices=lambda: BACKENDS)

    def __post_init__(self) -> None:
        check_fields(self)
        if self.pairs.suffix.lower() not in PAIR_SUFFIXES:
            raise ConfigError(f"{self.pairs}: pairs are .csv, .tsv or .jsonl with the columns "
                              f"{self.anchor_column!r} and {self.positive_column!r}")


def add_parser(sub) -> None:
    p = sub.add_parser("mine", help="mine hard negatives for pairs (triplets for simcse train)", description=__doc__)
    add_model_flags(p)
    add_flags(p, MineFiles)
    add_flags(p, MineOptions)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    files, opts, model_opts = from_args(MineFiles, args), from_args(MineOptions, args), from_args(ModelOptions, args)
    pairs = list(read_rows(files.pairs, Schema(files.anchor_column, files.positive_column)))
    corpus = None
    if files.corpus is not None:
        check_file(files.corpus)  # file:line errors before any encoding
        corpus = [text for chunk in iter_chunks(files.corpus, 10_000) for text in chunk]
    model = load_model(model_opts)
    result = mine_hard_negatives(model, pairs, opts, corpus=corpus, backend=files.backend)
    record = {"model": model.model_name, "fingerprint": model.fingerprint, "pairs": str(files.pairs),
              "corpus": None if files.corpus is None else str(files.corpus), "backend": files.backend,
              "options": dataclasses.asdict(opts)}
    sidecar = write_triplets(result, files.out, (files.anchor_column, files.positive_column, files.negative_column), record)
    s = result.summary()
    print(f"wrote {s['triplets']} triplets for {s['pairs_with_negatives']} of {s['pairs']} pairs to {files.out} "
          f"({s['pairs_dropped']} without an admissible negative); options in {sidecar}")
    return 0


__all__ = ["MineFiles", "add_parser", "run"]
