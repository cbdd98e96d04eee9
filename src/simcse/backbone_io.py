"""Loading the Hugging Face part of a model folder, checked: ``config.json``, the safetensors
weights and the tokenizer.

transformers is lenient where we must not be: a folder whose tokenizer files are gone loads
a 5-token tokenizer that maps every word to [UNK] (cosine ~1 between any two sentences), and
weights that do not cover the architecture are silently initialised at random. Here every
such fault, and every truncated or garbled file, is one :class:`~simcse.errors.FormatError`
(or :class:`~simcse.errors.MissingFileError`) line that names the file.

Only the errors a damaged file makes these libraries raise are turned into that line (parse
and validation errors: :data:`CONFIG_ERRORS`, :data:`WEIGHTS_ERRORS`, :data:`TOKENIZER_ERRORS`);
a package the files need but that is missing is a :class:`~simcse.errors.MissingDependencyError`,
and anything else (a bug) keeps its traceback.
"""

from __future__ import annotations

import contextlib
import logging
import math
from pathlib import Path
from typing import Iterator

import torch
from safetensors import SafetensorError, safe_open

from simcse.artefacts import corrupt_if_raises, json_type, one_line, read_json
from simcse.errors import FormatError, MissingDependencyError, MissingFileError

# Files that hold a tokenizer's vocabulary; tokenizer_config.json alone does not.
TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "vocab.json", "spiece.model", "sentencepiece.bpe.model", "tokenizer.model")
# config.json keys that shape the backbone: a wrong type would fail deep inside transformers.
SHAPE_KEYS = ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
              "max_position_embeddings")
# No trained network has weights this large (float16 tops out at 65504); a flipped high exponent
# bit turns an ordinary weight into 1e8 or more.
MAX_ABS_WEIGHT = 1e6
# The tokenizer must cover at least this share of the word-embedding rows: padded vocabularies
# leave a few hundred rows unused, a foreign or fallback tokenizer covers far fewer.
MIN_VOCAB_COVERAGE = 0.5
# JSON files of a tokenizer that must hold an object (transformers reads them with .get()).
TOKENIZER_JSON = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")


def _hub_validation_errors() -> tuple[type[Exception], ...]:
    """huggingface_hub's error for a config field of the wrong type (recent versions only)."""
    try:
        from huggingface_hub.errors import StrictDataclassError
    except ImportError:
        return ()
    return (StrictDataclassError,)


# What a damaged or foreign file makes transformers raise (json errors are ValueErrors; OSError
# is transformers' EnvironmentError), beside huggingface_hub's validation error for configs:
CONFIG_ERRORS = (OSError, ValueError, KeyError, TypeError)  # reading config.json
WEIGHTS_ERRORS = (*CONFIG_ERRORS, RuntimeError, SafetensorError)  # building the model: RuntimeError = size mismatch
TOKENIZER_ERRORS = CONFIG_ERRORS  # and the bare Exception of the tokenizers library's parser


@contextlib.contextmanager
def loading(path: Path, what: str, errors: tuple[type[Exception], ...], bare: bool = False) -> Iterator[None]:
    """Inside the block, ``errors`` (and with ``bare`` an exception of exactly the type
    ``Exception``, as the tokenizers library raises) become ``FormatError("{path}: {what} (...)")``
    and an ``ImportError`` becomes :class:`MissingDependencyError`; anything else passes."""
    try:
        yield
    except ImportError as err:  # e.g. sentencepiece or protobuf for a tokenizer: not the file's fault
        raise MissingDependencyError(f"{path}: loading it needs a package that is not installed "
                                     f"({one_line(err)})") from None
    except Exception as err:
        if not isinstance(err, errors) and not (bare and type(err) is Exception):
            raise
        raise FormatError(f"{path}: {what} ({one_line(err)})") from None


def _no_load_report(record: logging.LogRecord) -> bool:
    return "LOAD REPORT" not in record.getMessage()


@contextlib.contextmanager
def quiet_transformers() -> Iterator[None]:
    """Hold back transformers' per-load progress bar and multi-line load report: the caller
    judges the loading info itself and reports a problem as one line. (A filter, not a level:
    transformers changes what it checks by its logger's level.)"""
    from transformers.utils import logging as hf_logging

    bar, report = hf_logging.is_progress_bar_enabled(), logging.getLogger("transformers.modeling_utils")
    hf_logging.disable_progress_bar()
    report.addFilter(_no_load_report)
    try:
        yield
    finally:
        report.removeFilter(_no_load_report)
        if bar:
            hf_logging.enable_progress_bar()


def weights_file(folder: Path) -> Path:
    """The backbone's weights file (or the shard index), named in error messages."""
    for name in ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin"):
        if (folder / name).is_file():
            return folder / name
    raise MissingFileError(f"{folder / 'model.safetensors'}: missing; the model folder has no weights")


