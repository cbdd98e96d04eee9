"""``simcse search``: query an index folder; the model is read from its manifest unless given."""

from __future__ import annotations

import argparse
from pathlib import Path

from simcse.cli.encode import add_model_args

# --flag -> backend parameter, for flags that tune search on an approximate backend.
SEARCH_FLAGS = {"nprobe": "nprobe", "ef_search": "ef_search"}


def add_search_param_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--nprobe", type=int, default=None, help="IVF lists visited per query (ivf_flat, ivf_pq)")
    p.add_argument("--ef-search", type=int, default=None, help="HNSW candidate list size per query (hnsw)")


def search_params(args: argparse.Namespace) -> dict[str, int]:
    return {param: v for flag, param in SEARCH_FLAGS.items() if (v := getattr(args, flag, None)) is not None}


def load_index_and_model(args: argparse.Namespace):
    """The index at ``args.index`` and its model (``--model`` or the manifest's), checked to match."""
    from simcse.api import SimCSE
    from simcse.index import Index, Manifest

    folder = Path(args.index)
    manifest = Manifest.read(folder)
    model = SimCSE(args.model or manifest.model, device=args.device, pooler=args.pooler or manifest.pooler,
                   max_length=args.max_length, backend=args.runtime, quantize=args.quantize, dtype=args.dtype)
    index = Index.load(folder, model=model.model_name, dim=model.dim, pooler=model.encoder.config.pooler,
                       **search_params(args))
    return index, model


def add_parser(sub) -> None:
    p = sub.add_parser("search", help="find the indexed sentences most similar to a query", description=__doc__)
    add_model_args(p)
    p.set_defaults(model=None)
    p.add_argument("--index", required=True, help="index folder made by `simcse index build`")
    p.add_argument("queries", nargs="+", metavar="QUERY", help="one or more query sentences")
    p.add_argument("--top-k", type=int, default=5, help="results per query")
    p.add_argument("--threshold", type=float, default=-1.0, help="drop results with a lower cosine")
    add_search_param_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if any(not q.strip() for q in args.queries):
        raise ValueError("empty query")
    index, model = load_index_and_model(args)
    hits = index.search(model.encode(args.queries, normalize=True), top_k=args.top_k, threshold=args.threshold)
    for query, row in zip(args.queries, hits):
        if len(args.queries) > 1:
            print(f"# {query}")
        for hit in row:
            print(f"{hit.score:.4f}\t{hit.id}\t{hit.text}")
    return 0
