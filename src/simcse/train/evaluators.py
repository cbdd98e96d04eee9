"""What training evaluates: STS-B dev by default, the user's own evaluation sets, and the
label-free health of the embedding space on a sample of the training sentences.

:func:`build_evaluate` reads and checks every evaluation file first (a bad file stops the run
before any training step), then returns one callable ``() -> {metric: value}`` over the
encoder's current weights, which :class:`simcse.train.select.Selector` calls every
``eval_steps``. Evaluation never changes the training: it runs without gradients, and the
dropout views of the health numbers draw from a forked random generator.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import torch

from simcse.encoder import Encoder
from simcse.train.config import TrainConfig

EVAL_BATCH = 128  # sentences per forward pass when evaluating
HEALTH_SAMPLE = 512  # training sentences for the label-free numbers
HEALTH_NAME = "train"  # their key prefix: train/align, train/uniform, train/anisotropy


def health_spec(cfg: TrainConfig, train_file: Path):
    """A seeded sample of the training file's first column (the anchors)."""
    from simcse.evaluation.health import HealthSpec

    column = None if train_file.suffix.lower() == ".txt" else cfg.sent0_column
    return HealthSpec(HEALTH_NAME, train_file, column=column, sample_size=HEALTH_SAMPLE, seed=cfg.seed)


def build_evaluate(cfg: TrainConfig, encoder: Encoder, root: Path, train_file: Path) -> Callable[[], dict[str, float]]:
    """The evaluation run every ``eval_steps``: ``stsb_spearman`` (``eval_stsb``), ``sickr_spearman``
    (``eval_sickr``), ``<name>/<metric>`` of each user evaluator, and ``train/...`` health."""
    from simcse.api import SimCSE
    from simcse.evaluation import evaluate_dev, evaluate_sts
    from simcse.evaluation.user import evaluate_user, read_user

    specs = cfg.user_specs() + ([health_spec(cfg, train_file)] if cfg.eval_train_health else [])
    user = read_user(specs) if cfg.eval_steps else []
    model = SimCSE.from_encoder(encoder)
    devices = [encoder.device.index or 0] if encoder.device.type == "cuda" else []

    def encode(sentences: list[str]):
        return model.encode(sentences, batch_size=EVAL_BATCH, show_progress=False)

    def encode_dropout(sentences: list[str]):
        return model.encode(sentences, batch_size=EVAL_BATCH, show_progress=False, dropout=True)

    def evaluate() -> dict[str, float]:
        results: dict[str, float] = {}
        if cfg.eval_stsb and cfg.eval_sickr:
            results.update(evaluate_dev(encode, root))
        elif cfg.eval_stsb or cfg.eval_sickr:
            results.update(evaluate_sts(encode, root, ("STSBenchmark",) if cfg.eval_stsb else ("SICKRelatedness",), split="dev"))
        with torch.random.fork_rng(devices=devices):
            results.update(evaluate_user(encode, user, encode_dropout))
        return results

    return evaluate


__all__ = ["EVAL_BATCH", "HEALTH_NAME", "HEALTH_SAMPLE", "build_evaluate", "health_spec"]
