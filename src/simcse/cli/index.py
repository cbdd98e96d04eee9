"""``simcse index build|add``: make an index folder from a text file, or add sentences to one."""

from __future__ import annotations

import argparse
from pathlib import Path

from simcse.cli.encode import add_model_args, load_model
from simcse.cli.search import load_index_and_model

# --flag -> backend parameter; only the flags given are passed (the backend rejects foreign ones).
BUILD_FLAGS = {"nlist": "nlist", "nprobe": "nprobe", "hnsw_m": "m", "ef_construction": "ef_construction",
               "ef_search": "ef_search", "pq_m": "pq_m", "pq_bits": "pq_bits"}


def add_parser(sub) -> None:
    from simcse.index import BACKENDS

    p = sub.add_parser("index", help="build or extend a search index folder", description=__doc__)
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")

    b = actions.add_parser("build", help="encode a text file (one sentence per line) into an index folder")
    add_model_args(b)
    b.add_argument("--input", required=True, help="UTF-8 text, one sentence per line (blank lines skipped)")
    b.add_argument("--out", required=True, help="index folder to write (replaced atomically)")
    b.add_argument("--backend", default="exact", choices=list(BACKENDS), help="search backend (default: exact)")
    b.add_argument("--nlist", type=int, default=None, help="IVF lists (default ~4*sqrt(N))")
    b.add_argument("--nprobe", type=int, default=None, help="IVF lists visited per query (default 16)")
    b.add_argument("--hnsw-m", type=int, default=None, help="HNSW links per node (default 32)")
    b.add_argument("--ef-construction", type=int, default=None, help="HNSW build candidate list (default 200)")
    b.add_argument("--ef-search", type=int, default=None, help="HNSW search candidate list (default 128)")
    b.add_argument("--pq-m", type=int, default=None, help="IVF-PQ sub-quantizers; must divide the dimension (default 16)")
    b.add_argument("--pq-bits", type=int, default=None, help="IVF-PQ bits per code (default 8)")
    b.add_argument("--chunk-size", type=int, default=10_000, help="lines per shard: the unit of resuming")
    b.add_argument("--batch-size", type=int, default=64, help="sentences per forward pass")
    b.set_defaults(func=run_build)

    a = actions.add_parser("add", help="encode more sentences into an existing index folder")
    add_model_args(a)
    a.set_defaults(model=None)
    a.add_argument("--index", required=True, help="index folder to extend (rewritten atomically)")
    a.add_argument("--input", required=True, help="UTF-8 text, one sentence per line (blank lines skipped)")
    a.add_argument("--batch-size", type=int, default=64, help="sentences per forward pass")
    a.set_defaults(func=run_add)


def run_build(args: argparse.Namespace) -> int:
    from simcse.index.build import BuildConfig, build_index

    params = {param: v for flag, param in BUILD_FLAGS.items() if (v := getattr(args, flag)) is not None}
    cfg = BuildConfig(input=Path(args.input), out=Path(args.out), backend=args.backend, params=params,
                      chunk_size=args.chunk_size, batch_size=args.batch_size)
    if not cfg.input.is_file():
        raise FileNotFoundError(f"{cfg.input}: no such file")
    try:
        index = build_index(load_model(args), cfg)
    except ImportError as err:  # a FAISS backend without faiss-cpu: show the install hint
        from simcse.cli import CLIError

        raise CLIError(str(err)) from None
    print(f"wrote {len(index)} sentences ({index.backend.name}, dim {index.dim}) to {cfg.out}")
    return 0


def run_add(args: argparse.Namespace) -> int:
    from simcse.index.build import add_file

    index, model = load_index_and_model(args)
    added = add_file(index, model, Path(args.input), batch_size=args.batch_size)
    index.save(args.index)
    print(f"added {added} sentences to {args.index} (now {len(index)})")
    return 0