def check_safetensors(path: Path) -> None:
    """Parse a safetensors header; a truncated, empty or garbled file raises ``FormatError``."""
    with corrupt_if_raises(path, SafetensorError, OSError, ValueError, what="is not a complete safetensors file"):
        with safe_open(str(path), framework="pt") as fh:
            fh.keys()


def check_finite(module: torch.nn.Module, path: Path) -> None:
    """Refuse weights holding NaN, infinity or magnitudes above ``MAX_ABS_WEIGHT``, naming the
    file and the first such parameter (buffers such as attention masks may hold -inf)."""
    for name, param in module.named_parameters():
        if not param.is_floating_point() or not param.numel():
            continue
        largest = float(param.detach().abs().max())  # NaN if any is NaN
        if not math.isfinite(largest):
            raise FormatError(f"{path}: tensor {name!r} holds NaN or infinite values")
        if largest > MAX_ABS_WEIGHT:
            raise FormatError(f"{path}: tensor {name!r} holds a value of magnitude {largest:.3g}; "
                              "no trained weight is that large (a flipped exponent bit?)")


def _read_config(folder: Path):
    """``config.json`` as a transformers config; wrong types and unknown architectures refused."""
    from transformers import AutoConfig

    path = folder / "config.json"
    raw = read_json(path, why="a model folder needs the backbone's Hugging Face config")
    for key in SHAPE_KEYS:
        value = raw.get(key)
        if value is not None and (type(value) is not int or value < 1):
            raise FormatError(f"{path}: {key!r} must be a positive integer, got {json_type(value)} {value!r:.40}")
    with loading(path, "is not a usable model config", (*CONFIG_ERRORS, *_hub_validation_errors())):
        return AutoConfig.from_pretrained(folder)


def load_backbone(folder: Path):
    """``AutoModel`` from ``folder`` with every weight of its architecture present and finite.

    Only the optional pooler of BERT-like models may be missing (it stays randomly initialised
    and unused unless pooler ``cls`` takes it as the MLP head, which checks for it). Returns
    ``(backbone, missing_keys)``.
    """
    from transformers import AutoModel

    config, weights = _read_config(folder), weights_file(folder)
    shards = sorted(folder.glob("*.safetensors")) if weights.suffix != ".bin" else []
    for path in shards:
        check_safetensors(path)
    with quiet_transformers(), loading(weights, "does not load into the architecture of config.json",
                                       (*WEIGHTS_ERRORS, *_hub_validation_errors())):
        backbone, info = AutoModel.from_pretrained(folder, config=config, output_loading_info=True)
    missing = set(info.get("missing_keys", ()))
    pooler = getattr(backbone, "pooler", None)
    optional = {f"pooler.{n}" for n, _ in pooler.named_parameters()} if isinstance(pooler, torch.nn.Module) else set()
    if missing - optional:
        names = sorted(missing - optional)
        raise FormatError(f"{weights}: lacks {len(names)} weight(s) of the architecture in config.json, e.g. "
                          f"{names[:3]}; the weights are not this model's or config.json was changed")
    check_finite(backbone, weights)
    return backbone, missing


def load_tokenizer(folder: Path, embedding_rows: int):
    """``AutoTokenizer`` from ``folder``, refused unless its vocabulary fits the word embeddings.

    Without a vocabulary file transformers falls back to a few special tokens, every word
    becomes [UNK] and all sentences embed alike: the coverage check catches that and a
    tokenizer that belongs to another model.
    """
    from transformers import AutoTokenizer

    found = [folder / name for name in TOKENIZER_FILES if (folder / name).is_file()]
    if not found:
        raise MissingFileError(f"{folder / TOKENIZER_FILES[0]}: missing, and no other tokenizer file "
                               f"({', '.join(TOKENIZER_FILES[1:])}); the model folder has no tokenizer")
    for path in (folder / name for name in TOKENIZER_JSON):
        if path.is_file():
            read_json(path)  # a JSON object, else a FormatError naming it (not transformers' AttributeError)
    with loading(found[0], "is not a usable tokenizer", TOKENIZER_ERRORS, bare=True):
        tokenizer = AutoTokenizer.from_pretrained(folder)
    size = len(tokenizer)
    if size > embedding_rows or size < MIN_VOCAB_COVERAGE * embedding_rows:
        raise FormatError(f"{found[0]}: the tokenizer has {size} tokens but the model's word embeddings have "
                          f"{embedding_rows} rows; the tokenizer files are missing or belong to another model")
    return tokenizer


__all__ = ["CONFIG_ERRORS", "TOKENIZER_ERRORS", "TOKENIZER_FILES", "TOKENIZER_JSON", "WEIGHTS_ERRORS", "check_finite",
           "check_safetensors", "load_backbone", "load_tokenizer", "loading", "weights_file"]
