"""BERT-whitening (Su et al., 2021): the statistics, the fit, and the layer that applies it.

Sentence embeddings fill a narrow cone (anisotropy). Whitening maps them to zero mean and
identity covariance::

    mu = mean(x)                      (H,)
    C  = cov(x)  (unbiased, as np.cov) (H, H)
    U, s, _ = svd(C)
    W  = U diag(1 / sqrt(s))          (H, H); keep the first K columns for K dimensions
    y  = (x - mu) W                   (K,)

The columns of ``U`` come sorted by variance, so the first K components of the full
whitening *are* the K-dimensional whitening (:meth:`Whitening.truncated`).

The same fit gives a second method, ``pca`` (:data:`METHODS`): ``W = U`` (no centring, no
scaling), a rotation onto the principal axes. At full width it leaves every cosine as it was;
its first K components are the K directions along which the sentences vary most, so cutting it
to K keeps more of the sentences' differences than keeping the model's first K features.

:class:`WhiteningStats` accumulates the count, the sum and the sum of outer products in
float64, one batch at a time: fitting takes (H, H) memory whatever the corpus size, and any
split into batches gives the same fit as the whole matrix at once (a test proves it).

:class:`Whitening` is stored as sentence-transformers stores a ``Dense`` module with identity
activation (``y = x weight^T + bias``, ``weight = W^T`` (K, H), ``bias = -mu W`` (K,)), in the
model folder's ``whitening/`` (``config.json`` + ``model.safetensors``). It is applied to the
raw pooled embedding (after the MLP head when the model uses one at inference) and before
normalisation, as BERT-whitening does: whitening a unit vector would undo nothing of the cone
that the normalisation itself makes.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from simcse.artefacts import corrupt_if_raises, field_type_problems, read_json
from simcse.backbone_io import check_finite, check_safetensors
from simcse.errors import ConfigError, DataError, FormatError

WHITENING_DIR = "whitening"  # the folder inside a model folder
IDENTITY = "torch.nn.modules.linear.Identity"  # sentence-transformers' name of the activation
METHOD = "bert-whitening"  # the default


@dataclass(frozen=True)
class Method:
    """How the fitted statistics become the layer ``y = (x - shift) W``.

    scaled: divide each principal component by its standard deviation (whitening), and centre
        the vectors first; False: rotate only (``shift = 0``, ``W = U``).
    """

    scaled: bool


METHODS: dict[str, Method] = {METHOD: Method(scaled=True), "pca": Method(scaled=False)}
# A direction whose variance is below this share of the largest (a standard deviation below 1e-4
# of the largest) is float32 rounding, not signal: 1/sqrt(s) would blow the rounding up to unit
# variance. Mean pooling after LayerNorm leaves at least one such direction (all-MiniLM-L6-v2: 3
# of 384, at 1e-18 of the largest, against 5e-4 for the last real one).
MIN_VARIANCE_RATIO = 1e-8


class WhiteningStats:
    """Running count, sum (H,) and sum of outer products (H, H) of embeddings, in float64."""

    def __init__(self, dim: int) -> None:
        self.count = 0
        self.total = np.zeros(dim, dtype=np.float64)
        self.outer = np.zeros((dim, dim), dtype=np.float64)

    def update(self, x: np.ndarray) -> None:
        """Add a batch of embeddings (B, H)."""
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != len(self.total):
            raise ValueError(f"expected embeddings (B, {len(self.total)}), got shape {x.shape}")
        if not np.isfinite(x).all():
            raise ValueError("embeddings hold NaN or infinite values")
        self.count += len(x)
        self.total += x.sum(0)
        self.outer += x.T @ x

    @property
    def mean(self) -> np.ndarray:
        return self.total / self.count

    @property
    def covariance(self) -> np.ndarray:
        """The unbiased covariance (H, H), as ``np.cov(x.T)``; needs at least 2 rows."""
        mean = self.mean
        return (self.outer - self.count * np.outer(mean, mean)) / (self.count - 1)


def fit_whitening(stats: WhiteningStats, dim: int | None = None,
                  method: str = METHOD) -> tuple[np.ndarray, np.ndarray]:
    """``(shift (H,), W (H, K))`` in float64 from the statistics, for ``method`` (:data:`METHODS`):
    the mean and ``U diag(1/sqrt(s))`` for whitening, zeros and ``U`` for ``pca``.

    ``dim=None`` keeps every direction the sentences span: all H, less those whose variance is
    below :data:`MIN_VARIANCE_RATIO` of the largest (``pca``: all H, a rotation). Each column
    of ``W`` is signed so that its largest entry is positive (an SVD's signs are arbitrary;
    this makes the fit a function of the data). Raises :class:`ConfigError` for a ``dim``
    outside ``1..H`` and :class:`DataError` when the sentences span fewer than ``dim``
    directions (too few, or too alike), naming how many they do span.
    """
    if method not in METHODS:
        raise ConfigError(f"unknown whitening method {method!r}; valid: {sorted(METHODS)}")
    scaled, width = METHODS[method].scaled, len(stats.total)
    if dim is not None and not 1 <= dim <= width:
        raise ConfigError(f"dim must be between 1 and the embedding width {width}, got {dim}")
    if stats.count < 2:
        raise DataError(f"whitening needs at least 2 sentences, got {stats.count}")
    u, s, _ = np.linalg.svd(stats.covariance)
    rank = int(np.sum(s > s[0] * MIN_VARIANCE_RATIO)) if s[0] > 0 else 0
    if rank == 0:
        raise DataError(f"the {stats.count} sentences all have the same embedding: nothing to whiten")
    if dim is None:
        dim = rank if scaled else width
    elif rank < dim:
        raise DataError(f"the {stats.count} sentences span only {rank} of the {dim} directions asked for; "
                        f"use more (and more varied) sentences, or dim {rank} or less (no --dim: all they span)")
    u = u[:, :dim] * np.where(_largest(u[:, :dim]) < 0, -1.0, 1.0)
    return (stats.mean, u / np.sqrt(s[:dim])) if scaled else (np.zeros(width), u)


def _largest(columns: np.ndarray) -> np.ndarray:
    """The entry of largest magnitude of each column (K,)."""
    return columns[np.argmax(np.abs(columns), axis=0), np.arange(columns.shape[1])]


@dataclass(frozen=True)
class WhiteningInfo:
    """What a whitening was fitted on, as ``simcse_config.json`` records it under ``whitening``.

    sentences: how many sentences the mean and covariance come from (None: not known, e.g. a
        linear layer read from a sentence-transformers folder).
    corpus: the file name of those sentences (no folder), or None.
    """

    sentences: int | None = None
    corpus: str | None = None
    method: str = METHOD

    @classmethod
    def from_json(cls, raw: object, path: Path) -> "WhiteningInfo":
        """The ``whitening`` entry of ``simcse_config.json`` at ``path`` (minus ``dim``/``input_dim``)."""
        names = {f.name for f in dataclasses.fields(cls)}
        if not isinstance(raw, dict) or set(raw) - names - {"dim", "input_dim"}:
            raise FormatError(f"{path}: 'whitening' must be an object with the keys "
                              f"{sorted(names | {'dim', 'input_dim'})}")
        values = {k: v for k, v in raw.items() if k in names}
        problems = field_type_problems(values, cls)
        if problems or values.get("method", METHOD) not in METHODS:
            why = "; ".join(problems) or f"method must be one of {sorted(METHODS)}"
            raise FormatError(f"{path}: 'whitening': {why}")
        return cls(**values)


class Whitening(nn.Module):
    """``y = (x - mu) W`` as a linear layer: embeddings (B, H) -> whitened (B, K). Not trained
    (its parameters do not require gradients)."""

    def __init__(self, in_features: int, out_features: int, info: WhiteningInfo | None = None) -> None:
        super().__init__()
        self.linear = nn.Linear(in_features, out_features)
        self.linear.requires_grad_(False)
        self.info = info or WhiteningInfo()

    @classmethod
    def from_fit(cls, mean: np.ndarray, matrix: np.ndarray, info: WhiteningInfo | None = None) -> "Whitening":
        """The layer of ``(mu (H,), W (H, K))`` from :func:`fit_whitening`; the bias
        ``-mu W`` is computed in float64 before the cast to float32."""
        layer = cls(matrix.shape[0], matrix.shape[1], info)
        with torch.no_grad():
            layer.linear.weight.copy_(torch.from_numpy(np.ascontiguousarray(matrix.T)))
            layer.linear.bias.copy_(torch.from_numpy(-(mean @ matrix)))
        return layer

    @property
    def in_features(self) -> int:
        return self.linear.in_features

    @property
    def out_features(self) -> int:
        return self.linear.out_features

    def forward(self, x: Tensor) -> Tensor:
        return self.linear(x)

    def truncated(self, dim: int) -> "Whitening":
        """The first ``dim`` components: equal to fitting with ``dim`` on the same sentences."""
        if not 1 <= dim <= self.out_features:
            raise ConfigError(f"dim must be between 1 and {self.out_features}, got {dim}")
        layer = Whitening(self.in_features, dim, self.info)
        layer.linear.load_state_dict({k: v[:dim] for k, v in self.linear.state_dict().items()})
        return layer

    def record(self) -> dict[str, object]:
        """The ``whitening`` entry of ``simcse_config.json``."""
        return {**dataclasses.asdict(self.info), "input_dim": self.in_features, "dim": self.out_features}


def save_whitening(layer: Whitening, folder: Path) -> None:
    """Write ``layer`` as a sentence-transformers Dense module into ``folder`` (created)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps({
        "in_features": layer.in_features, "out_features": layer.out_features, "bias": True,
        "activation_function": IDENTITY,
    }, indent=2) + "\n", encoding="utf-8")
    state = {k: v.detach().cpu().float().contiguous() for k, v in layer.state_dict().items()}  # linear.weight, .bias
    save_file(state, str(folder / "model.safetensors"))


