"""simcse: train, evaluate, serve and search SimCSE sentence embeddings."""

__version__ = "0.1.0"

from simcse.api import SimCSE  # noqa: E402
from simcse.encoder import Encoder, EncoderConfig  # noqa: E402
from simcse.model_io import load_encoder, save_encoder  # noqa: E402

__all__ = ["SimCSE", "Encoder", "EncoderConfig", "load_encoder", "save_encoder", "__version__"]
