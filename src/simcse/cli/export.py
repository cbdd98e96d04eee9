"""``simcse export onnx``: the encoder (pooler and head included) as an ONNX graph."""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from simcse.cli.common import RUN_FIELDS, ModelOptions, add_model_flags, load_model
from simcse.runtime import onnx_filename
from simcse.settings import add_flags, check_fields, from_args, setting

# The model flags export skips: how a model runs here, but --quantize (what the export holds).
SKIPPED = tuple(name for name in RUN_FIELDS if name != "quantize")


@dataclass(frozen=True)
class ExportConfig:
    """``simcse export``: one field per flag (beside the model's flags, ``--quantize`` among them)."""

    format: Literal["onnx"] = setting(help="target format", positional=True)
    output: Path | None = setting(None, "the file to write", shown_default=lambda: (
        f"<model folder>/onnx/{onnx_filename(False)} (with --quantize {onnx_filename(True)}), "
        "where SimCSE(model, runtime='onnx') finds it"))
    optimize: bool = setting(True, "apply ONNX Runtime's transformer fusions")

    def __post_init__(self) -> None:
        check_fields(self)


def add_parser(sub) -> None:
    p = sub.add_parser("export", help="export a model for another runtime (ONNX)", description=__doc__)
    add_flags(p, ExportConfig)
    add_model_flags(p, skip=SKIPPED)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from simcse.onnx_export import check_parity, export_onnx

    cfg, opts = from_args(ExportConfig, args), from_args(ModelOptions, args, skip=SKIPPED)
    model = load_model(dataclasses.replace(opts, device="cpu", quantize=False))  # PyTorch; quantized on export
    out = cfg.output or model.folder / "onnx" / onnx_filename(opts.quantize)
    export_onnx(model.encoder, out, optimize=cfg.optimize, quantize=opts.quantize)
    cos = check_parity(model.encoder, str(out), min_cosine=0.0)
    print(f"wrote {out} (min cosine to PyTorch on the check sentences: {cos:.6f})")
    return 0


__all__ = ["SKIPPED", "ExportConfig", "add_parser", "run"]
