"""The whole evaluation in one call: tasks chosen by mode, one encode for all of them.

Modes follow SimCSE's ``evaluation.py``:

* ``test``: STS12-16, STS-B test, SICK-R test; transfer tasks with k = 10 folds.
* ``fasttest``: the same STS numbers (STS has no classifier to speed up); transfer with
  k = 5 folds.
* ``dev``: STS-B dev and SICK-R dev (STS12-16 have no dev split and are skipped); transfer
  with k = 5 folds, reporting the validation accuracies (``avg_transfer_dev``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Sequence

from simcse.evaluation.cache import EmbeddingTable, Encode
from simcse.evaluation.geometry import evaluate_geometry, geometry_sentences
from simcse.evaluation.sts import DEV_TASKS, STS_TASKS, evaluate_sts, sts_files, sts_sentences
from simcse.evaluation.transfer import TRANSFER_TASKS, evaluate_transfer, transfer_sentences
from simcse.evaluation.transfer_data import transfer_files

Mode = Literal["dev", "test", "fasttest"]
MODES: tuple[str, ...] = ("dev", "test", "fasttest")
ALL_TASKS: tuple[str, ...] = (*STS_TASKS, *TRANSFER_TASKS)
TASK_SETS: dict[str, tuple[str, ...]] = {
    "sts": STS_TASKS,
    "transfer": TRANSFER_TASKS,
    "full": ALL_TASKS,
}


def resolve_tasks(task_set: str, tasks: Sequence[str] | None = None) -> tuple[str, ...]:
    """SimCSE's rule: a ``task_set`` other than ``"na"`` overrides ``tasks``; with ``"na"``,
    ``tasks`` (default: all) is used. Unknown names raise ValueError listing the valid ones."""
    if task_set != "na":
        if task_set not in TASK_SETS:
            raise ValueError(f"unknown task set {task_set!r}; valid: {', '.join(TASK_SETS)}, na")
        return TASK_SETS[task_set]
    chosen = tuple(tasks) if tasks else ALL_TASKS
    unknown = [t for t in chosen if t not in ALL_TASKS]
    if unknown:
        raise ValueError(f"unknown task(s) {', '.join(unknown)}; valid: {', '.join(ALL_TASKS)}")
    return tuple(t for t in ALL_TASKS if t in chosen)  # canonical order, no repeats


def _plan(mode: str, tasks: Sequence[str]) -> tuple[list[str], list[str], str]:
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; valid: {', '.join(MODES)}")
    sts = [t for t in tasks if t in STS_TASKS and (mode != "dev" or t in DEV_TASKS)]
    transfer = [t for t in tasks if t in TRANSFER_TASKS]
    return sts, transfer, "dev" if mode == "dev" else "test"


def evaluate(
    encode: Encode,
    data_dir: str | Path,
    mode: Mode = "test",
    tasks: Sequence[str] = STS_TASKS,
    geometry: bool = False,
) -> dict[str, float]:
    """Run ``tasks`` in ``mode``; every unique sentence of every task is encoded in a single
    ``encode`` call. Returns the union of :func:`evaluate_sts`, :func:`evaluate_transfer` and
    (with ``geometry``) :func:`evaluate_geometry` keys (``align``, ``uniform`` on STS-B)."""
    data_dir = Path(data_dir)
    sts, transfer, split = _plan(mode, tasks)
    sentences = sts_sentences(data_dir, sts, split) + transfer_sentences(data_dir, transfer)
    if geometry:
        sentences += geometry_sentences(data_dir, split)
    table = EmbeddingTable(encode, sentences)
    results: dict[str, float] = {}
    if sts:
        results.update(evaluate_sts(table, data_dir, sts, split))
    if transfer:
        setting = "test" if mode == "test" else "fasttest"
        results.update(evaluate_transfer(table, data_dir, transfer, setting))
    if geometry:
        results.update(evaluate_geometry(table, data_dir, split))
    return results


def data_files(
    data_dir: str | Path, mode: Mode, tasks: Sequence[str], geometry: bool = False
) -> list[Path]:
    """The data files :func:`evaluate` reads for these arguments (for checksums)."""
    data_dir = Path(data_dir)
    sts, transfer, split = _plan(mode, tasks)
    files = [f for t in sts for f in sts_files(data_dir, t, split)]
    files += [f for t in transfer for f in transfer_files(data_dir, t)]
    if geometry:
        files += sts_files(data_dir, "STSBenchmark", split)
    return list(dict.fromkeys(files))
