"""What the subcommands share: the model flags, loading a model, loading an index with its model.

Every subcommand module imports from here (and from the library), never from another
subcommand module.
"""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass
from pathlib import Path

from simcse.api import DTYPES, SimCSE
from simcse.index import Index, Manifest
from simcse.indexing import backend_param
from simcse.model_registry import DEFAULT_MODEL
from simcse.pooling import POOLERS
from simcse.runtime import RUNTIMES, parse_device
from simcse.settings import add_flags, check_fields, setting

# ModelOptions fields that say how a model runs, not which model (``simcse export`` skips all but
# quantize, ``simcse whiten`` all but device).
RUN_FIELDS = ("device", "runtime", "quantize", "dtype", "truncate_dim")


@dataclass(frozen=True)
class ModelOptions:
    """Which model a command loads and how it runs: the flags of every command with a model.

    ``model=None`` is the command's own default: :data:`DEFAULT_MODEL`, or the model named
    in the manifest of the index the command opens.
    """

    model: str | None = setting(None, "model folder, embedded id or hub id", shown_default=DEFAULT_MODEL)
    pooler: str | None = setting(None, "how token states become the embedding", choices=lambda: POOLERS,
                                 shown_default="the saved one")
    device: str | None = setting(None, "cpu, cuda, cuda:1...", shown_default="cuda when available")
    max_length: int | None = setting(None, "maximum tokens per sentence", min=1, shown_default="the saved one")
    runtime: str = setting("torch", "how the model computes (onnx: ONNX Runtime on the CPU, exported once and "
                           "cached, same embeddings)", choices=lambda: RUNTIMES)
    quantize: bool = setting(False, "int8 dynamic quantization of the MatMul weights (ONNX only: with "
                             "--runtime onnx, or the file simcse export writes)")
    dtype: str = setting("float32", "weight dtype with --runtime torch (half precision: the fast path on GPUs)",
                         choices=lambda: DTYPES)
    truncate_dim: int | None = setting(None, "keep the first N features of each embedding (renormalised): smaller "
                                       "vectors, best at the widths a model trained with --matryoshka-dims records",
                                       min=1, shown_default="whole; with an index, the index's")

    def __post_init__(self) -> None:
        check_fields(self)
        if self.device is not None:
            parse_device(self.device)  # a ConfigError before any model is loaded


@dataclass(frozen=True)
class SearchTuning:
    """Search-time parameters of an approximate index backend (``simcse search``, ``simcse serve``)."""

    nprobe: int | None = backend_param("nprobe")
    ef_search: int | None = backend_param("ef_search")
    rescore_multiplier: int | None = backend_param("rescore_multiplier")
    hamming_multiplier: int | None = backend_param("hamming_multiplier")

    def __post_init__(self) -> None:
        check_fields(self)

    def params(self) -> dict[str, int]:
        """The parameters given, as ``Index.load`` takes them."""
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}


def add_model_flags(parser: argparse.ArgumentParser, model_default: str | None = None, skip: tuple[str, ...] = ()) -> None:
    """The :class:`ModelOptions` flags (but ``skip``); ``model_default``: what ``--help`` says
    ``--model`` defaults to, when it is not :data:`DEFAULT_MODEL`."""
    add_flags(parser, ModelOptions, skip=skip, defaults={"model": model_default} if model_default else None)


def load_model(opts: ModelOptions, default: str = DEFAULT_MODEL) -> SimCSE:
    """The model ``opts`` describe (``opts.model``, else ``default``), ready for inference."""
    return SimCSE(opts.model or default, device=opts.device, pooler=opts.pooler, max_length=opts.max_length,
                  runtime=opts.runtime, quantize=opts.quantize, dtype=opts.dtype, truncate_dim=opts.truncate_dim)


def load_index_and_model(folder: Path, opts: ModelOptions, tuning: SearchTuning) -> tuple[Index, SimCSE]:
    """The index folder and its model: ``opts.model``, else the one its manifest names, with the
    manifest's pooler and truncation unless ``opts`` overrides them; refused when the two do not
    match, or when the model's weights changed since the index was built."""
    manifest = Manifest.read(Path(folder))
    model = load_model(dataclasses.replace(opts, pooler=opts.pooler or manifest.pooler,
                                           truncate_dim=opts.truncate_dim or manifest.truncate_dim),
                       default=manifest.model)
    index = Index.load(folder, model=model.model_name, dim=model.dim, pooler=model.pooler,
                       fingerprint=model.weights_fingerprint if manifest.fingerprint else None,
                       truncate_dim=model.truncate_dim, **tuning.params())
    return index, model


__all__ = ["RUN_FIELDS", "ModelOptions", "SearchTuning", "add_model_flags", "load_index_and_model", "load_model"]
