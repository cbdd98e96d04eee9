"""Evaluation of sentence embeddings: SimCSE's STS protocol, SentEval transfer probes,
alignment/uniformity, and evaluators on the user's own files (scored and labelled pairs,
BEIR-layout retrieval, label-free health; see :mod:`simcse.evaluation.user`). Evaluators are pure: they take ``encode(list[str]) -> (N, H)`` and
return a flat ``dict[str, float]``; writing files is the caller's job (see ``simcse evaluate``).
"""

from simcse.evaluation.cache import EmbeddingTable, Encode
from simcse.evaluation.files import DataFormatError
from simcse.evaluation.geometry import alignment, evaluate_geometry, plot_geometry, uniformity
from simcse.evaluation.health import HealthSpec, anisotropy, evaluate_health
from simcse.evaluation.pairs import (
    LabelledPairsSpec,
    ScoredPairsSpec,
    evaluate_labelled_pairs,
    evaluate_scored_pairs,
)
from simcse.evaluation.retrieval import RetrievalData, RetrievalSpec, evaluate_retrieval, ranking_metrics
from simcse.evaluation.sts import STS_TASKS, aggregate, evaluate_dev, evaluate_sts, spearman
from simcse.evaluation.suite import ALL_TASKS, MODES, TASK_SETS, data_files, evaluate, resolve_tasks
from simcse.evaluation.transfer import TRANSFER_TASKS, evaluate_transfer
from simcse.evaluation.user import USER_KINDS, UserEvaluation, UserSpec, evaluate_user, read_user, user_spec

__all__ = [
    "ALL_TASKS",
    "MODES",
    "STS_TASKS",
    "TASK_SETS",
    "TRANSFER_TASKS",
    "USER_KINDS",
    "DataFormatError",
    "EmbeddingTable",
    "Encode",
    "HealthSpec",
    "LabelledPairsSpec",
    "RetrievalData",
    "RetrievalSpec",
    "ScoredPairsSpec",
    "UserEvaluation",
    "UserSpec",
    "aggregate",
    "alignment",
    "anisotropy",
    "data_files",
    "evaluate",
    "evaluate_dev",
    "evaluate_geometry",
    "evaluate_health",
    "evaluate_labelled_pairs",
    "evaluate_retrieval",
    "evaluate_scored_pairs",
    "evaluate_sts",
    "evaluate_transfer",
    "evaluate_user",
    "plot_geometry",
    "ranking_metrics",
    "read_user",
    "resolve_tasks",
    "spearman",
    "uniformity",
    "user_spec",
]
