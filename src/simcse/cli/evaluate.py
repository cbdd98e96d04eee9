"""``simcse evaluate``: SimCSE's evaluation protocol (STS, SentEval transfer, alignment/uniformity).

Prints markdown tables in the paper's column order for one or more models; optionally writes
every number with the settings and data checksums as JSON, and an alignment/uniformity plot.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from simcse.cli.encode import add_runtime_args
from simcse.model_registry import DEFAULT_MODEL


def add_parser(sub) -> None:
    p = sub.add_parser(
        "evaluate",
        help="STS / transfer / alignment-uniformity evaluation as in the SimCSE paper",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--model", action="append", default=None, metavar="MODEL",
                   help=f"model folder, embedded id or hub id; repeat for several models in one "
                        f"table (default: {DEFAULT_MODEL})")
    p.add_argument("--pooler", default=None,
                   help="override the saved pooler: cls, cls_before_pooler, avg, avg_top2, avg_first_last")
    p.add_argument("--mode", choices=("dev", "test", "fasttest"), default="test",
                   help="dev: STS-B/SICK-R dev and transfer dev accuracies (k=5); test: test "
                        "results, transfer with k=10 folds (comparable); fasttest: test results, "
                        "transfer with k=5 (default: test)")
    p.add_argument("--task-set", choices=("sts", "transfer", "full", "na"), default=None,
                   help="task group; anything but 'na' overrides --tasks, as in SimCSE "
                        "(default: na when --tasks is given, else sts)")
    p.add_argument("--tasks", nargs="+", default=None, metavar="TASK",
                   help="tasks to run: STS12 STS13 STS14 STS15 STS16 STSBenchmark "
                        "SICKRelatedness MR CR SUBJ MPQA SST2 TREC MRPC")
    p.add_argument("--batch-size", type=int, default=64, help="sentences per forward pass (default: 64)")
    p.add_argument("--max-length", type=int, default=None, help="override the saved maximum tokens per sentence")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1... (default: cuda when available)")
    add_runtime_args(p)
    p.add_argument("--data-dir", default=None,
                   help="folder holding downstream/ (default: $SIMCSE_DATA_DIR, else ~/.cache/simcse/data)")
    p.add_argument("--output-json", default=None, metavar="PATH",
                   help="write every number, the settings and sha256 of the data files read")
    p.add_argument("--plot", default=None, metavar="PNG",
                   help="write an alignment-vs-uniformity scatter of the models (needs matplotlib)")
    p.set_defaults(func=run)


class _TimedEncode:
    """The model's encode as an ``Encode`` callable, counting sentences and seconds."""

    def __init__(self, model, batch_size: int) -> None:
        self.model, self.batch_size = model, batch_size
        self.seconds, self.sentences = 0.0, 0

    def __call__(self, sentences: list[str]) -> np.ndarray:
        start = time.perf_counter()
        out = self.model.encode(sentences, batch_size=self.batch_size, normalize=False)
        self.seconds += time.perf_counter() - start
        self.sentences += len(sentences)
        return out


def run(args: argparse.Namespace) -> int:
    from simcse.api import SimCSE
    from simcse.data_dir import data_dir as resolve_data_dir
    from simcse.evaluation import data_files, evaluate, plot_geometry, probe, resolve_tasks
    from simcse.evaluation.report import checksums, markdown_tables, write_json

    models = args.model or [DEFAULT_MODEL]
    root = resolve_data_dir(args.data_dir)
    task_set = args.task_set or ("na" if args.tasks else "sts")
    tasks = resolve_tasks(task_set, args.tasks)
    geometry = args.plot is not None or "STSBenchmark" in tasks
    files = data_files(root, args.mode, tasks, geometry)

    rows: dict[str, dict[str, float]] = {}
    timing: dict[str, dict[str, float]] = {}
    for name in models:
        start = time.perf_counter()
        model = SimCSE(name, device=args.device, pooler=args.pooler, max_length=args.max_length,
                       backend=args.runtime, quantize=args.quantize, dtype=args.dtype)
        encode = _TimedEncode(model, args.batch_size)
        rows[name] = evaluate(encode, root, args.mode, tasks, geometry=geometry)
        timing[name] = {"encode_s": round(encode.seconds, 2), "sentences_encoded": encode.sentences,
                        "total_s": round(time.perf_counter() - start, 2)}
        print(f"{name}: encoded {encode.sentences} unique sentences in {encode.seconds:.1f} s, "
              f"total {timing[name]['total_s']:.1f} s", file=sys.stderr)

    print(f"------ {args.mode} ------")
    print(markdown_tables(rows, args.mode))
    if args.plot:
        plot_geometry({m: (r["uniform"], r["align"]) for m, r in rows.items()}, args.plot)
        print(f"wrote {args.plot}", file=sys.stderr)
    if args.output_json:
        settings = {
            "models": models, "pooler": args.pooler, "mode": args.mode, "tasks": list(tasks),
            "task_set": task_set, "batch_size": args.batch_size, "max_length": args.max_length,
            "runtime": args.runtime, "quantize": args.quantize, "dtype": args.dtype,
            "sts_aggregation": "all (Spearman over concatenated subsets); wmean and mean also given",
            "similarity": "cosine", "transfer_kfold": 10 if args.mode == "test" else 5,
            "transfer_classifier": "sklearn LogisticRegression (lbfgs), SentEval sklearn C grids",
            "transfer_C_grids": {"inner_kfold_and_split": list(probe.GRID_INNER),
                                 "kfold": list(probe.GRID_KFOLD)},
            "transfer_seed": probe.SEED,
            "data_dir": str(root), "data_sha256": checksums(files, root), "timing": timing,
        }
        write_json(args.output_json, rows, settings)
        print(f"wrote {args.output_json}", file=sys.stderr)
    return 0
