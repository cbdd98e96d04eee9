"""The user's sentence pairs: scored (graded similarity) or labelled (0/1, e.g. duplicates).

Both score a pair by the cosine of its two embeddings, and both read into
:class:`simcse.evaluation.sts.StsPairs` (a label is the score 0.0 or 1.0).

* **Scored pairs**: Spearman and Pearson correlation x 100 between cosine and score
  (``spearman``, ``pearson``), as the STS tasks.
* **Labelled pairs**: average precision x 100 of the cosine as a ranking of the positives
  (``ap``, scikit-learn's ``average_precision_score``), and the best cut-off for a
  "same / not the same" decision. The rule is *predict positive when cosine >= threshold*;
  the thresholds tried are the distinct cosines of the pairs (each cut keeps every pair
  tied at it together), plus, for accuracy only, "nothing positive" (reported as the
  smallest float above the largest cosine). The threshold reported is the cosine value
  itself, so re-applying it to the same pairs gives the same predictions; when several
  thresholds give the best score, the highest (strictest) one is reported.
  Keys: ``f1``, ``precision``, ``recall`` (x 100, at ``f1_threshold``) and ``accuracy``
  (x 100, at ``accuracy_threshold``).
"""

from __future__ import annotations

import math
from dataclasses import KW_ONLY, dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from simcse.evaluation.cache import EmbeddingTable, Encode
from simcse.evaluation.files import DataFormatError
from simcse.evaluation.records import check_name, file_format, float_value, int_value, read_rows, text_value
from simcse.evaluation.sts import StsPairs, cosine_rows, spearman


@dataclass(frozen=True)
class PairsFile:
    """A file of sentence pairs with a third column; the columns are declared, never guessed.

    Args:
        name: the evaluator's name, the prefix of its result keys (``<name>/spearman``).
        path: a ``.tsv``, ``.csv`` or ``.jsonl`` file with a header (TSV/CSV) or keys (JSONL);
            declare ``format`` for another suffix.
        sentence1, sentence2: the columns of the two sentences.
        format: ``"tsv"``, ``"csv"`` or ``"jsonl"``; None takes it from the suffix.
    """

    name: str
    path: Path
    sentence1: str = "sentence1"
    sentence2: str = "sentence2"
    _: KW_ONLY
    format: str | None = None

    def __post_init__(self) -> None:
        check_name(self.name)
        object.__setattr__(self, "path", Path(self.path))

    def files(self) -> list[Path]:
        return [self.path]

    def _read(self, column: str, value: Callable[[int, Any], float], same: str) -> StsPairs:
        """Every pair, its ``column`` converted by ``value(line, raw)``; DataError ``file:line:``
        at the first bad line, or when all values are equal (``same`` says why that is wrong)."""
        columns = (self.sentence1, self.sentence2, column)
        s1, s2, third, last = [], [], [], 1
        for last, (a, b, raw) in read_rows(self.path, file_format(self.path, self.format), columns):
            s1.append(text_value(self.path, last, a, self.sentence1))
            s2.append(text_value(self.path, last, b, self.sentence2))
            third.append(value(last, raw))
        if len(third) < 2:
            raise DataFormatError(self.path, last, f"{len(third)} pair(s): need at least 2")
        if len(set(third)) < 2:
            raise DataFormatError(self.path, last, f"every {column!r} is {third[0]:g}: {same}")
        return StsPairs(tuple(s1), tuple(s2), tuple(third))


@dataclass(frozen=True)
class ScoredPairsSpec(PairsFile):
    """Scored pairs (see :class:`PairsFile`); ``score`` is the column of the graded similarity."""

    score: str = "score"

    def read(self) -> StsPairs:
        """Every pair, checked; the scores must vary."""
        return self._read(self.score, lambda n, raw: float_value(self.path, n, raw, self.score),
                          "a correlation needs varied scores")

    def evaluate(self, encode: Encode, data: StsPairs, encode_dropout: Encode | None = None) -> dict[str, float]:
        """:func:`evaluate_scored_pairs` (``encode_dropout`` is not used)."""
        return evaluate_scored_pairs(encode, data)


