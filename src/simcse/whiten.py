"""Whitening a model on the user's own sentences: ``simcse whiten`` as a library call.

The text file is checked whole first (:func:`simcse.textfile.check_file`: a blank line, a bad
byte or ill-formed text stops the run with ``file:line: ...`` before any encoding), then read
and encoded :data:`READ_LINES` lines at a time into :class:`~simcse.whitening.WhiteningStats`:
memory stays at one such block of embeddings plus an (H, H) matrix, whatever the file's size.

The fit uses the model's *unwhitened, unnormalised* embeddings (pooled, after the MLP head
when it is used at inference), so whitening a model that is already whitened replaces its
whitening rather than stacking a second one. The model is saved with the layer in place
(:mod:`simcse.model_io`): ``SimCSE(out)`` and ``SentenceTransformer(out)`` both return the
whitened vectors, and ``simcse_config.json`` records what the whitening was fitted on.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from simcse.api import SimCSE
from simcse.encoder import Encoder, EncoderConfig
from simcse.errors import MissingFileError
from simcse.model_io import save_encoder
from simcse.settings import check_fields, setting
from simcse.textfile import check_file, iter_chunks
from simcse.whitening import METHOD, METHODS, Whitening, WhiteningInfo, WhiteningStats, fit_whitening

READ_LINES = 8192  # lines encoded per step: the fit holds this many embeddings at a time


@dataclass(frozen=True, kw_only=True)
class WhitenConfig:
    """``simcse whiten``: one field per flag (the model's flags are ``simcse.cli.common.ModelOptions``)."""

    input: Path = setting(help="UTF-8 text file, one sentence per line (no blank lines): the sentences to fit on",
                          metavar="FILE")
    out: Path = setting(help="the whitened model folder to write", metavar="DIR")
    dim: int | None = setting(None, "how many whitened components to keep (K): the first K by variance", min=1,
                              shown_default="all the sentences span: the embedding width less directions without "
                                            "variance (pca: the embedding width)")
    method: str = setting(METHOD, "bert-whitening: centre, rotate onto the principal axes of the sentences' "
                                  "covariance and scale each to unit variance; pca: rotate only (no centring, no "
                                  "scaling), so that the first K features are the K directions of most variance and, "
                                  "at full width, cosines are unchanged", choices=lambda: METHODS)
    batch_size: int = setting(64, "sentences per forward pass", min=1)

    def __post_init__(self) -> None:
        check_fields(self)
        if not Path(self.input).is_file():  # before a model is loaded for it
            raise MissingFileError(f"{self.input}: no such file")


def rewrap(encoder: Encoder, config: EncoderConfig, whitening: Whitening | None) -> Encoder:
    """An encoder sharing ``encoder``'s backbone and head (not copies), with another config and whitening."""
    return Encoder(encoder.backbone, encoder.tokenizer, config, whitening, encoder.head).train(encoder.training)


def fit_file(encoder: Encoder, path: str | Path, dim: int | None = None, batch_size: int = 64,
             show_progress: bool = True, method: str = METHOD) -> Whitening:
    """The whitening (or ``method``, :data:`~simcse.whitening.METHODS`) of ``encoder``'s
    unwhitened, unnormalised embeddings of every line of ``path`` (one sentence per line),
    keeping ``dim`` components (None: all)."""
    lines = check_file(path)
    plain = SimCSE.from_encoder(rewrap(encoder, dataclasses.replace(encoder.config, normalize=False), None))
    stats = WhiteningStats(encoder.hidden_size)
    with tqdm(total=lines, unit="line", desc="whiten", disable=not show_progress) as bar:
        for texts in iter_chunks(path, READ_LINES):
            stats.update(plain.encode(texts, batch_size=batch_size, show_progress=False))
            bar.update(len(texts))
    shift, matrix = fit_whitening(stats, dim, method)
    info = WhiteningInfo(sentences=stats.count, corpus=Path(path).name, method=method)
    return Whitening.from_fit(shift, matrix, info)


def whiten(model: SimCSE, cfg: WhitenConfig, show_progress: bool = True) -> Whitening:
    """Fit a whitening of ``model`` on ``cfg.input`` and save the whitened model to ``cfg.out``
    (atomically); returns the layer. ``model`` itself is left as it was."""
    layer = fit_file(model.encoder, cfg.input, cfg.dim, cfg.batch_size, show_progress, cfg.method)
    save_encoder(rewrap(model.encoder, model.encoder.config, layer), cfg.out)
    return layer


__all__ = ["READ_LINES", "WhitenConfig", "fit_file", "rewrap", "whiten"]
