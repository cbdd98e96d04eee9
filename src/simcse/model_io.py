"""The on-disk model format: a sentence-transformers folder plus ``simcse_config.json``.

Layout written by :func:`save_encoder`::

    config.json, model.safetensors, tokenizer files   the backbone (HF ``save_pretrained``)
    modules.json                                       sentence-transformers module list
    sentence_bert_config.json                          max_seq_length
    1_Pooling/config.json                              cls or mean pooling
    2_Dense/{config.json,model.safetensors}            only when the MLP head is used at inference
    whitening/{config.json,model.safetensors}          only for a whitened model (simcse whiten): a Dense
                                                       with identity activation after the head, before Normalize
    config_sentence_transformers.json                  similarity function = cosine
    simcse_config.json                                 pooler, head policy, max length: authoritative

:func:`load_encoder` reads three kinds of folders, decided by the files present, never by
the name: our own (``simcse_config.json``), sentence-transformers (``modules.json``), and a
plain Hugging Face checkpoint such as the published princeton-nlp SimCSE models, for which
the pooler must be named by the caller.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import struct
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from simcse import __version__
from simcse.artefacts import corrupt_if_raises, read_json
from simcse.atomic import atomic_dir
from simcse.backbone_io import check_finite, check_safetensors, load_backbone, load_tokenizer, weights_file
from simcse.encoder import Encoder, EncoderConfig
from simcse.errors import ConfigError, FormatError
from simcse.model_registry import resolve_model
from simcse.whitening import IDENTITY, WHITENING_DIR, WhiteningInfo, dense_shape, load_whitening, save_whitening

FORMAT_VERSION = 1
SIMCSE_CONFIG = "simcse_config.json"
DENSE_WEIGHTS = "2_Dense/model.safetensors"  # the MLP head, when used at inference
DEFAULT_PLAIN_MAX_LENGTH = 512

# sentence-transformers module types we can reproduce, old and new import paths alike.
ST_MODULES = {
    "sentence_transformers.models.Transformer": "transformer",
    "sentence_transformers.models.Pooling": "pooling",
    "sentence_transformers.models.Dense": "dense",
    "sentence_transformers.models.Normalize": "normalize",
    "sentence_transformers.base.modules.transformer.Transformer": "transformer",
    "sentence_transformers.sentence_transformer.modules.pooling.Pooling": "pooling",
    "sentence_transformers.base.modules.dense.Dense": "dense",
    "sentence_transformers.base.modules.normalize.Normalize": "normalize",
}
# Our poolers with an exact sentence-transformers Pooling equivalent (applied before the head).
ST_POOLING_MODE = {"cls": "cls", "cls_before_pooler": "cls", "avg": "mean"}
_ST_MODE_TO_POOLER = {"cls": "cls_before_pooler", "mean": "avg"}
_TANH = "torch.nn.modules.activation.Tanh"


def _write_json(path: Path, obj: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=2) + "\n", encoding="utf-8")


def weights_fingerprint(folder: str | os.PathLike, data: bool = False) -> str:
    """A short hash of the model's weights and settings: every safetensors file's header
    (tensor names, shapes, dtypes, offsets) and size, plus ``simcse_config.json``,
    ``modules.json``, the tokenizer files and the module configs. Cheap (no tensor data is
    read) and it changes when the weights are replaced by others of another layout.

    ``data=True`` hashes the weight files whole (``*.safetensors``, ``*.bin``: one pass over
    them), so that weights replaced by others of the same shapes count as different too."""
    folder = Path(folder)
    digest = hashlib.sha256()
    weights = sorted(folder.rglob("*.safetensors")) + (sorted(folder.rglob("*.bin")) if data else [])
    for path in weights + sorted(folder.glob("*.json")) + sorted(folder.glob("*/config.json")):
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0")
        size = path.stat().st_size
        digest.update(str(size).encode() + b"\0")
        with open(path, "rb") as fh:
            if data and path in weights:
                for block in iter(lambda: fh.read(1 << 22), b""):
                    digest.update(block)
            elif path.suffix == ".safetensors":
                head = fh.read(8)
                n = struct.unpack("<Q", head)[0] if len(head) == 8 else 0
                digest.update(head + fh.read(min(n, size)))
            else:
                digest.update(fh.read())
    return digest.hexdigest()[:16]


def tensors_fingerprint(module: torch.nn.Module) -> str:
    """A short hash of a module's tensors (names, shapes, dtypes and values): for models in memory."""
    digest = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        t = tensor.detach().cpu().contiguous()
        digest.update(f"{name}{tuple(t.shape)}{t.dtype}".encode())
        digest.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return digest.hexdigest()[:16]


# ---------------------------------------------------------------- save


