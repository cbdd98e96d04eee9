"""SentEval transfer tasks: a logistic-regression probe on frozen sentence embeddings.

=========  ==========================  ===============================================
task       data                        validation (SentEval's, see :mod:`.probe`)
=========  ==========================  ===============================================
MR, CR,    all sentences               InnerKFold: k outer folds x k inner folds for C
SUBJ, MPQA
SST2       train / dev / test          Split: C chosen on dev, scored on test
TREC       train / test (6 classes)    KFold: C by k-fold CV on train, scored on test
MRPC       train / test pairs          KFold on features [|u - v|, u * v]; acc and F1
=========  ==========================  ===============================================

Settings, as SimCSE's ``evaluation.py`` sets SentEval's ``kfold``: ``test`` uses k = 10
(the comparable setting), ``fasttest`` (and the ``dev`` mode) k = 5. The classifier itself
is scikit-learn's LogisticRegression, not SentEval's PyTorch one (see :mod:`.probe`).

MRPC features follow SentEval's ``mrpc.py``, ``np.c_[|u - v|, u * v]``; the
``[u, v, |u - v|, u * v]`` variant is SentEval's SICK-E/SNLI feature, not MRPC's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Sequence

import numpy as np

from simcse.evaluation import probe
from simcse.evaluation.cache import EmbeddingTable, Encode
from simcse.evaluation.transfer_data import (
    BINARY_FILES,
    read_binary,
    read_mrpc,
    read_sst2,
    read_trec,
)

TRANSFER_TASKS: tuple[str, ...] = ("MR", "CR", "SUBJ", "MPQA", "SST2", "TREC", "MRPC")
KEY_PREFIX: dict[str, str] = {task: task.lower() for task in TRANSFER_TASKS}
Setting = Literal["test", "fasttest"]
KFOLD: dict[str, int] = {"test": 10, "fasttest": 5}


def transfer_sentences(data_dir: Path, tasks: Sequence[str]) -> list[str]:
    """Every sentence the transfer evaluation of ``tasks`` will encode (with repeats)."""
    out: list[str] = []
    for task in tasks:
        if task in BINARY_FILES:
            out += read_binary(data_dir, task).sentences
        elif task == "SST2":
            for split in ("train", "dev", "test"):
                out += read_sst2(data_dir, split).sentences
        elif task == "TREC":
            for split in ("train", "test"):
                out += read_trec(data_dir, split).sentences
        elif task == "MRPC":
            for split in ("train", "test"):
                pairs = read_mrpc(data_dir, split)
                out += [*pairs.sent1, *pairs.sent2]
        else:
            raise ValueError(f"unknown transfer task {task!r}; valid: {', '.join(TRANSFER_TASKS)}")
    return out


def mrpc_features(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """SentEval's MRPC pair features: (N, H), (N, H) -> (N, 2H) ``[|u - v|, u * v]``."""
    return np.concatenate([np.abs(u - v), u * v], axis=1)


def _run_task(task: str, table: EmbeddingTable, data_dir: Path, k: int, seed: int) -> dict[str, float]:
    p = KEY_PREFIX[task]

    def X(sentences: Sequence[str]) -> np.ndarray:
        return table(list(sentences)).astype(np.float64)

    if task in BINARY_FILES:
        data = read_binary(data_dir, task)
        r = probe.inner_kfold(X(data.sentences), np.array(data.labels), k=k, seed=seed)
        return {f"{p}_acc": r.acc, f"{p}_devacc": r.devacc}
    if task == "SST2":
        tr, dev, te = (read_sst2(data_dir, s) for s in ("train", "dev", "test"))
        r = probe.split(X(tr.sentences), np.array(tr.labels), X(dev.sentences),
                        np.array(dev.labels), X(te.sentences), np.array(te.labels), seed=seed)
        return {f"{p}_acc": r.acc, f"{p}_devacc": r.devacc}
    if task == "TREC":
        tr, te = read_trec(data_dir, "train"), read_trec(data_dir, "test")
        r = probe.kfold(X(tr.sentences), np.array(tr.labels), X(te.sentences),
                        np.array(te.labels), k=k, seed=seed)
        return {f"{p}_acc": r.acc, f"{p}_devacc": r.devacc}
    if task == "MRPC":
        from sklearn.metrics import f1_score

        tr, te = read_mrpc(data_dir, "train"), read_mrpc(data_dir, "test")
        y_te = np.array(te.labels)
        r = probe.kfold(mrpc_features(X(tr.sent1), X(tr.sent2)), np.array(tr.labels),
                        mrpc_features(X(te.sent1), X(te.sent2)), y_te, k=k, seed=seed)
        f1 = round(100.0 * float(f1_score(y_te, r.predictions)), 2)
        return {f"{p}_acc": r.acc, f"{p}_devacc": r.devacc, f"{p}_f1": f1}
    raise ValueError(f"unknown transfer task {task!r}; valid: {', '.join(TRANSFER_TASKS)}")


def evaluate_transfer(
    encode: Encode,
    data_dir: Path,
    tasks: Sequence[str] = TRANSFER_TASKS,
    setting: Setting = "test",
    seed: int = probe.SEED,
) -> dict[str, float]:
    """Probe accuracies x 100 for ``tasks``; each unique sentence is encoded once.

    Returns ``<task>_acc`` (test accuracy), ``<task>_devacc`` (best validation accuracy),
    ``mrpc_f1``, and ``avg_transfer`` / ``avg_transfer_dev`` (means of the two over tasks).
    """
    if setting not in KFOLD:
        raise ValueError(f"unknown setting {setting!r}; valid: {', '.join(KFOLD)}")
    from threadpoolctl import threadpool_limits  # a scikit-learn dependency

    data_dir = Path(data_dir)
    table = EmbeddingTable(encode, transfer_sentences(data_dir, tasks))
    results: dict[str, float] = {}
    # One BLAS thread: these fits are small, and on a busy 2-core machine multi-threaded
    # OpenBLAS made them ~7x slower (0.56 s vs 3.9 s for one (9000, 384) lbfgs fit).
    with threadpool_limits(limits=1, user_api="blas"):
        for task in tasks:
            results.update(_run_task(task, table, data_dir, KFOLD[setting], seed))
    if tasks:
        results["avg_transfer"] = float(np.mean([results[f"{KEY_PREFIX[t]}_acc"] for t in tasks]))
        results["avg_transfer_dev"] = float(
            np.mean([results[f"{KEY_PREFIX[t]}_devacc"] for t in tasks])
        )
    return results