def dense_shape(path: Path) -> tuple[int, int, str | None]:
    """``(in_features, out_features, activation)`` of a sentence-transformers Dense ``config.json``
    (activation None when not given: sentence-transformers then uses Tanh)."""
    raw = read_json(path)
    shape = raw.get("in_features"), raw.get("out_features")
    if not all(type(v) is int and v >= 1 for v in shape) or raw.get("bias", True) is not True:
        raise FormatError(f"{path}: a Dense module needs integer 'in_features' and 'out_features' >= 1 and a bias")
    return shape[0], shape[1], raw.get("activation_function")


def load_whitening(folder: Path, in_features: int, info: WhiteningInfo | None = None) -> Whitening:
    """Read the layer saved in ``folder`` for embeddings of width ``in_features``; every fault
    (shapes, a damaged file, non-finite weights) is a :class:`FormatError` naming the file."""
    n_in, n_out, activation = dense_shape(folder / "config.json")
    if activation != IDENTITY or n_in != in_features:
        raise FormatError(f"{folder / 'config.json'}: expected a linear layer ({IDENTITY}) from {in_features} "
                          f"features, got {activation} from {n_in}")
    layer, weights = Whitening(n_in, n_out, info), folder / "model.safetensors"
    check_safetensors(weights)
    with corrupt_if_raises(weights, RuntimeError, KeyError, what="does not hold the whitening's weights"):
        layer.load_state_dict(load_file(str(weights)))  # names and shapes must match exactly
    layer.linear.requires_grad_(False)
    check_finite(layer, weights)
    return layer


__all__ = ["IDENTITY", "METHOD", "METHODS", "MIN_VARIANCE_RATIO", "Method", "WHITENING_DIR", "Whitening",
           "WhiteningInfo", "WhiteningStats", "dense_shape", "fit_whitening", "load_whitening", "save_whitening"]
