"""``simcse whiten``: fit BERT-whitening (or PCA) on your sentences and save the model with it applied.

The model's pooled embeddings of every line of --input (one sentence per line, checked whole
first: a blank line or bad text stops the run with file:line) are reduced to their mean and
covariance in one streaming pass (flat memory for any file size); the whitening
W = U diag(1/sqrt(s)) from the covariance's SVD, cut to its first --dim components, is saved
in --out as a linear layer after pooling and before normalisation (whitening/, a
sentence-transformers Dense with identity activation), so that SimCSE(out).encode and
SentenceTransformer(out).encode both return whitened vectors. simcse_config.json records how
many sentences it was fitted on, the method and K. --method pca keeps W = U (no centring, no
scaling): a rotation whose first --dim features are the directions of most variance.
"""

from __future__ import annotations

import argparse

from simcse.cli.common import RUN_FIELDS, ModelOptions, add_model_flags, load_model
from simcse.settings import add_flags, from_args
from simcse.whiten import WhitenConfig, whiten

# The model runs in float32 PyTorch here: the saved model is the PyTorch one.
SKIPPED = tuple(name for name in RUN_FIELDS if name != "device")


def add_parser(sub) -> None:
    p = sub.add_parser("whiten", help="fit a whitening (or PCA) on a text file and save the model with it",
                       description=__doc__)
    add_model_flags(p, skip=SKIPPED)
    add_flags(p, WhitenConfig)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    cfg = from_args(WhitenConfig, args)
    layer = whiten(load_model(from_args(ModelOptions, args, skip=SKIPPED)), cfg)
    print(f"wrote {cfg.out}: {layer.info.method} {layer.in_features} -> {layer.out_features} dims, fitted on "
          f"{layer.info.sentences} sentences of {cfg.input}")
    return 0


__all__ = ["SKIPPED", "add_parser", "run"]
