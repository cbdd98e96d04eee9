"""Export an :class:`Encoder` to ONNX (pooler, head, whitening and normalization inside the graph).

The graph takes the tokenizer's inputs (B, T) with dynamic batch and length and returns the
sentence embeddings (B, H). ONNX Runtime's transformer optimizer then fuses attention,
LayerNorm and GELU; optional int8 dynamic quantization shrinks and speeds up the MatMuls.
Every export is checked against PyTorch before it is written.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch

from simcse.atomic import atomic_file
from simcse.encoder import Encoder, pad_batch
from simcse.errors import MissingDependencyError

# ORT optimizer model type by Hugging Face ``config.model_type``; these share BERT's
# encoder-layer pattern. Others are exported unfused (still correct, just slower).
ORT_FUSION_TYPE = {"bert": "bert", "roberta": "bert", "xlm-roberta": "bert", "distilbert": "bert",
                   "mpnet": "bert", "electra": "bert", "camembert": "bert"}
PARITY_SENTENCES = [
    "A man is playing a guitar.", "Two dogs run through a field of tall grass.", "ok",
    "The committee postponed its decision on the new budget until next spring, citing uncertainty.",
]
MIN_PARITY_COSINE = 0.9999
# int8 moves single embeddings more (sentence-transformers' own avx2 int8 export gives a
# minimum of 0.963 on these sentences); its real check is the STS average (bench/).
MIN_PARITY_COSINE_INT8 = 0.95


def _import_ort():
    try:
        import onnxruntime
    except ImportError:
        raise MissingDependencyError("the ONNX runtime needs onnxruntime: pip install 'simcse[onnx]'") from None
    return onnxruntime


class _Traceable(torch.nn.Module):
    """Positional inputs in the tokenizer's order, as the ONNX exporter wants them."""

    def __init__(self, encoder: Encoder) -> None:
        super().__init__()
        self.encoder, self.names = encoder, encoder.model_input_names

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        return self.encoder(**dict(zip(self.names, inputs)))


@contextlib.contextmanager
def _eager_attention(encoder: Encoder):
    """Trace the plain attention pattern (what ORT's fusions recognise), then restore the setting."""
    config = encoder.backbone.config
    before = getattr(config, "_attn_implementation", None)
    setter = getattr(encoder.backbone, "set_attn_implementation", None)
    if setter is not None and before not in (None, "eager"):
        setter("eager")
    try:
        yield
    finally:
        if setter is not None and before not in (None, "eager"):
            setter(before)


def export_onnx(encoder: Encoder, path: str | os.PathLike, optimize: bool = True, quantize: bool = False) -> Path:
    """Write ``encoder`` (in eval mode) as an ONNX file at ``path``, atomically, after a parity check."""
    path = Path(path)
    encoder = encoder.eval().to("cpu")
    sample = pad_batch(encoder.tokenize(PARITY_SENTENCES[:2]), [0, 1], encoder.tokenizer.pad_token_id or 0)
    names = encoder.model_input_names
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw.onnx"
        with _eager_attention(encoder), torch.inference_mode(), warnings.catch_warnings():
            # The tracer warns about Python-level shape checks in transformers' masking code;
            # the parity check below is what proves the traced graph right.
            warnings.simplefilter("ignore")
            torch.onnx.export(
                _Traceable(encoder), tuple(sample[n] for n in names), str(raw), dynamo=False,
                input_names=names, output_names=["embedding"], opset_version=17,
                dynamic_axes={**{n: {0: "batch", 1: "tokens"} for n in names}, "embedding": {0: "batch"}},
            )
        model_file = _optimize(encoder, raw, Path(tmp) / "opt.onnx") if optimize else raw
        if quantize:
            model_file = _quantize(model_file, Path(tmp) / "int8.onnx")
        check_parity(encoder, str(model_file), min_cosine=MIN_PARITY_COSINE_INT8 if quantize else MIN_PARITY_COSINE)
        with atomic_file(path) as fh:
            fh.write(model_file.read_bytes())
    return path


def _optimize(encoder: Encoder, src: Path, dst: Path) -> Path:
    kind = ORT_FUSION_TYPE.get(encoder.backbone.config.model_type)
    if kind is None:
        return src
    _import_ort()
    from onnxruntime.transformers import optimizer

    cfg = encoder.backbone.config
    heads = int(getattr(cfg, "num_attention_heads", 0) or 0)
    opt = optimizer.optimize_model(str(src), model_type=kind, num_heads=heads, hidden_size=encoder.hidden_size)
    opt.save_model_to_file(str(dst))
    return dst


def _quantize(src: Path, dst: Path) -> Path:
    _import_ort()
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # u8 weights per channel (as optimum's avx2 recipe): s8 weights saturate the AVX2 u8*s8
    # kernels. Only MatMul nodes: the fused attention and embedding ops stay float32.
    quantize_dynamic(str(src), str(dst), weight_type=QuantType.QUInt8, per_channel=True,
                     op_types_to_quantize=["MatMul"], extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
    return dst


def ort_session(path: str | os.PathLike, threads: int | None = None):
    """An ONNX Runtime CPU session with all graph optimizations on."""
    ort = _import_ort()
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if threads:
        opts.intra_op_num_threads = threads
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def check_parity(encoder: Encoder, path: str, min_cosine: float = MIN_PARITY_COSINE) -> float:
    """Minimum cosine between ONNX and PyTorch embeddings of a few sentences; raises below ``min_cosine``."""
    feats = encoder.tokenize(PARITY_SENTENCES)
    batch = pad_batch(feats, list(range(len(PARITY_SENTENCES))), encoder.tokenizer.pad_token_id or 0)
    with torch.inference_mode():
        ref = encoder.eval()(**batch).float().numpy()
    got = ort_session(path).run(None, {k: v.numpy() for k, v in batch.items()})[0]
    cos = float(np.min((ref * got).sum(1) / np.linalg.norm(ref, axis=1) / np.linalg.norm(got, axis=1)))
    if not cos >= min_cosine:
        raise RuntimeError(f"ONNX export of {path} disagrees with PyTorch: min cosine {cos:.6f} < {min_cosine}")
    return cos


__all__ = ["MIN_PARITY_COSINE", "MIN_PARITY_COSINE_INT8", "PARITY_SENTENCES", "check_parity", "export_onnx", "ort_session"]
