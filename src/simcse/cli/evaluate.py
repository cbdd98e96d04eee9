"""``simcse evaluate``: SimCSE's evaluation protocol (STS, SentEval transfer, alignment/uniformity)
and the user's own evaluation sets (scored or labelled pairs, retrieval judgments, label-free health).

Prints markdown tables in the paper's column order for one or more models; optionally writes
every number with the settings and data checksums as JSON, and an alignment/uniformity plot.
With ``--pairs``, ``--labelled-pairs``, ``--retrieval`` or ``--health`` and no ``--tasks`` /
``--task-set``, only those run; their files are all checked before any model is loaded.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from simcse.cli.common import ModelOptions, add_model_flags, load_model
from simcse.data_dir import DEFAULT_TEXT as DATA_DIR_DEFAULT
from simcse.evaluation import ALL_TASKS, MODES, TASK_SETS
from simcse.evaluation.user import UserEvaluators
from simcse.model_registry import DEFAULT_MODEL
from simcse.settings import add_flags, check_fields, from_args, setting

NO_TASK_SET = "na"  # SimCSE's task_set meaning "use --tasks"
DEFAULT_TASK_SET = "sts"  # without --tasks


@dataclass(frozen=True)
class EvaluateConfig(UserEvaluators):
    """``simcse evaluate``: one field per flag (the model's other flags are :class:`ModelOptions`;
    the user's evaluation sets are :class:`UserEvaluators`, flags without their ``eval_`` prefix)."""

    model: tuple[str, ...] = setting((DEFAULT_MODEL,), "model folder, embedded id or hub id; repeat for several "
                                     "models in one table", repeat="append", metavar="MODEL")
    mode: str = setting("test", "which splits and transfer folds, as SimCSE's evaluation.py (see "
                        "simcse.evaluation.suite)", choices=lambda: MODES)
    task_set: str | None = setting(None, f"task group; anything but {NO_TASK_SET} overrides --tasks, as in SimCSE",
                                   choices=lambda: (*TASK_SETS, NO_TASK_SET),
                                   shown_default=f"{NO_TASK_SET} when --tasks is given, else {DEFAULT_TASK_SET}")
    tasks: tuple[str, ...] = setting((), "tasks to run", choices=lambda: ALL_TASKS)
    batch_size: int = setting(64, "sentences per forward pass", min=1)
    data_dir: Path | None = setting(None, "folder holding downstream/", shown_default=DATA_DIR_DEFAULT)
    output_json: Path | None = setting(None, "write every number, the settings and sha256 of the data files read",
                                       metavar="PATH")
    plot: Path | None = setting(None, "write an alignment-vs-uniformity scatter of the models (needs matplotlib)",
                                metavar="PNG")

    def __post_init__(self) -> None:
        check_fields(self)


def add_parser(sub) -> None:
    p = sub.add_parser(
        "evaluate",
        help="STS / transfer / alignment-uniformity evaluation as in the SimCSE paper",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_flags(p, EvaluateConfig, strip_prefix="eval_")
    add_model_flags(p, skip=("model",))
    p.set_defaults(func=run)


class _TimedEncode:
    """The model's encode as an ``Encode`` callable, counting sentences and seconds."""

    def __init__(self, model, batch_size: int) -> None:
        self.model, self.batch_size = model, batch_size
        self.seconds, self.sentences = 0.0, 0

    def __call__(self, sentences: list[str], dropout: bool = False) -> np.ndarray:
        start = time.perf_counter()
        out = self.model.encode(sentences, batch_size=self.batch_size, normalize=False, dropout=dropout)
        self.seconds += time.perf_counter() - start
        self.sentences += len(sentences)
        return out

    def with_dropout(self, sentences: list[str]) -> np.ndarray:
        return self(sentences, dropout=True)


def run(args: argparse.Namespace) -> int:
    from simcse.data_dir import data_dir as resolve_data_dir
    from simcse.evaluation import data_files, evaluate, plot_geometry, probe, resolve_tasks
    from simcse.evaluation.files import sha256
    from simcse.evaluation.report import checksums, markdown_tables, write_json
    from simcse.evaluation.user import evaluate_user, read_user, user_files

    cfg = from_args(EvaluateConfig, args)
    opts = from_args(ModelOptions, args, skip=("model",))
    root = resolve_data_dir(cfg.data_dir)
    specs = cfg.user_specs()
    user = read_user(specs)  # every file checked before a model is loaded
    only_user = bool(specs) and not cfg.tasks and cfg.task_set is None
    task_set = cfg.task_set or (NO_TASK_SET if cfg.tasks else DEFAULT_TASK_SET)
    tasks = () if only_user else resolve_tasks(task_set, cfg.tasks)
    geometry = cfg.plot is not None or "STSBenchmark" in tasks
    files = data_files(root, cfg.mode, tasks, geometry)

    rows: dict[str, dict[str, float]] = {}
    timing: dict[str, dict[str, float]] = {}
    for name in cfg.model:
        start = time.perf_counter()
        encode = _TimedEncode(load_model(dataclasses.replace(opts, model=name)), cfg.batch_size)
        rows[name] = evaluate(encode, root, cfg.mode, tasks, geometry=geometry) if tasks or geometry else {}
        # Dropout views need the torch runtime; elsewhere health reports uniform/anisotropy without align.
        rows[name].update(evaluate_user(encode, user, encode.with_dropout if opts.runtime == "torch" else None))
        timing[name] = {"encode_s": round(encode.seconds, 2), "sentences_encoded": encode.sentences,
                        "total_s": round(time.perf_counter() - start, 2)}
        print(f"{name}: encoded {encode.sentences} unique sentences in {encode.seconds:.1f} s, "
              f"total {timing[name]['total_s']:.1f} s", file=sys.stderr)

    print(f"------ {cfg.mode} ------")
    print(markdown_tables(rows, cfg.mode))
    if cfg.plot:
        plot_geometry({m: (r["uniform"], r["align"]) for m, r in rows.items()}, cfg.plot)
        print(f"wrote {cfg.plot}", file=sys.stderr)
    if cfg.output_json:
        settings = {
            "models": list(cfg.model), "pooler": opts.pooler, "mode": cfg.mode, "tasks": list(tasks),
            "task_set": task_set, "batch_size": cfg.batch_size, "max_length": opts.max_length,
            "runtime": opts.runtime, "quantize": opts.quantize, "dtype": opts.dtype, "truncate_dim": opts.truncate_dim,
            "sts_aggregation": "all (Spearman over concatenated subsets); wmean and mean also given",
            "similarity": "cosine", "transfer_kfold": 10 if cfg.mode == "test" else 5,
            "transfer_classifier": "sklearn LogisticRegression (lbfgs), SentEval sklearn C grids",
            "transfer_C_grids": {"inner_kfold_and_split": list(probe.GRID_INNER),
                                 "kfold": list(probe.GRID_KFOLD)},
            "transfer_seed": probe.SEED,
            "data_dir": str(root), "data_sha256": checksums(files, root), "timing": timing,
            "user_evaluators": [{"kind": type(spec).__name__, **{k: str(v) if isinstance(v, Path) else v
                                                               for k, v in dataclasses.asdict(spec).items()}}
                                for spec in specs],
            "user_sha256": {str(f): sha256(f) for f in user_files(specs)},
        }
        write_json(cfg.output_json, rows, settings)
        print(f"wrote {cfg.output_json}", file=sys.stderr)
    return 0


__all__ = ["DEFAULT_TASK_SET", "NO_TASK_SET", "EvaluateConfig", "add_parser", "run"]
