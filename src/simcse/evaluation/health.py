"""Label-free health of an embedding space, on a sample of the user's own sentences.

For unsupervised runs, where no labels exist, three numbers (Wang & Isola 2020; Ethayarajh 2019):

* ``align``: mean ||f(x) - f'(x)||^2 between two dropout views of the same sentence
  (the SimCSE positive pair): two calls of ``encode_dropout``, a callable that encodes
  with dropout active (the model in train mode), each drawing its own masks. Lower means
  the model maps noise-perturbed copies closer. Omitted when no ``encode_dropout`` is given.
* ``uniform``: :func:`simcse.evaluation.geometry.uniformity` of the sample (lower is more
  uniform; a collapsed space tends to 0).
* ``anisotropy``: mean cosine of random pairs of different sentences (near 0 for an
  isotropic space, near 1 when everything points the same way). With ``n`` sentences,
  every pair i < j when there are at most ``max_pairs`` of them, else ``max_pairs`` ordered
  pairs i != j drawn uniformly with replacement from ``numpy.random.default_rng(seed)``.

``uniform`` and ``anisotropy`` use ``encode`` (eval mode). Both callables are plain
``list[str] -> (N, H)`` functions, so the evaluation stays a pure function of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from simcse.errors import ConfigError
from simcse.evaluation.cache import Encode
from simcse.evaluation.files import DataFormatError
from simcse.evaluation.geometry import alignment, uniformity
from simcse.evaluation.records import check_name, file_format, read_rows, text_value, utf8_lines


def anisotropy(x: np.ndarray, max_pairs: int = 10_000, seed: int = 0) -> float:
    """Mean cosine over pairs of different rows of x (N, H), N >= 2 (module docstring)."""
    n = len(x)
    if n < 2:
        raise ValueError(f"anisotropy needs at least 2 embeddings, got {n}")
    x = np.asarray(x, dtype=np.float64)
    x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    if n * (n - 1) // 2 <= max_pairs:
        i, j = np.triu_indices(n, k=1)
    else:
        rng = np.random.default_rng(seed)
        i = rng.integers(n, size=max_pairs)
        j = (i + rng.integers(1, n, size=max_pairs)) % n  # uniform over j != i
    return float(np.mean(np.einsum("ph,ph->p", x[i], x[j])))


def evaluate_health(encode: Encode, sentences: Sequence[str], encode_dropout: Encode | None = None,
                    max_pairs: int = 10_000, seed: int = 0) -> dict[str, float]:
    """``uniform``, ``anisotropy`` and (with ``encode_dropout``) ``align`` on ``sentences``
    (at least 2, distinct)."""
    sentences = list(sentences)
    x = np.asarray(encode(sentences), dtype=np.float64)
    out = {"uniform": uniformity(x), "anisotropy": anisotropy(x, max_pairs, seed)}
    if encode_dropout is not None:
        out["align"] = alignment(encode_dropout(sentences), encode_dropout(sentences))
    return out


@dataclass(frozen=True)
class HealthSpec:
    """A sample of the user's sentences for :func:`evaluate_health`.

    Args:
        name: the evaluator's name, the prefix of its result keys (``<name>/uniform``).
        path: a text file with one sentence per line (blank lines skipped), or, with
            ``column``, a ``.tsv``/``.csv``/``.jsonl`` file whose ``column`` holds them.
        column, format: the column to read, and the file format (None: from the suffix).
        sample_size: at most this many distinct sentences, drawn with ``seed`` and kept in
            file order (uniformity costs sample_size^2 / 2 dot products).
        max_pairs, seed: for ``anisotropy``.
    """

    name: str
    path: Path
    column: str | None = None
    format: str | None = None
    sample_size: int = 1000
    max_pairs: int = 10_000
    seed: int = 0

    def __post_init__(self) -> None:
        check_name(self.name)
        object.__setattr__(self, "path", Path(self.path))
        if self.sample_size < 2 or self.max_pairs < 1:
            raise ConfigError(f"sample_size must be >= 2 and max_pairs >= 1, got {self.sample_size}, {self.max_pairs}")

    def files(self) -> list[Path]:
        return [self.path]

    def _lines(self) -> list[tuple[int, str]]:
        if self.column is None:
            rows = ((n, text.rstrip("\r\n")) for n, text in utf8_lines(self.path))
            return [(n, text_value(self.path, n, t, "sentence")) for n, t in rows if t.strip()]
        rows = read_rows(self.path, file_format(self.path, self.format), (self.column,))
        return [(n, text_value(self.path, n, value, self.column)) for n, (value,) in rows]

    def read(self) -> tuple[str, ...]:
        """The sample: every line checked, duplicates dropped, then up to ``sample_size`` drawn."""
        lines = self._lines()
        unique = list(dict.fromkeys(t for _, t in lines))
        if len(unique) < 2:
            raise DataFormatError(self.path, lines[-1][0] if lines else 1,
                                  f"{len(unique)} distinct sentence(s): need at least 2")
        if len(unique) > self.sample_size:
            keep = np.sort(np.random.default_rng(self.seed).choice(len(unique), self.sample_size, replace=False))
            unique = [unique[k] for k in keep]
        return tuple(unique)

    def evaluate(self, encode: Encode, data: Sequence[str], encode_dropout: Encode | None = None) -> dict[str, float]:
        """:func:`evaluate_health` with this spec's ``max_pairs`` and ``seed``."""
        return evaluate_health(encode, data, encode_dropout, self.max_pairs, self.seed)


__all__ = ["HealthSpec", "anisotropy", "evaluate_health"]
