"""``TrainConfig``: every knob of ``simcse train``, its default (the paper's unsupervised
BERT-base recipe) and its help text, in one frozen dataclass.

Each field is one CLI flag (``learning_rate`` -> ``--learning-rate``) and one config-file key
(JSON or TOML, same name). Precedence: field default < ``--preset`` < ``--config`` file <
explicit flags. Presets (:data:`PRESETS`) reproduce princeton-nlp/SimCSE's Table A.1 and
``run_*_example.sh``.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from typing import Any, Literal

from simcse.data_dir import DEFAULT_TEXT as DATA_DIR_DEFAULT
from simcse.errors import ConfigError
from simcse.evaluation.user import UserEvaluators
from simcse.pooling import POOLERS
from simcse.runtime import parse_device
from simcse.train.readers import HARD_NEG, SENT0, SENT1
from simcse.settings import add_flags, check_fields, given
from simcse.settings import read_config_file as _read_settings_file
from simcse.settings import setting as _f

# Results that cannot select a model: lower is better (alignment, uniformity, anisotropy) or
# they are not scores (the cosine thresholds of labelled pairs). Every other result key can.
NOT_SELECTABLE = ("align", "uniform", "anisotropy", "f1_threshold", "accuracy_threshold")

Precision = Literal["auto", "fp32", "fp16", "bf16"]
Compile = Literal["off", "default", "reduce-overhead", "max-autotune"]


@dataclass(frozen=True)
class TrainConfig(UserEvaluators):
    """One training run. Defaults = unsupervised SimCSE-BERT-base (``unsup-bert-base``). The
    user's own evaluation sets (``--eval-pairs``, ``--eval-retrieval``, ...) are the fields of
    :class:`~simcse.evaluation.user.UserEvaluators`; any of their results can select the model."""

    model: str = _f("bert-base-uncased", "starting checkpoint: folder, embedded id or hub id")
    train_file: str = _f("wiki1m_for_simcse.txt", "training data (.txt unsupervised; .csv/.tsv/.jsonl pairs or triplets); "
                         "a bare name is looked up in <data-dir>/training/ and downloaded if known")
    output_dir: str = _f("runs/simcse", "where the chosen model (model/), the resumable checkpoint/ and metrics.jsonl go")
    data_dir: str | None = _f(None, "data folder", shown_default=DATA_DIR_DEFAULT)
    pooler: str | None = _f("cls", "how token states become the embedding; none = the model's saved pooler", choices=lambda: POOLERS)
    mlp_only_train: bool | None = _f(True, "with pooler cls: use the MLP head in training only (unsupervised recipe); none = saved")
    max_length: int = _f(32, "tokens per training sentence after truncation (the saved model keeps its own)", min=1)
    sent0_column: str = _f(SENT0, "column/key of the anchor sentence (.csv/.tsv/.jsonl)")
    sent1_column: str | None = _f(SENT1, "column/key of the positive; none = unsupervised on sent0")
    hard_neg_column: str | None = _f(None, "column/key of the hard negative; none = pairs only")
    skip_bad_rows: bool = _f(False, "skip and count bad rows instead of stopping at the first")
    max_train_samples: int = _f(0, "use only the first N rows (0 = all)", min=0)
    temperature: float = _f(0.05, "softmax temperature of InfoNCE (= 1 / scale)")
    hard_negative_weight: float = _f(0.0, "logit bias on each anchor's own hard negative (0 = none)")
    matryoshka_dims: tuple[int, ...] = _f((), "Matryoshka: also train the first N features of the embedding to work "
                                          "alone, for each N given (e.g. 384,256,128,64; list the full width to keep "
                                          "training it), summing the loss over them; the saved model records them "
                                          "for --truncate-dim. none = the full embedding only", min=1)
    matryoshka_weights: tuple[float, ...] = _f((), "the weight of each --matryoshka-dims loss, in the same order; "
                                               "none = 1 each", min=0)
    batch_size: int = _f(64, "examples per step, summed over processes", min=1)
    length_groups: int = _f(0, "encode each step's sentences in N slices of similar length, each padded to its own longest "
                            "(same embeddings, less padding); 0 = auto: 4 on CPU, 1 on GPU", min=0)
    grad_cache_chunk: int = _f(0, "GradCache: encode at most N rows at once with a graph, so a batch far larger than memory fits (0 = off)", min=0)
    learning_rate: float = _f(3e-5, "AdamW peak learning rate", min=0)
    epochs: int = _f(1, "passes over the training data", min=1)
    max_steps: int = _f(0, "stop after this many steps (0 = epochs decide)", min=0)
    warmup_steps: int = _f(0, "linear warmup steps before the linear decay", min=0)
    weight_decay: float = _f(0.0, "AdamW weight decay", min=0)
    max_grad_norm: float = _f(1.0, "gradient clipping norm (0 = off)", min=0)
    precision: Precision = _f("auto", "autocast precision; auto = fp16 on CUDA (as the paper), fp32 on CPU")
    compile: Compile = _f("off", "torch.compile the backbone (its modes; reduce-overhead = CUDA graphs, with "
                          "--pad-to-max-length), max-autotune")
    pad_to_max_length: bool = _f(False, "pad every batch to max_length: static shapes for torch.compile / CUDA graphs")
    seed: int = _f(42, "seed for initialisation, dropout and data order")
    eval_steps: int = _f(125, "evaluate the starting model, then every N steps and at the end, keeping the best "
                         "(0 = never; then the last model is kept)", min=0)
    eval_stsb: bool = _f(True, "evaluate STS-B dev (stsb_spearman; needs the SentEval data in the data dir)")
    eval_sickr: bool = _f(False, "also evaluate SICK-R dev (sickr_spearman)")
    eval_train_health: bool = _f(True, "also report the label-free numbers (train/align, train/uniform, "
                                 "train/anisotropy) on a sample of the training sentences")
    metric_for_best_model: str = _f("stsb_spearman", "the evaluation result that picks the model kept (higher is "
                                    "better): any key the evaluators report")
    keep_last: bool = _f(False, "keep the last step's weights instead of the best evaluated (the start included)")
    save_steps: int = _f(250, "write a resumable checkpoint every N steps (0 = only at the end)", min=0)
    resume: bool = _f(False, "continue from <output-dir>/checkpoint if it exists")
    do_mlm: bool = _f(False, "add the masked-LM auxiliary loss")
    mlm_weight: float = _f(0.1, "weight of the masked-LM loss", min=0)
    mlm_probability: float = _f(0.15, "fraction of tokens masked for the MLM loss")
    log_steps: int = _f(10, "steps between loss records in metrics.jsonl / TensorBoard", min=1)
    device: str | None = _f(None, "cpu, cuda, cuda:1...", shown_default="cuda when available")
    tensorboard: bool = _f(True, "also log to <output-dir>/tensorboard when tensorboard is installed")
    progress: bool = _f(True, "show a progress bar")

    def __post_init__(self) -> None:
        check_fields(self)
        if self.device is not None:
            parse_device(self.device)  # a malformed name or missing CUDA: one line now, not after loading
        if self.temperature <= 0:
            raise ConfigError(f"temperature must be > 0, got {self.temperature}")
        if not 0 <= self.mlm_probability < 1:
            raise ConfigError(f"mlm_probability must be in [0, 1), got {self.mlm_probability}")
        if self.pad_to_max_length and self.length_groups > 1:
            raise ConfigError("pad_to_max_length (static shapes) and length_groups > 1 (trimmed shapes) exclude each other")
        if self.metric_for_best_model.rsplit("/", 1)[-1] in NOT_SELECTABLE:
            raise ConfigError(f"metric_for_best_model {self.metric_for_best_model!r} cannot select a model (higher must "
                              f"be better; not {', '.join(NOT_SELECTABLE)})")
        if self.matryoshka_weights and len(self.matryoshka_weights) != len(self.matryoshka_dims):
            raise ConfigError(f"matryoshka_weights gives {len(self.matryoshka_weights)} weights for "
                              f"{len(self.matryoshka_dims)} matryoshka_dims; give one per dim, or none")
        if len(set(self.matryoshka_dims)) != len(self.matryoshka_dims):
            raise ConfigError(f"matryoshka_dims {list(self.matryoshka_dims)} repeats a dim")
        if self.grad_cache_chunk and self.do_mlm:
            raise ConfigError("grad_cache_chunk works with the contrastive loss alone (not with do_mlm)")


_BERT = {"model": "bert-base-uncased", "pooler": "cls"}
_UNSUP = {"train_file": "wiki1m_for_simcse.txt", "mlp_only_train": True, "batch_size": 64, "epochs": 1}
_SUP = {"train_file": "nli_for_simcse.csv", "hard_neg_column": HARD_NEG, "mlp_only_train": False,
        "batch_size": 512, "epochs": 3}

# Table A.1 of the paper / the README's hyper-parameter table; max_length 32, temperature
# 0.05, eval every 125 steps on STS-B dev for all (run_unsup_example.sh, run_sup_example.sh).
PRESETS: dict[str, dict[str, Any]] = {
    "unsup-bert-base": {**_BERT, **_UNSUP, "learning_rate": 3e-5},
    "unsup-bert-large": {**_BERT, **_UNSUP, "model": "bert-large-uncased", "learning_rate": 1e-5},
    "unsup-roberta-base": {**_BERT, **_UNSUP, "model": "roberta-base", "batch_size": 512, "learning_rate": 1e-5},
    "unsup-roberta-large": {**_BERT, **_UNSUP, "model": "roberta-large", "batch_size": 512, "learning_rate": 3e-5},
    "sup-bert-base": {**_BERT, **_SUP, "learning_rate": 5e-5},
    "sup-bert-large": {**_BERT, **_SUP, "model": "bert-large-uncased", "learning_rate": 1e-5},
    "sup-roberta-base": {**_BERT, **_SUP, "model": "roberta-base", "learning_rate": 5e-5},
    "sup-roberta-large": {**_BERT, **_SUP, "model": "roberta-large", "learning_rate": 1e-5},
    # A few minutes on a laptop CPU: unsupervised SimCSE on the first 3,200 wiki1m lines (50 steps) from
    # the embedded all-MiniLM-L6-v2 (its mean pooling kept), STS-B dev before and after.
    "demo-minilm": {
        "model": "sentence-transformers/all-MiniLM-L6-v2", "pooler": None, "mlp_only_train": None,
        "train_file": "wiki1m_for_simcse.txt", "max_train_samples": 3200, "batch_size": 64,
        "learning_rate": 3e-5, "eval_steps": 25, "save_steps": 0,
        "output_dir": "runs/demo-minilm",
    },
}

def read_config_file(path: str | os.PathLike) -> dict[str, Any]:
    """Keys of a JSON or TOML config file (field names, plus ``preset``), validated."""
    return _read_settings_file(path, TrainConfig, extra_keys=("preset",))


def preset_values(name: str) -> dict[str, Any]:
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r}; valid presets: {', '.join(PRESETS)}")
    return dict(PRESETS[name])


def build_config(preset: str | None = None, config_file: str | None = None, **flags: Any) -> TrainConfig:
    """Field defaults < preset < config file < flags (flags the parser did not see are absent)."""
    file_values = read_config_file(config_file) if config_file else {}
    preset = preset or file_values.pop("preset", None)
    file_values.pop("preset", None)
    values = preset_values(preset) if preset else {}
    values.update(file_values)
    values.update(flags)
    return TrainConfig(**values)


def add_config_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per field; unset flags stay absent so presets and files are not overridden."""
    add_flags(parser, TrainConfig)


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    return build_config(getattr(args, "preset", None), getattr(args, "config", None), **given(TrainConfig, args))


__all__ = ["PRESETS", "TrainConfig", "add_config_flags", "build_config", "config_from_args", "read_config_file"]
