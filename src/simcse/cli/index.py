"""``simcse index build|add|upsert|delete``: make an index folder, or change one.

``build`` takes a file of sentences (checked whole, encoded in resumable shards shared out
under ``torchrun``; ids are the 0-based line numbers) or documents (a ``.jsonl`` file or a
folder of ``.txt``/``.md`` files, cut into passages by the model's tokenizer). ``add`` appends
sentences; ``upsert`` adds or replaces documents, ``delete`` removes them by id. Every
change rewrites the folder atomically.
"""

from __future__ import annotations

import argparse

from simcse import distributed as dist
from simcse.cli.common import ModelOptions, SearchTuning, add_model_flags, load_index_and_model, load_model
from simcse.document_indexing import (
    IndexDeleteConfig, IndexUpsertConfig, build_document_index, delete_from_folder, require_document_folder,
    upsert_file,
)
from simcse.documents import read_documents
from simcse.indexing import IndexAddConfig, IndexBuildConfig, add_file, build_index
from simcse.settings import add_flags, from_args


def add_parser(sub) -> None:
    p = sub.add_parser("index", help="build or change a search index folder", description=__doc__)
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")

    b = actions.add_parser("build", help="encode sentences (one per line) or documents (.jsonl, a folder) "
                           "into an index folder")
    add_model_flags(b)
    add_flags(b, IndexBuildConfig)
    b.set_defaults(func=run_build)

    a = actions.add_parser("add", help="encode more sentences into an existing index folder")
    add_model_flags(a, model_default="the index's")
    add_flags(a, IndexAddConfig)
    a.set_defaults(func=run_add)

    u = actions.add_parser("upsert", help="add documents to an index of documents, replacing those with the same id")
    add_model_flags(u, model_default="the index's")
    add_flags(u, IndexUpsertConfig)
    u.set_defaults(func=run_upsert)

    d = actions.add_parser("delete", help="remove documents from an index of documents by id")
    add_flags(d, IndexDeleteConfig)
    d.set_defaults(func=run_delete)


def run_build(args: argparse.Namespace) -> int:
    cfg = from_args(IndexBuildConfig, args)
    dist.init_from_env()
    documents = read_documents(cfg.input) if cfg.documents else None  # checked whole before a model is loaded
    model = load_model(from_args(ModelOptions, args))
    if documents is not None:
        index = build_document_index(model, cfg, documents)
        docs = index.require_documents()
        print(f"wrote {len(docs)} documents as {len(index)} passages of at most {docs.chunk_tokens} tokens "
              f"(overlap {docs.chunk_overlap}; {cfg.backend}, dim {model.dim}) to {cfg.out}")
        return 0
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


def run_upsert(args: argparse.Namespace) -> int:
    cfg = from_args(IndexUpsertConfig, args)
    require_document_folder(cfg.index)
    documents = read_documents(cfg.input)  # checked whole before a model is loaded
    index, model = load_index_and_model(cfg.index, from_args(ModelOptions, args), SearchTuning())
    counts = upsert_file(index, model, cfg, documents)
    print(f"upserted {counts.documents} documents ({counts.replaced} replaced, {counts.removed} old passages "
          f"removed, {counts.passages} added) in {cfg.index} (now {len(index.require_documents())} documents)")
    return 0


def run_delete(args: argparse.Namespace) -> int:
    cfg = from_args(IndexDeleteConfig, args)
    removed, index = delete_from_folder(cfg)
    print(f"deleted {len(set(cfg.id))} documents ({removed} passages) from {cfg.index} "
          f"(now {len(index.require_documents())} documents)")
    return 0


__all__ = ["add_parser", "run_add", "run_build", "run_delete", "run_upsert"]
