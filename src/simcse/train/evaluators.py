"""What training evaluates: STS-B dev by default, the user's own evaluation sets, and the
label-free health of the embedding space on a sample of the training sentences.

:func:`build_evaluate` reads and checks every evaluation file first (a bad file stops the run
before any training step), then returns one callable ``() -> {metric: value}`` over the
encoder's current weights, which :class:`simcse.train.select.Selector` calls every
``eval_steps``. Evaluation never changes the training: it runs without gradients, and the
dropout views of the health numbers draw from a forked random generator.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Callable

import torch

from simcse.encoder import Encoder
from simcse.train.config import TrainConfig
from simcse.train.readers import Schema, read_rows

EVAL_BATCH = 128  # sentences per forward pass when evaluating
HEALTH_SAMPLE = 512  # training sentences for the label-free numbers
HEALTH_NAME = "train"  # their key prefix: train/align, train/uniform, train/anisotropy


def training_sample(cfg: TrainConfig, train_file: Path, size: int = HEALTH_SAMPLE) -> list[str]:
    """Up to ``size`` distinct anchors of the training file, a seeded uniform sample (reservoir:
    one pass, memory for ``size`` sentences), read by the training reader with its rules."""
    rng, sample, seen = random.Random(cfg.seed), [], 0
    schema = Schema(cfg.sent0_column, cfg.sent1_column, cfg.hard_neg_column)
    for row in read_rows(train_file, schema, skip_bad_rows=cfg.skip_bad_rows):
        seen += 1
        if len(sample) < size:
            sample.append(row[0])
        elif (j := rng.randrange(seen)) < size:
            sample[j] = row[0]
    return list(dict.fromkeys(sample))


def build_evaluate(cfg: TrainConfig, encoder: Encoder, root: Path, train_file: Path) -> Callable[[], dict[str, float]]:
    """The evaluation run every ``eval_steps``: ``stsb_spearman`` (``eval_stsb``), ``sickr_spearman``
    (``eval_sickr``), ``<name>/<metric>`` of each user evaluator, and ``train/...`` health."""
    from simcse.api import SimCSE
    from simcse.evaluation import evaluate_dev, evaluate_health, evaluate_sts
    from simcse.evaluation.user import evaluate_user, read_user

    user = read_user(cfg.user_specs()) if cfg.eval_steps else []
    sample = training_sample(cfg, train_file) if cfg.eval_steps and cfg.eval_train_health else []
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
            if len(sample) >= 2:
                health = evaluate_health(encode, sample, encode_dropout, seed=cfg.seed)
                results.update({f"{HEALTH_NAME}/{k}": v for k, v in health.items()})
        return results

    return evaluate


__all__ = ["EVAL_BATCH", "HEALTH_NAME", "HEALTH_SAMPLE", "build_evaluate", "training_sample"]
