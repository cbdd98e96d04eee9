"""Index a 10,000-document corpus (~1M tokens) on this CPU: time, peak memory, index size.

The corpus (``bench/_documents.py: scale_corpus``): pseudo-documents of consecutive lines of
the data dir's ``training/wiki1m_prefix/wiki1m_for_simcse.first11914lines.txt`` (Wikipedia
sentences), then of ``training/multi30k/multi30k_task2_en_captions.txt`` (image captions),
each line joined to the next until the document holds ``--tokens-per-doc`` (100) tokens of
the model's tokenizer; metadata ``title`` (its first line, cut to 60 characters), ``source``
and ``tokens``. Written to ``<work>/docs.jsonl``, then indexed as a user would, by
``simcse index build --input docs.jsonl`` in a child process (the model's default chunking
unless ``--chunk-tokens``/``--chunk-overlap`` say otherwise, on the CPU).

Prints one JSON object: documents, tokens, passages, the build's wall time (model loading
included), its peak RSS (the child's ``ru_maxrss``), and the index folder's size per file.

    python bench/documents_scale.py                  # 10,000 documents, ~1M tokens
    python bench/documents_scale.py --docs 50        # a smoke run
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _documents import folder_bytes, offline_env, scale_corpus, write_jsonl  # noqa: E402

CLI = "import sys; from simcse.cli import main; sys.exit(main())"


def build(jsonl: Path, out: Path, model: str, extra: list[str]) -> tuple[float, float]:
    """``simcse index build`` in a child process: (wall seconds, the child's peak RSS in GB)."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", CLI, "index", "build", "--model", model, "--device", "cpu", "--input",
                    str(jsonl), "--out", str(out), *extra], check=True, env=offline_env())
    seconds = time.perf_counter() - start
    return seconds, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024**2  # Linux: KiB


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--docs", type=int, default=10_000)
    p.add_argument("--tokens-per-doc", type=int, default=100)
    p.add_argument("--model", default="sentence-transformers/all-MiniLM-L6-v2")
    p.add_argument("--data-dir", type=Path, default=None, help="default: SIMCSE_DATA_DIR")
    p.add_argument("--work", type=Path, default=Path("/tmp/simcse-bench/documents-scale"))
    p.add_argument("--chunk-tokens", type=int, default=None, help="default: the index build default")
    p.add_argument("--chunk-overlap", type=int, default=None)
    p.add_argument("--backend", default="exact")
    args = p.parse_args()

    from transformers import AutoTokenizer

    from simcse.data_dir import data_dir
    from simcse.model_registry import resolve_model

    tokenizer = AutoTokenizer.from_pretrained(str(resolve_model(args.model)))
    records = list(scale_corpus(data_dir(args.data_dir), args.docs, args.tokens_per_doc, tokenizer))
    jsonl = write_jsonl(records, args.work / "docs.jsonl")
    extra = ["--backend", args.backend]
    for flag, value in (("--chunk-tokens", args.chunk_tokens), ("--chunk-overlap", args.chunk_overlap)):
        extra += [flag, str(value)] if value is not None else []
    seconds, rss_gb = build(jsonl, args.work / "index", args.model, extra)
    manifest = json.loads((args.work / "index" / "manifest.json").read_text())
    sizes = folder_bytes(args.work / "index")
    print(json.dumps({
        "documents": len(records), "tokens": sum(r["tokens"] for r in records),
        "sources": sorted({r["source"] for r in records}), "passages": manifest["count"],
        "chunk_tokens": manifest["chunk_tokens"], "chunk_overlap": manifest["chunk_overlap"],
        "backend": args.backend, "build_s": round(seconds, 1), "peak_rss_gb": round(rss_gb, 2),
        "index_mb": round(sizes["total"] / 2**20, 1), "files_mb": {k: round(v / 2**20, 2) for k, v in sizes.items()
                                                                   if k != "total"},
        "command": f"simcse index build --model {args.model} --device cpu --input {jsonl} --out {args.work / 'index'} "
                   + " ".join(extra),
    }, indent=2))


if __name__ == "__main__":
    main()
