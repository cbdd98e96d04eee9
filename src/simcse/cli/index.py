"""``simcse index build|add``: make an index folder from a text file, or add sentences to one.

Both check the file whole first, encode it in resumable shards (shared out under
``torchrun``) and write the folder atomically; ids of a built index are the input's 0-based
line numbers.
"""

from __future__ import annotations

import argparse

from simcse import distributed as dist
from simcse.cli.common import ModelOptions, SearchTuning, add_model_flags, load_index_and_model, load_model
from simcse.indexing import IndexAddConfig, IndexBuildConfig, add_file, build_index
from simcse.settings import add_flags, from_args


def add_parser(sub) -> None:
    p = sub.add_parser("index", help="build or extend a search index folder", description=__doc__)
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")

    b = actions.add_parser("build", help="encode a text file (one sentence per line) into an index folder")
    add_model_flags(b)
    add_flags(b, IndexBuildConfig)
    b.set_defaults(func=run_build)

    a = actions.add_parser("add", help="encode more sentences into an existing index folder")
    add_model_flags(a, model_default="the index's")
    add_flags(a, IndexAddConfig)
    a.set_defaults(func=run_add)


def run_build(args: argparse.Namespace) -> int:
    cfg = from_args(IndexBuildConfig, args)
    dist.init_from_env()
    model = load_model(from_args(ModelOptions, args))
    count = build_index(model, cfg, show_progress=dist.rank() == 0)
    if dist.rank() == 0:
        print(f"wrote {count} sentences ({cfg.backend}, dim {model.dim}) to {cfg.out}")
    return 0


def run_add(args: argparse.Namespace) -> int:
    cfg = from_args(IndexAddConfig, args)
    dist.init_from_env()
    index, model = load_index_and_model(cfg.index, from_args(ModelOptions, args), SearchTuning())
    added = add_file(index, model, cfg, show_progress=dist.rank() == 0)
    if dist.rank() == 0:
        print(f"added {added} sentences to {cfg.index} (now {len(index)})")
    return 0


__all__ = ["add_parser", "run_add", "run_build"]
