"""The on-disk model format: a sentence-transformers folder plus ``simcse_config.json``.

Layout written by :func:`save_encoder`::

    config.json, model.safetensors, tokenizer files   the backbone (HF ``save_pretrained``)
    modules.json                                       sentence-transformers module list
    sentence_bert_config.json                          max_seq_length
    1_Pooling/config.json                              cls or mean pooling
    2_Dense/{config.json,model.safetensors}            only when the MLP head is used at inference
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
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from simcse import __version__
from simcse.atomic import atomic_dir
from simcse.encoder import Encoder, EncoderConfig
from simcse.model_registry import resolve_model

FORMAT_VERSION = 1
SIMCSE_CONFIG = "simcse_config.json"
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


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}:{err.lineno}: invalid JSON ({err.msg})") from None


def _write_json(path: Path, obj: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=2) + "\n", encoding="utf-8")


def weights_fingerprint(folder: str | os.PathLike) -> str:
    """A short hash of the model's weights and settings: every safetensors file's header
    (tensor names, shapes, dtypes, offsets) and size, plus ``simcse_config.json``,
    ``modules.json`` and the module configs. Cheap (no tensor data is read) and it changes
    when the weights are replaced, so resume records can refuse to mix two models."""
    folder = Path(folder)
    digest = hashlib.sha256()
    files = sorted(folder.rglob("*.safetensors")) + sorted(folder.glob("*.json")) + sorted(folder.glob("*/config.json"))
    for path in files:
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0")
        size = path.stat().st_size
        digest.update(str(size).encode() + b"\0")
        with open(path, "rb") as fh:
            if path.suffix == ".safetensors":
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
        _write_json(tmp / SIMCSE_CONFIG, {**dataclasses.asdict(cfg), "format_version": FORMAT_VERSION})
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
    if cfg.normalize:
        modules.append((f"{len(modules)}_Normalize", "sentence_transformers.models.Normalize"))
    _write_json(tmp / "modules.json", [
        {"idx": i, "name": str(i), "path": p, "type": t} for i, (p, t) in enumerate(modules)
    ])


# ---------------------------------------------------------------- load


def load_encoder(
    name_or_path: str | os.PathLike,
    pooler: str | None = None,
    max_length: int | None = None,
    mlp_only_train: bool | None = None,
) -> Encoder:
    """Load an encoder from a folder or hub id; explicit arguments override the saved config."""
    folder = resolve_model(name_or_path)
    if (folder / SIMCSE_CONFIG).is_file():
        cfg, head = _simcse_config(folder)
    elif (folder / "modules.json").is_file():
        cfg, head = _st_config(folder)
    else:
        if pooler is None:
            raise ValueError(
                f"{folder} is a plain Hugging Face checkpoint: its pooler must be chosen explicitly, "
                "e.g. pooler='cls' for supervised princeton-nlp SimCSE models (pooler_output) or "
                "pooler='cls_before_pooler' for unsupervised ones (raw [CLS])"
            )
        cfg, head = EncoderConfig(pooler=pooler, max_length=DEFAULT_PLAIN_MAX_LENGTH), "backbone"
    overrides = {"pooler": pooler, "max_length": max_length, "mlp_only_train": mlp_only_train}
    cfg = dataclasses.replace(cfg, **{k: v for k, v in overrides.items() if v is not None})
    return _build(folder, cfg, head)


def _simcse_config(folder: Path) -> tuple[EncoderConfig, str | None]:
    raw = _read_json(folder / SIMCSE_CONFIG)
    version = raw.pop("format_version", None)
    if version != FORMAT_VERSION:
        raise ValueError(f"{folder / SIMCSE_CONFIG}: format_version {version!r}, this simcse reads {FORMAT_VERSION}")
    fields = {f.name for f in dataclasses.fields(EncoderConfig)}
    unknown = set(raw) - fields
    if unknown:
        raise ValueError(f"{folder / SIMCSE_CONFIG}: unknown field(s) {sorted(unknown)}; valid: {sorted(fields)}")
    cfg = EncoderConfig(**raw)
    return cfg, ("dense" if (folder / "2_Dense" / "model.safetensors").is_file() else None)


def _st_config(folder: Path) -> tuple[EncoderConfig, str | None]:
    """Map a sentence-transformers module list onto an EncoderConfig, or refuse it."""
    modules = _read_json(folder / "modules.json")
    kinds = []
    for m in modules:
        kind = ST_MODULES.get(m.get("type"))
        if kind is None:
            raise ValueError(
                f"{folder / 'modules.json'}: module {m.get('type')!r} is not supported; "
                f"supported: {sorted(set(ST_MODULES))}"
            )
        kinds.append((kind, folder / m.get("path", "")))
    names = [k for k, _ in kinds]
    if names[:2] != ["transformer", "pooling"] or names[2:] not in ([], ["dense"], ["normalize"], ["dense", "normalize"]):
        raise ValueError(f"{folder / 'modules.json'}: unsupported module order {names}")
    pooler = _st_pooler(kinds[1][1] / "config.json")
    has_dense = "dense" in names
    if has_dense:
        dense_dir = kinds[names.index("dense")][1]
        dcfg = _read_json(dense_dir / "config.json")
        if pooler != "cls_before_pooler" or dcfg.get("activation_function", _TANH) != _TANH or dcfg["in_features"] != dcfg["out_features"]:
            raise ValueError(f"{dense_dir / 'config.json'}: only a square Tanh Dense after CLS pooling (the SimCSE MLP head) is supported")
        pooler = "cls"
    st_cfg = folder / "sentence_bert_config.json"
    max_len = _read_json(st_cfg).get("max_seq_length") if st_cfg.is_file() else None
    cfg = EncoderConfig(
        pooler=pooler, mlp_only_train=False, max_length=int(max_len or DEFAULT_PLAIN_MAX_LENGTH),
        normalize="normalize" in names,
    )
    return cfg, ("dense" if has_dense else None)


def _st_pooler(path: Path) -> str:
    raw = _read_json(path)
    mode = raw.get("pooling_mode")
    if mode is None:  # legacy boolean keys
        mode = [k[len("pooling_mode_"):] for k, v in raw.items() if k.startswith("pooling_mode_") and v]
        mode = {"cls_token": "cls", "mean_tokens": "mean"}.get(mode[0], mode[0]) if len(mode) == 1 else mode
    if isinstance(mode, list) and len(mode) == 1:
        mode = mode[0]
    if mode not in _ST_MODE_TO_POOLER:
        raise ValueError(f"{path}: pooling mode {mode!r} is not supported; supported: {sorted(_ST_MODE_TO_POOLER)}")
    return _ST_MODE_TO_POOLER[mode]


def _build(folder: Path, cfg: EncoderConfig, head_source: str | None) -> Encoder:
    from transformers import AutoModel, AutoTokenizer

    backbone, info = AutoModel.from_pretrained(folder, output_loading_info=True)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    encoder = Encoder(backbone.float(), tokenizer, cfg)
    if encoder.head is not None and head_source == "dense":
        encoder.head.load_state_dict(load_file(str(folder / "2_Dense" / "model.safetensors")))
    elif encoder.head is not None and head_source == "backbone":
        _head_from_backbone_pooler(encoder, folder, set(info.get("missing_keys", ())))
    elif cfg.head_at_inference:
        raise ValueError(
            f"{folder}: pooler 'cls' uses the MLP head at inference but the folder has no head weights; "
            "use pooler='cls_before_pooler' (raw [CLS]) or a model trained with the head"
        )
    return encoder.eval()


def _head_from_backbone_pooler(encoder: Encoder, folder: Path, missing: set[str]) -> None:
    """princeton-nlp checkpoints keep SimCSE's MLP as the backbone's own pooler (dense + tanh)."""
    dense = getattr(getattr(encoder.backbone, "pooler", None), "dense", None)
    names = {n for n, p in encoder.backbone.named_parameters() if dense is not None and any(p is q for q in dense.parameters())}
    if (
        not isinstance(dense, torch.nn.Linear)
        or dense.weight.shape != encoder.head.linear.weight.shape
        or names & missing
    ):
        raise ValueError(f"{folder}: pooler 'cls' needs pooler weights (pooler.dense), this checkpoint has none")
    encoder.head.linear.load_state_dict(dense.state_dict())
