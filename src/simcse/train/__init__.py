"""Training SimCSE: data readers, the training loop, checkpoints and presets.

Needs the ``train`` extra only for optional pieces (TensorBoard); the core is plain PyTorch.
"""

from simcse.train.config import PRESETS, TrainConfig, build_config
from simcse.train.loop import TrainResult, train

__all__ = ["PRESETS", "TrainConfig", "TrainResult", "build_config", "train"]
