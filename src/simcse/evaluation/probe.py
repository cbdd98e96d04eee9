"""Logistic-regression probes on frozen embeddings, with SentEval's validation schemes.

Mirrors ``senteval/tools/validation.py`` (facebookresearch/SentEval) on its scikit-learn
path (``usepytorch=False``): the same ``StratifiedKFold(shuffle=True, random_state=1111)``
splits, the same regularization grids over ``C`` (inverse L2 strength), the same rounding of
fold scores to two decimals before picking the best ``C`` (first maximum wins).

Deviation from SimCSE's published transfer numbers: SimCSE runs SentEval with
``usepytorch=True`` (a PyTorch linear classifier trained with Adam/RMSprop, early stopping,
``l2reg`` in 1e-5..1e-2). We use scikit-learn's ``LogisticRegression`` (lbfgs solver,
multinomial for TREC, intercept not penalized; ``max_iter`` raised to 1000) with SentEval's
sklearn grids, so numbers are comparable between our models but may differ from the
paper's by a few tenths. Old SentEval-era scikit-learn defaulted to liblinear/one-vs-rest.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from sklearn.linear_model import LogisticRegression

SEED = 1111
# SentEval's sklearn grids: InnerKFold and Split use 2^-2..2^3, KFold uses 2^-1..2^5.
GRID_INNER = tuple(2.0**t for t in range(-2, 4))
GRID_KFOLD = tuple(2.0**t for t in range(-1, 6))
MAX_ITER = 1000


@dataclass(frozen=True)
class ProbeResult:
    """Accuracies x 100: ``devacc`` = best validation score, ``acc`` = test score;
    ``predictions`` = test predictions (KFold and Split only, else empty)."""

    devacc: float
    acc: float
    predictions: np.ndarray


def _fit(X: np.ndarray, y: np.ndarray, C: float, seed: int) -> LogisticRegression:
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    clf = LogisticRegression(C=C, random_state=seed, max_iter=MAX_ITER)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return clf.fit(X, y)


def _pct(clf: LogisticRegression, X: np.ndarray, y: np.ndarray) -> float:
    return 100.0 * float(clf.score(X, y))


def _folds(X: np.ndarray, y: np.ndarray, k: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    from sklearn.model_selection import StratifiedKFold

    return list(StratifiedKFold(n_splits=k, shuffle=True, random_state=seed).split(X, y))


def _best_c(scores: list[float], grid: tuple[float, ...]) -> tuple[float, float]:
    rounded = [round(s, 2) for s in scores]
    best = int(np.argmax(rounded))
    return grid[best], rounded[best]


def inner_kfold(
    X: np.ndarray, y: np.ndarray, k: int = 10, seed: int = SEED,
    grid: tuple[float, ...] | None = None,
) -> ProbeResult:
    """SentEval's InnerKFoldClassifier (MR, CR, SUBJ, MPQA): k outer folds; in each, C is
    chosen by k inner folds of the outer training part, then refit and tested.
    ``devacc``/``acc`` = mean over outer folds of the best inner score / the test score.

    X: (N, D) features, y: (N,) integer labels; ``grid`` defaults to GRID_INNER."""
    grid = grid or GRID_INNER
    dev, test = [], []
    for train_idx, test_idx in _folds(X, y, k, 1111):  # SentEval hard-codes 1111 here
        X_tr, y_tr = X[train_idx], y[train_idx]
        inner = _folds(X_tr, y_tr, k, 1111)
        scores = [
            float(np.mean([_pct(_fit(X_tr[a], y_tr[a], C, seed), X_tr[b], y_tr[b]) for a, b in inner]))
            for C in grid
        ]
        best_c, best = _best_c(scores, grid)
        dev.append(best)
        test.append(round(_pct(_fit(X_tr, y_tr, best_c, seed), X[test_idx], y[test_idx]), 2))
    return ProbeResult(round(float(np.mean(dev)), 2), round(float(np.mean(test)), 2), np.empty(0))


def kfold(
    X_train: np.ndarray, y_train: np.ndarray, X_test: np.ndarray, y_test: np.ndarray,
    k: int = 10, seed: int = SEED, grid: tuple[float, ...] | None = None,
) -> ProbeResult:
    """SentEval's KFoldClassifier (TREC, MRPC): C chosen by k-fold cross-validation on the
    training set, then a refit on all of it is scored on the test set (``grid`` defaults
    to GRID_KFOLD)."""
    grid = grid or GRID_KFOLD
    folds = _folds(X_train, y_train, k, seed)
    scores = [
        float(np.mean([_pct(_fit(X_train[a], y_train[a], C, seed), X_train[b], y_train[b])
                       for a, b in folds]))
        for C in grid
    ]
    best_c, best = _best_c(scores, grid)
    clf = _fit(X_train, y_train, best_c, seed)
    return ProbeResult(best, round(_pct(clf, X_test, y_test), 2), clf.predict(X_test))


def split(
    X_train: np.ndarray, y_train: np.ndarray, X_dev: np.ndarray, y_dev: np.ndarray,
    X_test: np.ndarray, y_test: np.ndarray, seed: int = SEED,
    grid: tuple[float, ...] | None = None,
) -> ProbeResult:
    """SentEval's SplitClassifier (SST2): C chosen on the dev split, the classifier trained
    with it on train is scored on test (SentEval refits with the same C; lbfgs is
    deterministic, so the refit is the fit already made; ``grid`` defaults to GRID_INNER)."""
    grid = grid or GRID_INNER
    fits = [_fit(X_train, y_train, C, seed) for C in grid]
    scores = [_pct(clf, X_dev, y_dev) for clf in fits]
    best_c, best = _best_c(scores, grid)
    clf = fits[grid.index(best_c)]
    return ProbeResult(best, round(_pct(clf, X_test, y_test), 2), clf.predict(X_test))