def save_encoder(encoder: Encoder, path: str | os.PathLike) -> Path:
    """Write ``encoder`` to the folder ``path`` atomically (the old folder survives a crash)."""
    cfg = encoder.config
    with atomic_dir(path) as tmp:
        encoder.backbone.save_pretrained(tmp, safe_serialization=True)
        encoder.tokenizer.save_pretrained(tmp)
        whitening = {} if encoder.whitening is None else {"whitening": encoder.whitening.record()}
        config = dataclasses.asdict(cfg)
        if not cfg.matryoshka_dims:  # a model not trained for truncation: the file earlier simcse versions read
            del config["matryoshka_dims"]
        _write_json(tmp / SIMCSE_CONFIG, {**config, **whitening, "format_version": FORMAT_VERSION})
        if encoder.whitening is not None:
            save_whitening(encoder.whitening, tmp / WHITENING_DIR)
        _write_json(tmp / "config_sentence_transformers.json", {
            "__version__": {"simcse": __version__, "pytorch": torch.__version__},
            "prompts": {}, "default_prompt_name": None, "similarity_fn_name": "cosine",
        })
        _write_json(tmp / "sentence_bert_config.json", {"max_seq_length": cfg.max_length, "do_lower_case": False})
        if cfg.pooler in ST_POOLING_MODE:
            _write_st_modules(encoder, tmp)
    return Path(path)


def _write_st_modules(encoder: Encoder, tmp: Path) -> None:
    cfg, hidden = encoder.config, encoder.hidden_size
    mode = ST_POOLING_MODE[cfg.pooler]
    modules = [("", "sentence_transformers.models.Transformer"), ("1_Pooling", "sentence_transformers.models.Pooling")]
    _write_json(tmp / "1_Pooling" / "config.json", {
        "word_embedding_dimension": hidden,
        "pooling_mode_cls_token": mode == "cls",
        "pooling_mode_mean_tokens": mode == "mean",
        "pooling_mode_max_tokens": False,
        "pooling_mode_mean_sqrt_len_tokens": False,
    })
    if cfg.head_at_inference:
        modules.append(("2_Dense", "sentence_transformers.models.Dense"))
        _write_json(tmp / "2_Dense" / "config.json", {
            "in_features": hidden, "out_features": hidden, "bias": True, "activation_function": _TANH,
        })
        state = {k: v.detach().cpu().contiguous() for k, v in encoder.head.state_dict().items()}
        save_file(state, str(tmp / "2_Dense" / "model.safetensors"))
    if encoder.whitening is not None:
        modules.append((WHITENING_DIR, "sentence_transformers.models.Dense"))
    if cfg.normalize:
        modules.append((f"{len(modules)}_Normalize", "sentence_transformers.models.Normalize"))
    _write_json(tmp / "modules.json", [
        {"idx": i, "name": str(i), "path": p, "type": t} for i, (p, t) in enumerate(modules)
    ])


# ---------------------------------------------------------------- load


@dataclass(frozen=True)
class _Layout:
    """What a model folder holds, as its files describe it."""

    config: EncoderConfig
    head: str | None = None  # where the MLP head's weights are: "dense" (DENSE_WEIGHTS), "backbone" (its pooler)
    whitening: Path | None = None  # the whitening's folder
    whitening_info: WhiteningInfo | None = None
    whitening_dim: int | None = None  # K, as simcse_config.json records it


def load_encoder(
    name_or_path: str | os.PathLike,
    pooler: str | None = None,
    max_length: int | None = None,
    mlp_only_train: bool | None = None,
) -> Encoder:
    """Load an encoder from a folder or hub id; explicit arguments override the saved config
    (but not the pooler or head of a whitened model: its whitening was fitted on them).

    Every file is checked (JSON shapes and types, safetensors headers, weights covering the
    architecture and finite, a tokenizer that fits the embeddings): a fault raises a
    ``FormatError`` or ``MissingFileError`` naming the file.
    """
    folder = resolve_model(name_or_path)
    if (folder / SIMCSE_CONFIG).is_file():
        layout = _simcse_config(folder)
    elif (folder / "modules.json").is_file():
        layout = _st_config(folder)
    else:
        if pooler is None:
            raise ConfigError(
                f"{folder} is a plain Hugging Face checkpoint: its pooler must be chosen explicitly, "
                "e.g. pooler='cls' for supervised princeton-nlp SimCSE models (pooler_output) or "
                "pooler='cls_before_pooler' for unsupervised ones (raw [CLS])"
            )
        layout = _Layout(EncoderConfig(pooler=pooler, max_length=DEFAULT_PLAIN_MAX_LENGTH), "backbone")
    overrides = {"pooler": pooler, "max_length": max_length, "mlp_only_train": mlp_only_train}
    cfg = dataclasses.replace(layout.config, **{k: v for k, v in overrides.items() if v is not None})
    if layout.whitening is not None and (cfg.pooler, cfg.head_at_inference) != (
            layout.config.pooler, layout.config.head_at_inference):
        raise ConfigError(f"{folder} is whitened: its whitening was fitted on pooler {layout.config.pooler!r} "
                          f"(head at inference: {layout.config.head_at_inference}); another pooler or head "
                          "needs its own whitening (simcse whiten)")
    return _build(folder, dataclasses.replace(layout, config=cfg))


