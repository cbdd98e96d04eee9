"""The user's own evaluators in one entry point, for ``simcse evaluate`` and for training.

Each kind has a frozen spec (name, file, declared columns or split) with ``read()``, which
checks its files completely and returns the loaded data, and ``evaluate(encode, data)``,
which returns that kind's flat metrics. :func:`read_user` reads every spec before anything
is encoded, so a bad file fails at once; :func:`evaluate_user` then runs them all and
prefixes each key with the evaluator's name (``captions/ndcg@10``), so several evaluators,
and the SentEval tasks, mix in one flat dict and one JSON record.

Example::

    specs = [RetrievalSpec("captions", "data/retrieval/flickr30k_captions_val", split="dev"),
             LabelledPairsSpec("mrpc", "msr_paraphrase_test.txt", "#1 String", "#2 String",
                               label="Quality", format="tsv")]
    loaded = read_user(specs)            # all files checked, nothing encoded yet
    results = evaluate_user(model.encode, loaded)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence, Union

from simcse.errors import ConfigError
from simcse.evaluation.cache import Encode
from simcse.evaluation.health import HealthSpec
from simcse.evaluation.pairs import LabelledPairsSpec, ScoredPairsSpec
from simcse.evaluation.records import SUFFIXES
from simcse.evaluation.retrieval import RetrievalSpec
from simcse.settings import check_fields, setting

UserSpec = Union[ScoredPairsSpec, LabelledPairsSpec, RetrievalSpec, HealthSpec]
USER_KINDS: dict[str, type] = {
    "scored_pairs": ScoredPairsSpec,
    "labelled_pairs": LabelledPairsSpec,
    "retrieval": RetrievalSpec,
    "health": HealthSpec,
}


def user_spec(kind: str, **fields: Any) -> UserSpec:
    """The spec of ``kind`` (a key of :data:`USER_KINDS`) built from ``fields``."""
    if kind not in USER_KINDS:
        raise ConfigError(f"unknown evaluator kind {kind!r}; valid: {', '.join(USER_KINDS)}")
    return USER_KINDS[kind](**fields)


_NAMED = re.compile(r"^([A-Za-z0-9_.-]+)=(.+)$")


def _named(item: str) -> tuple[str, Path]:
    """``NAME=PATH`` -> (NAME, PATH); a bare PATH is named after its file (or folder) stem."""
    match = _NAMED.match(item)
    if match:
        return match.group(1), Path(match.group(2))
    return Path(item).stem or Path(item).name, Path(item)


def _formats() -> tuple[str, ...]:
    return tuple(dict.fromkeys(SUFFIXES.values()))


def _index_backends() -> tuple[str, ...]:
    from simcse.index import BACKENDS

    return tuple(BACKENDS)


@dataclass(frozen=True)
class UserEvaluators:
    """The user's evaluation sets, as settings: the same fields for ``simcse evaluate``
    (``--pairs``, ``--retrieval``, ...) and ``simcse train`` (``--eval-pairs``, ...). Each item
    is ``NAME=PATH`` or a bare ``PATH`` (named after its stem); results are keyed
    ``<NAME>/<metric>``."""

    eval_pairs: tuple[str, ...] = setting((), "scored sentence pairs [NAME=]FILE (.tsv/.csv/.jsonl): Spearman and "
                                          "Pearson x 100 of the cosine", repeat="append", metavar="[NAME=]FILE")
    eval_labelled_pairs: tuple[str, ...] = setting((), "0/1-labelled sentence pairs [NAME=]FILE: average precision, "
                                                   "best F1 and accuracy with their cosine thresholds",
                                                   repeat="append", metavar="[NAME=]FILE")
    eval_retrieval: tuple[str, ...] = setting((), "search judgments [NAME=]DIR in the BEIR layout: nDCG@10, MRR@10, "
                                              "Recall@1/10/100, MAP@100 (x 100)", repeat="append", metavar="[NAME=]DIR")
    eval_health: tuple[str, ...] = setting((), "sentences [NAME=]FILE (one per line) for the label-free numbers: "
                                           "alignment of two dropout views, uniformity, anisotropy",
                                           repeat="append", metavar="[NAME=]FILE")
    eval_split: str = setting("test", "the qrels/<split>.tsv of the retrieval sets")
    eval_sentence1_column: str = setting("sentence1", "column/key of the first sentence of a pair")
    eval_sentence2_column: str = setting("sentence2", "column/key of the second sentence of a pair")
    eval_score_column: str = setting("score", "column/key of the gold score of scored pairs")
    eval_label_column: str = setting("label", "column/key of the 0/1 label of labelled pairs")
    eval_format: str | None = setting(None, "format of the pairs files", choices=_formats, shown_default="from the suffix")
    eval_retrieval_backend: str = setting("exact", "index backend for the retrieval corpus", choices=_index_backends)

    def __post_init__(self) -> None:
        check_fields(self)

    def user_specs(self) -> list[UserSpec]:
        """One spec per item, in the order: scored pairs, labelled pairs, retrieval, health."""
        columns = (self.eval_sentence1_column, self.eval_sentence2_column)
        return [
            *(ScoredPairsSpec(n, p, *columns, score=self.eval_score_column, format=self.eval_format)
              for n, p in map(_named, self.eval_pairs)),
            *(LabelledPairsSpec(n, p, *columns, label=self.eval_label_column, format=self.eval_format)
              for n, p in map(_named, self.eval_labelled_pairs)),
            *(RetrievalSpec(n, p, split=self.eval_split, backend=self.eval_retrieval_backend)
              for n, p in map(_named, self.eval_retrieval)),
            *(HealthSpec(n, p) for n, p in map(_named, self.eval_health)),
        ]


@dataclass(frozen=True)
class UserEvaluation:
    """A spec with the data its ``read()`` returned."""

    spec: UserSpec
    data: Any


def read_user(specs: Sequence[UserSpec]) -> list[UserEvaluation]:
    """Read and check every spec's files, in order; names must be distinct."""
    names = [s.name for s in specs]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ConfigError(f"evaluator names must be distinct; repeated: {', '.join(repeated)}")
    return [UserEvaluation(spec, spec.read()) for spec in specs]


def user_files(specs: Sequence[UserSpec]) -> list[Path]:
    """The files the specs read (for checksums in the JSON record)."""
    return [f for spec in specs for f in spec.files()]


def evaluate_user(encode: Encode, evaluations: Sequence[UserEvaluation],
                  encode_dropout: Encode | None = None) -> dict[str, float]:
    """``{"<name>/<metric>": value}`` over all ``evaluations`` (from :func:`read_user`).

    ``encode_dropout`` (the model with dropout active) is used by health evaluators only,
    for their ``align``; without it they report ``uniform`` and ``anisotropy``.
    """
    results: dict[str, float] = {}
    for ev in evaluations:
        metrics = ev.spec.evaluate(encode, ev.data, encode_dropout)
        results.update({f"{ev.spec.name}/{key}": value for key, value in metrics.items()})
    return results


__all__ = ["USER_KINDS", "UserEvaluation", "UserEvaluators", "UserSpec", "evaluate_user", "read_user", "user_files", "user_spec"]
