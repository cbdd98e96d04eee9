"""Evaluation of sentence embeddings: SimCSE's STS protocol, SentEval transfer probes,
alignment/uniformity. Evaluators are pure: they take ``encode(list[str]) -> (N, H)`` and
return a flat ``dict[str, float]``; writing files is the caller's job (see ``simcse evaluate``).
"""

from simcse.evaluation.cache import EmbeddingTable, Encode
from simcse.evaluation.files import DataFormatError
from simcse.evaluation.geometry import alignment, evaluate_geometry, plot_geometry, uniformity
from simcse.evaluation.sts import STS_TASKS, aggregate, evaluate_dev, evaluate_sts, spearman
from simcse.evaluation.suite import ALL_TASKS, MODES, TASK_SETS, data_files, evaluate, resolve_tasks
from simcse.evaluation.transfer import TRANSFER_TASKS, evaluate_transfer

__all__ = [
    "ALL_TASKS",
    "MODES",
    "STS_TASKS",
    "TASK_SETS",
    "TRANSFER_TASKS",
    "DataFormatError",
    "EmbeddingTable",
    "Encode",
    "aggregate",
    "alignment",
    "data_files",
    "evaluate",
    "evaluate_dev",
    "evaluate_geometry",
    "evaluate_sts",
    "evaluate_transfer",
    "plot_geometry",
    "resolve_tasks",
    "spearman",
    "uniformity",
]