def _simcse_config(folder: Path) -> _Layout:
    path = folder / SIMCSE_CONFIG
    raw = read_json(path)
    version = raw.pop("format_version", None)
    if version != FORMAT_VERSION:
        raise FormatError(f"{path}: format_version {version!r}, this simcse reads {FORMAT_VERSION}")
    whitening = raw.pop("whitening", None)
    fields = {f.name for f in dataclasses.fields(EncoderConfig)}
    unknown, missing = set(raw) - fields, {"pooler"} - set(raw)
    if unknown or missing:
        raise FormatError(f"{path}: unknown fields {sorted(unknown)}, missing fields {sorted(missing)}; "
                          f"valid: {sorted(fields | {'whitening'})}")
    layout = _Layout(_encoder_config(path, **raw), "dense" if (folder / DENSE_WEIGHTS).is_file() else None)
    if whitening is not None:
        dim = whitening.get("dim") if isinstance(whitening, dict) else None
        if type(dim) is not int or dim < 1:
            raise FormatError(f"{path}: 'whitening' needs an integer 'dim' >= 1, got {dim!r}")
        layout = dataclasses.replace(layout, whitening=folder / WHITENING_DIR,
                                     whitening_info=WhiteningInfo.from_json(whitening, path), whitening_dim=dim)
    if (folder / "modules.json").is_file():
        _check_st_files(folder, layout)
    return layout


def _check_st_files(folder: Path, ours: _Layout) -> None:
    """Our folders also carry sentence-transformers' files: they must be sound and agree with
    simcse_config.json, or sentence-transformers would embed differently from the same folder."""
    cfg, st = ours.config, _st_config(folder)
    expected = "cls_before_pooler" if cfg.pooler == "cls" and not cfg.head_at_inference else cfg.pooler
    if (st.config.pooler, st.config.normalize) != (expected, cfg.normalize):
        raise FormatError(f"{folder / 'modules.json'}: describes pooler {st.config.pooler!r} (normalize "
                          f"{st.config.normalize}), but {SIMCSE_CONFIG} gives {expected!r} (normalize {cfg.normalize})")
    if st.whitening != ours.whitening:
        raise FormatError(f"{folder / 'modules.json'}: its linear Dense is {st.whitening}, but {SIMCSE_CONFIG} "
                          f"gives the whitening {ours.whitening}")


def _encoder_config(path: Path, **values) -> EncoderConfig:
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}  # JSON arrays: tuple fields
    try:
        return EncoderConfig(**values)
    except ConfigError as err:  # wrong types, unknown pooler, max_length < 1
        raise FormatError(f"{path}: {err}") from None


def _st_config(folder: Path) -> _Layout:
    """Map a sentence-transformers module list onto an EncoderConfig, or refuse it: Transformer,
    Pooling, then optionally the SimCSE head (square Tanh Dense, after CLS pooling), a linear
    Dense (identity activation: a whitening), Normalize, in this order."""
    path = folder / "modules.json"
    kinds = []
    for i, m in enumerate(read_json(path, list)):
        if not isinstance(m, dict) or not isinstance(m.get("type"), str) or not isinstance(m.get("path", ""), str):
            raise FormatError(f"{path}: entry {i} must be an object with string fields 'type' and 'path'")
        if m["type"] not in ST_MODULES:
            raise FormatError(f"{path}: module {m['type']!r} is not supported; supported: {sorted(set(ST_MODULES))}")
        kinds.append((ST_MODULES[m["type"]], folder / m.get("path", "")))
    names = [k for k, _ in kinds]
    normalize = names[-1:] == ["normalize"]
    denses = [p for _, p in kinds[2:len(kinds) - normalize]]
    if names[:2] != ["transformer", "pooling"] or names[2:len(names) - normalize] != ["dense"] * len(denses) \
            or len(denses) > 2:
        raise FormatError(f"{path}: unsupported module order {names}")
    pooler = _st_pooler(kinds[1][1] / "config.json")
    head = whitening = None
    for i, dense in enumerate(denses):
        n_in, n_out, activation = dense_shape(dense / "config.json")
        activation = activation or _TANH  # sentence-transformers' default
        if activation == _TANH and i == 0 and n_in == n_out:
            if pooler != "cls_before_pooler":
                raise FormatError(f"{kinds[1][1] / 'config.json'}: a Dense module ({dense.name}) after "
                                  "non-CLS pooling is not supported; only the SimCSE MLP head after CLS pooling")
            head, pooler = "dense", "cls"
        elif activation == IDENTITY and i == len(denses) - 1:
            whitening = dense
        else:
            raise FormatError(f"{dense / 'config.json'}: only a square Tanh Dense (the SimCSE MLP head) and, after "
                              "it, a linear Dense (identity activation: a whitening) are supported")
    st_cfg = folder / "sentence_bert_config.json"
    max_len = read_json(st_cfg).get("max_seq_length") if st_cfg.is_file() else None
    cfg = _encoder_config(st_cfg, pooler=pooler, mlp_only_train=False, max_length=max_len or DEFAULT_PLAIN_MAX_LENGTH,
                          normalize=normalize)
    return _Layout(cfg, head, whitening)


