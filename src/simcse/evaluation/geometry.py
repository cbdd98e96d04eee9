"""Alignment and uniformity of an embedding space (Wang & Isola 2020), as SimCSE plots them.

On L2-normalized embeddings f:

* ``align   = E_{(x, y) ~ p_pos} ||f(x) - f(y)||^2``  (alpha = 2)
* ``uniform = log E_{x, y ~ p_data, x != y} exp(-2 ||f(x) - f(y)||^2)``  (t = 2)

Lower is better for both. Following the SimCSE paper, ``p_pos`` = STS-B pairs with gold
score > 4 and ``p_data`` = all STS-B sentences; we take the split evaluated (``test``, or
``dev`` in dev mode) and, for uniformity, its unique sentences over all pairs i < j
(as ``torch.pdist`` in Wang & Isola's code), so repeated sentences add no zero distances.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping

import numpy as np

from simcse.evaluation.cache import EmbeddingTable, Encode
from simcse.evaluation.sts import read_stsb

POSITIVE_THRESHOLD = 4.0


def _normalize(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def alignment(x: np.ndarray, y: np.ndarray, alpha: float = 2.0) -> float:
    """Mean ||x_i - y_i||^alpha over positive pairs, after L2 normalization; (N, H), (N, H)."""
    d = np.linalg.norm(_normalize(x) - _normalize(y), axis=1)
    return float(np.mean(d**alpha))


def uniformity(x: np.ndarray, t: float = 2.0) -> float:
    """log mean_{i<j} exp(-t ||x_i - x_j||^2) after L2 normalization; x: (N, H), N >= 2."""
    from scipy.special import logsumexp

    x = _normalize(x)
    if len(x) < 2:
        raise ValueError(f"uniformity needs at least 2 embeddings, got {len(x)}")
    iu = np.triu_indices(len(x), k=1)
    sq = np.maximum(2.0 - 2.0 * (x @ x.T)[iu], 0.0)  # ||a - b||^2 = 2 - 2 a.b on the sphere
    return float(logsumexp(-t * sq) - np.log(sq.size))


def geometry_sentences(data_dir: Path, split: str = "test") -> list[str]:
    """The STS-B sentences :func:`evaluate_geometry` encodes."""
    pairs = read_stsb(Path(data_dir), split)
    return [*pairs.sent1, *pairs.sent2]


def evaluate_geometry(encode: Encode, data_dir: Path, split: str = "test") -> dict[str, float]:
    """``{"align": ..., "uniform": ...}`` on STS-B ``split`` (see module docstring)."""
    pairs = read_stsb(Path(data_dir), split)
    table = EmbeddingTable(encode, geometry_sentences(data_dir, split))
    positive = [i for i, g in enumerate(pairs.gold) if g > POSITIVE_THRESHOLD]
    x = table([pairs.sent1[i] for i in positive])
    y = table([pairs.sent2[i] for i in positive])
    unique = list(dict.fromkeys([*pairs.sent1, *pairs.sent2]))
    return {"align": alignment(x, y), "uniform": uniformity(table(unique))}


def plot_geometry(points: Mapping[str, tuple[float, float]], path: str | os.PathLike) -> None:
    """Write a PNG scatter of ``{label: (uniform, align)}`` (x = uniform, y = align), as in
    the SimCSE paper's Figure 2. Needs matplotlib (``pip install 'simcse[eval]'``)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as err:  # optional dependency
        raise ImportError("plotting needs matplotlib: pip install 'simcse[eval]'") from err
    fig, ax = plt.subplots(figsize=(5, 4))
    for label, (uniform, align) in points.items():
        ax.scatter([uniform], [align], s=40)
        ax.annotate(label, (uniform, align), textcoords="offset points", xytext=(4, 4), fontsize=8)
    ax.margins(x=0.35, y=0.25)  # room for the labels
    ax.set_xlabel(r"$\ell_{uniform}$ (lower is better)")
    ax.set_ylabel(r"$\ell_{align}$ (lower is better)")
    ax.set_title("Alignment vs. uniformity (STS-B)")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