@dataclass(frozen=True)
class LabelledPairsSpec(PairsFile):
    """Pairs labelled 0/1 (see :class:`PairsFile`); ``label`` is the column of the label (``0``,
    ``1``; ``1.0`` and JSON ``true`` too). MRPC's ``msr_paraphrase_test.txt`` is
    ``LabelledPairsSpec(name, path, "#1 String", "#2 String", label="Quality", format="tsv")``."""

    label: str = "label"

    def read(self) -> StsPairs:
        """Every pair, checked, its label as the score 0.0 or 1.0; both labels must occur."""
        return self._read(self.label, lambda n, raw: float(int_value(self.path, n, raw, self.label, (0, 1))),
                          "need both 0 and 1")

    def evaluate(self, encode: Encode, data: StsPairs, encode_dropout: Encode | None = None) -> dict[str, float]:
        """:func:`evaluate_labelled_pairs` (``encode_dropout`` is not used)."""
        return evaluate_labelled_pairs(encode, data)


def _pair_cosines(encode: Encode, sent1: Sequence[str], sent2: Sequence[str]) -> np.ndarray:
    table = EmbeddingTable(encode, [*sent1, *sent2])  # each unique sentence encoded once
    return cosine_rows(table(list(sent1)), table(list(sent2)))


def correlations(cosine: np.ndarray, gold: Sequence[float]) -> dict[str, float]:
    """``spearman`` and ``pearson`` x 100 of (N,) cosines against (N,) gold scores (scipy)."""
    from scipy.stats import pearsonr

    return {"spearman": spearman(cosine, gold), "pearson": float(pearsonr(cosine, gold)[0]) * 100.0}


def threshold_metrics(cosine: np.ndarray, label: Sequence[int]) -> dict[str, float]:
    """AP, best F1 and best accuracy over cut-offs "positive when cosine >= t" (module
    docstring); (N,) cosines, (N,) labels in {0, 1} with both present."""
    from sklearn.metrics import average_precision_score

    y = np.asarray(label, dtype=np.int64)
    scores = np.asarray(cosine, dtype=np.float64)
    order = np.argsort(-scores, kind="stable")
    s, tp = scores[order], np.cumsum(y[order])
    fp = np.arange(1, len(s) + 1) - tp
    last = np.r_[s[1:] != s[:-1], True]  # the end of each group of tied cosines
    s, tp, fp = s[last], tp[last], fp[last]  # cut t = s[k]: tp[k], fp[k] pairs predicted positive
    pos, neg = int(y.sum()), int(len(y) - y.sum())
    f1 = 2.0 * tp / (tp + fp + pos)
    best = int(np.argmax(f1))  # first maximum = highest threshold
    correct = np.r_[neg, tp + neg - fp]  # index 0: nothing predicted positive
    cuts = np.r_[math.nextafter(float(s[0]), math.inf), s]
    acc = int(np.argmax(correct))
    return {
        "ap": float(average_precision_score(y, scores)) * 100.0,
        "f1": float(f1[best]) * 100.0,
        "f1_threshold": float(s[best]),
        "precision": float(tp[best] / (tp[best] + fp[best])) * 100.0,
        "recall": float(tp[best] / pos) * 100.0,
        "accuracy": float(correct[acc] / len(y)) * 100.0,
        "accuracy_threshold": float(cuts[acc]),
    }


def evaluate_scored_pairs(encode: Encode, pairs: StsPairs) -> dict[str, float]:
    """``{"spearman", "pearson"}`` x 100 of the pairs' cosines against their scores."""
    return correlations(_pair_cosines(encode, pairs.sent1, pairs.sent2), pairs.gold)


def evaluate_labelled_pairs(encode: Encode, pairs: StsPairs) -> dict[str, float]:
    """:func:`threshold_metrics` of the pairs' cosines against their 0/1 labels (``pairs.gold``):
    ``ap``, ``f1``, ``f1_threshold``, ``precision``, ``recall``, ``accuracy``, ``accuracy_threshold``."""
    return threshold_metrics(_pair_cosines(encode, pairs.sent1, pairs.sent2), pairs.gold)


__all__ = ["LabelledPairsSpec", "PairsFile", "ScoredPairsSpec", "correlations", "evaluate_labelled_pairs",
           "evaluate_scored_pairs", "threshold_metrics"]