def _st_pooler(path: Path) -> str:
    raw = read_json(path)
    mode = raw.get("pooling_mode")
    if mode is None:  # legacy boolean keys
        mode = [k[len("pooling_mode_"):] for k, v in raw.items() if k.startswith("pooling_mode_") and v is True]
        mode = {"cls_token": "cls", "mean_tokens": "mean"}.get(mode[0], mode[0]) if len(mode) == 1 else mode
    if isinstance(mode, list) and len(mode) == 1:
        mode = mode[0]
    if not isinstance(mode, str) or mode not in _ST_MODE_TO_POOLER:
        raise FormatError(f"{path}: pooling mode {mode!r} is not supported; supported: {sorted(_ST_MODE_TO_POOLER)}")
    return _ST_MODE_TO_POOLER[mode]


def _build(folder: Path, layout: _Layout) -> Encoder:
    cfg = layout.config
    backbone, missing = load_backbone(folder)
    tokenizer = load_tokenizer(folder, backbone.get_input_embeddings().num_embeddings)
    encoder = Encoder(backbone.float(), tokenizer, cfg)
    if encoder.head is not None and layout.head == "dense":
        _head_from_dense(encoder, folder / DENSE_WEIGHTS)
    elif encoder.head is not None and layout.head == "backbone":
        _head_from_backbone_pooler(encoder, folder, missing)
    elif cfg.head_at_inference:
        raise FormatError(
            f"{folder / DENSE_WEIGHTS}: missing; pooler 'cls' uses the MLP head at inference but the folder has no "
            "head weights; use pooler='cls_before_pooler' (raw [CLS]) or a model trained with the head"
        )
    if layout.whitening is not None:
        encoder.whitening = load_whitening(layout.whitening, encoder.hidden_size, layout.whitening_info)
        if layout.whitening_dim not in (None, encoder.whitening.out_features):
            raise FormatError(f"{folder / SIMCSE_CONFIG}: 'whitening' gives dim {layout.whitening_dim}, but "
                              f"{layout.whitening / 'config.json'} has {encoder.whitening.out_features} out_features")
    return encoder.eval()


def _head_from_dense(encoder: Encoder, path: Path) -> None:
    check_safetensors(path)
    with corrupt_if_raises(path, RuntimeError, KeyError, what="does not hold the MLP head's weights"):
        encoder.head.load_state_dict(load_file(str(path)))  # names and shapes must match exactly
    check_finite(encoder.head, path)


def _head_from_backbone_pooler(encoder: Encoder, folder: Path, missing: set[str]) -> None:
    """princeton-nlp checkpoints keep SimCSE's MLP as the backbone's own pooler (dense + tanh)."""
    dense = getattr(getattr(encoder.backbone, "pooler", None), "dense", None)
    names = {n for n, p in encoder.backbone.named_parameters() if dense is not None and any(p is q for q in dense.parameters())}
    if (
        not isinstance(dense, torch.nn.Linear)
        or dense.weight.shape != encoder.head.linear.weight.shape
        or names & missing
    ):
        raise FormatError(f"{weights_file(folder)}: pooler 'cls' needs pooler weights (pooler.dense), this checkpoint has none")
    encoder.head.linear.load_state_dict(dense.state_dict())


__all__ = ["DEFAULT_PLAIN_MAX_LENGTH", "DENSE_WEIGHTS", "FORMAT_VERSION", "SIMCSE_CONFIG", "ST_MODULES",
           "ST_POOLING_MODE", "load_encoder", "save_encoder", "tensors_fingerprint", "weights_fingerprint"]
