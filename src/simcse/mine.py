"""Hard-negative mining: (anchor, positive) pairs -> (anchor, positive, hard negative) triplets.

For each anchor, the candidates are the positives of all pairs (or a given corpus), ranked
by cosine to the anchor with the project's own :class:`~simcse.index.Index`. The anchor's
own text and every positive paired with it are never candidates. A candidate is kept as a
negative when

* its rank (0 = most similar, among the remaining candidates) lies in
  ``[range_min, range_max)``: skipping the very top avoids near-duplicates;
* its cosine is at most ``max_score`` (when set);
* it scores below the anchor's own positive by at least ``margin`` (absolute) and by at
  least ``relative_margin`` of the positive's score (``neg <= pos * (1 - relative_margin)``).

The margins keep *false* negatives out: an unlabeled paraphrase scores about as high as the
labelled positive, a true hard negative clearly lower. (The same filters as
sentence-transformers' ``mine_hard_negatives``, whose ``relative_margin=0.05`` follows
NV-Retriever's "TopK-PercPos".) Up to ``num_negatives`` negatives per anchor are taken, the
top ones or a seeded random sample; each becomes one output row, ready for
``simcse train --hard-neg-column``. Anchors with no admissible candidate are dropped and
counted.
"""

from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Sequence

import numpy as np

from simcse.atomic import atomic_file
from simcse.embedder import Embedder
from simcse.errors import ConfigError, DataError
from simcse.index import Index
from simcse.settings import check_fields, setting


@dataclass(frozen=True)
class MineOptions:
    """How negatives are chosen (see the module docstring); each field is a ``simcse mine`` flag."""

    num_negatives: int = setting(1, "negatives per anchor (one output row each)", min=1)
    range_min: int = setting(0, "skip the N candidates most similar to the anchor", min=0)
    range_max: int = setting(50, "consider candidates ranked below N only", min=1)
    max_score: float | None = setting(None, "drop candidates with a higher cosine to the anchor")
    margin: float | None = setting(None, "drop candidates within this cosine of the anchor's positive")
    relative_margin: float | None = setting(0.05, "drop candidates scoring above positive x (1 - this)", min=0)
    sampling: Literal["top", "random"] = setting("top", "which admissible candidates to take")
    seed: int = setting(0, "seed of the random sampling")
    batch_size: int = setting(64, "sentences per forward pass", min=1)

    def __post_init__(self) -> None:
        check_fields(self)
        if self.range_min >= self.range_max:
            raise ConfigError(f"range_min ({self.range_min}) must be below range_max ({self.range_max})")
        if self.relative_margin is not None and self.relative_margin >= 1:
            raise ConfigError(f"relative_margin must be below 1, got {self.relative_margin}")


@dataclass
class MineResult:
    """The triplets, and what the filters did."""

    triplets: list[tuple[str, str, str]]
    anchors: int  # pairs read
    anchors_with_negatives: int
    candidates: int  # texts searched
    negative_scores: list[float]
    positive_scores: list[float]

    def summary(self) -> dict[str, float | int | None]:
        neg, pos = np.asarray(self.negative_scores), np.asarray(self.positive_scores)
        return {"pairs": self.anchors, "pairs_with_negatives": self.anchors_with_negatives,
                "pairs_dropped": self.anchors - self.anchors_with_negatives, "triplets": len(self.triplets),
                "candidates": self.candidates,
                "mean_positive_score": float(pos.mean()) if len(pos) else None,
                "mean_negative_score": float(neg.mean()) if len(neg) else None}


def _admissible(score: float, positive: float, opts: MineOptions) -> bool:
    if opts.max_score is not None and score > opts.max_score:
        return False
    if opts.margin is not None and score > positive - opts.margin:
        return False
    return opts.relative_margin is None or score <= positive * (1 - opts.relative_margin)


def mine_hard_negatives(model: Embedder, pairs: Sequence[tuple[str, str]], opts: MineOptions = MineOptions(),
                        corpus: Sequence[str] | None = None, backend: str = "exact") -> MineResult:
    """Triplets ``(anchor, positive, negative)`` for ``pairs``; candidates from ``corpus``
    (default: the pairs' positives), searched with the index ``backend``."""
    if not pairs:
        raise DataError("no pairs to mine negatives for")
    candidates = list(dict.fromkeys(corpus if corpus is not None else [p for _, p in pairs]))
    index = Index(model.dim, backend)
    index.add(candidates, model.encode(candidates, batch_size=opts.batch_size, normalize=True))
    anchors = list(dict.fromkeys(a for a, _ in pairs))
    anchor_vecs = model.encode(anchors, batch_size=opts.batch_size, normalize=True)
    positives = list(dict.fromkeys(p for _, p in pairs))
    positive_vecs = dict(zip(positives, model.encode(positives, batch_size=opts.batch_size, normalize=True)))
    paired: dict[str, set[str]] = {}
    for a, p in pairs:
        paired.setdefault(a, {a}).add(p)
    width = max(len(v) for v in paired.values())
    hits = index.search(anchor_vecs, top_k=min(len(candidates), opts.range_max + width))
    ranked = {a: [(h.text, h.score) for h in row if h.text not in paired[a]][opts.range_min:opts.range_max]
              for a, row in zip(anchors, hits)}
    anchor_row = {a: i for i, a in enumerate(anchors)}
    rng = np.random.default_rng(opts.seed)
    triplets, neg_scores, pos_scores, kept = [], [], [], 0
    for a, p in pairs:
        positive = float(anchor_vecs[anchor_row[a]] @ positive_vecs[p])
        pos_scores.append(positive)
        ok = [(t, s) for t, s in ranked[a] if _admissible(s, positive, opts)]
        if opts.sampling == "random" and len(ok) > opts.num_negatives:
            ok = [ok[i] for i in sorted(rng.choice(len(ok), opts.num_negatives, replace=False))]
        chosen = ok[: opts.num_negatives]
        kept += bool(chosen)
        triplets += [(a, p, t) for t, _ in chosen]
        neg_scores += [s for _, s in chosen]
    return MineResult(triplets, len(pairs), kept, len(candidates), neg_scores, pos_scores)


def write_triplets(result: MineResult, out: str | os.PathLike, columns: tuple[str, str, str],
                   record: dict) -> Path:
    """The triplets as CSV with a header (``columns``), and beside it ``<out>.json`` with the
    options, the model and what the filters did; both written atomically."""
    out = Path(out)
    with atomic_file(out, "w") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows(result.triplets)
    sidecar = out.with_name(out.name + ".json")
    with atomic_file(sidecar, "w") as fh:
        json.dump({**record, "result": result.summary()}, fh, indent=2)
        fh.write("\n")
    return sidecar


__all__ = ["MineOptions", "MineResult", "mine_hard_negatives", "write_triplets"]
