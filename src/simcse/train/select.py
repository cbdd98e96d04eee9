"""Choosing the model to keep: evaluate during training, save the best, the start included.

Every evaluation runs the configured evaluators (STS-B dev by default; the user's own pairs
and retrieval sets when given, see :func:`simcse.train.evaluators.build_evaluators`) on the
current weights in eval mode and writes all their numbers to ``metrics.jsonl``. The metric
named by ``metric_for_best_model`` (higher is better) decides whether ``<output_dir>/model``
is replaced. The starting model is evaluated before the first step and is a candidate like
any step, so a run in which no step beats it keeps the starting model and says so.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from simcse.encoder import Encoder
from simcse.errors import ConfigError
from simcse.model_io import save_encoder

log = logging.getLogger(__name__)

# A selected metric this far below its best (relative) is reported as a collapse.
COLLAPSE_DROP = 0.10


@dataclass
class Progress:
    """Where training stands; saved in every checkpoint and restored on resume."""

    step: int = 0
    epoch: int = 0
    batch: int = 0  # batches done in ``epoch``
    best_score: float | None = None
    best_step: int | None = None  # 0 = the starting model
    first_score: float | None = None  # the starting model's score
    collapsed: bool = False  # a collapse has been reported since the best

    def advance(self, epoch: int, index: int) -> None:
        self.step, self.epoch, self.batch = self.step + 1, epoch, index + 1


class Selector:
    """Evaluate, log and keep the best model. Only the process that ``writes`` evaluates.

    Args:
        evaluate: the current weights -> flat ``{metric: value}`` (eval mode is the caller's).
        metric: the key that selects the model (higher is better).
        encoder: what is saved to ``out`` when a new best is found.
        log_record: where each evaluation's record goes (``metrics.jsonl``).
    """

    def __init__(self, evaluate: Callable[[], dict[str, float]], metric: str, encoder: Encoder, out: Path,
                 log_record: Callable[[dict[str, Any]], None], writes: bool) -> None:
        self.evaluate, self.metric, self.encoder, self.out = evaluate, metric, encoder, out
        self.log_record, self.writes = log_record, writes

    def __call__(self, progress: Progress) -> float | None:
        """Evaluate at ``progress.step``; save the model if it is the best so far. Returns the score."""
        if not self.writes:
            return None
        scores = self.evaluate()
        if self.metric not in scores:
            raise ConfigError(f"metric_for_best_model {self.metric!r} is not among the evaluation results; "
                              f"valid: {', '.join(sorted(scores))}")
        score = scores[self.metric]
        self.log_record({"step": progress.step, "event": "eval", **scores})
        if progress.step == 0:
            progress.first_score = score
        if not math.isnan(score) and (progress.best_score is None or score > progress.best_score):
            progress.best_score, progress.best_step, progress.collapsed = score, progress.step, False
            save_encoder(self.encoder, self.out)
        elif self._collapsed(score, progress.best_score) and not progress.collapsed:
            progress.collapsed = True
            message = (f"{self.metric} fell to {score:.4g} at step {progress.step}, more than "
                       f"{COLLAPSE_DROP:.0%} below its best {progress.best_score:.4g} (step {progress.best_step}): "
                       "the run may be collapsing; the best model is kept")
            log.warning(message)
            self.log_record({"step": progress.step, "event": "collapse", "message": message})
        return score

    @staticmethod
    def _collapsed(score: float, best: float | None) -> bool:
        return best is not None and (math.isnan(score) or score < best - COLLAPSE_DROP * abs(best))


__all__ = ["COLLAPSE_DROP", "Progress", "Selector"]
