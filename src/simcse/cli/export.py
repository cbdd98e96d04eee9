"""``simcse export onnx``: the encoder (pooler and head included) as an ONNX graph."""

from __future__ import annotations

import argparse
from pathlib import Path

from simcse.cli.encode import add_model_args

FORMATS = ("onnx",)


def add_parser(sub) -> None:
    p = sub.add_parser("export", help="export a model for another runtime (ONNX)", description=__doc__)
    p.add_argument("format", choices=FORMATS, help="target format")
    add_model_args(p, backend=False)
    p.add_argument("--output", default=None,
                   help="the .onnx file to write (default: <model folder>/onnx/simcse-encoder[-int8].onnx, "
                        "where SimCSE(model, backend='onnx') finds it)")
    p.add_argument("--quantize", action="store_true", help="int8 dynamic quantization of the MatMul weights")
    p.add_argument("--no-optimize", action="store_true", help="skip ONNX Runtime's transformer fusions")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from simcse.backend import onnx_filename
    from simcse.model_io import load_encoder
    from simcse.model_registry import resolve_model
    from simcse.onnx_export import check_parity, export_onnx

    folder = resolve_model(args.model)
    encoder = load_encoder(folder, pooler=args.pooler, max_length=args.max_length)
    out = Path(args.output) if args.output else folder / "onnx" / onnx_filename(args.quantize)
    export_onnx(encoder, out, optimize=not args.no_optimize, quantize=args.quantize)
    cos = check_parity(encoder, str(out), min_cosine=0.0)
    print(f"wrote {out} (min cosine to PyTorch on the check sentences: {cos:.6f})")
    return 0
