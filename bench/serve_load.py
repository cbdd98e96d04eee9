"""Loopback load test of ``simcse serve``: N /search requests at a fixed concurrency.

Builds (once, cached in --index) an index of the first --corpus-size lines of the corpus
with all-MiniLM-L6-v2, starts ``simcse serve`` in a subprocess on 127.0.0.1, then sends
--requests POST /search requests from --concurrency asyncio workers (httpx). Queries are
other lines of the same file. Prints requests/s, p50/p99 latency and the error count.

    python bench/serve_load.py --requests 2000 --concurrency 16

With ``--documents`` the index holds documents instead (built once into --index, default
``/tmp/simcse-bench/documents-<--docs>``, from the 10,000 pseudo-documents of
``bench/documents_scale.py``: consecutive wiki1m lines, then multi30k captions, ~100 tokens
each) and every request asks for ``group_by_document`` (documents, each with its best
passages); a good request must get --top-k documents:

    python bench/serve_load.py --documents --requests 1000 --concurrency 8

With ``--malformed-every 10`` every 10th request is a bad one, in turn each of
:data:`MALFORMED` (a lone surrogate, NaN, a string threshold, a body over the size limit, a
wrong API key, a foreign Host, a huge top_k, an empty text); the server runs with an API key.
It prints a table: good requests that got 200, bad ones that got a 4xx, anything else, and
the p50/p99 latency of the good ones (issue 12's acceptance check).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from itertools import islice
from pathlib import Path
from typing import Iterator, NamedTuple

import numpy as np

CORPUS = "training/multi30k/multi30k_task2_en_captions.txt"  # under the data dir (SIMCSE_DATA_DIR)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ensure_documents_index(data: Path, docs: int, folder: Path, model: str) -> None:
    """Build (once) an index of ``docs`` pseudo-documents (bench/_documents.py) into ``folder``."""
    if (folder / "manifest.json").is_file():
        return
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _documents import scale_corpus

    from simcse.api import SimCSE
    from simcse.document_indexing import build_document_index
    from simcse.documents import Document
    from simcse.indexing import IndexBuildConfig

    encoder = SimCSE(model, device="cpu")
    records = list(scale_corpus(data, docs, 100, encoder.tokenizer))
    documents = [Document(r["id"], r["text"], {k: v for k, v in r.items() if k not in ("id", "text")}) for r in records]
    folder.parent.mkdir(parents=True, exist_ok=True)
    listing = folder.parent / f"{folder.name}.docs.jsonl"  # IndexBuildConfig wants the input it came from
    listing.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    start = time.perf_counter()
    build_document_index(encoder, IndexBuildConfig(input=listing, out=folder, batch_size=128), documents)
    print(f"built {len(documents)} documents in {time.perf_counter() - start:.1f} s", file=sys.stderr)


def ensure_index(corpus: Path, size: int, folder: Path, model: str) -> None:
    if (folder / "manifest.json").is_file():
        return
    from simcse.api import SimCSE
    from simcse.indexing import IndexBuildConfig, build_index

    folder.parent.mkdir(parents=True, exist_ok=True)
    subset = folder.parent / f"{folder.name}.corpus.txt"
    with open(corpus, encoding="utf-8") as src, open(subset, "w", encoding="utf-8") as dst:
        dst.writelines(islice(src, size))
    start = time.perf_counter()
    count = build_index(SimCSE(model, device="cpu"), IndexBuildConfig(input=subset, out=folder, batch_size=128))
    print(f"built {count} sentences in {time.perf_counter() - start:.1f} s", file=sys.stderr)


KEY = "bench-key-0123"  # the server's API key in --malformed-every mode
JSON = {"Content-Type": "application/json"}


def malformed(body_limit: int) -> dict[str, tuple[bytes, dict[str, str]]]:
    """{kind: (body, extra headers)} of the bad /search requests (issue 12's kinds)."""
    fine = b'{"queries": ["a dog runs"]}'
    return {
        "lone surrogate": (b'{"queries": ["a dog \\ud800 runs"]}', {}),
        "NaN threshold": (b'{"queries": ["a dog runs"], "threshold": NaN}', {}),
        "string threshold": (b'{"queries": ["a dog runs"], "threshold": "0.5"}', {}),
        "oversize body": (b'{"queries": ["' + b"x" * body_limit + b'"]}', {}),
        "wrong key": (fine, {"X-API-Key": "wrong-key-0000"}),
        "foreign Host": (fine, {"Host": "attacker.example"}),
        "huge top_k": (b'{"queries": ["a dog runs"], "top_k": 1000000000}', {}),
        "empty text": (b'{"queries": ["   "]}', {}),
    }


MALFORMED = tuple(malformed(0))


class Record(NamedTuple):
    kind: str  # "good" or one of MALFORMED
    status: int  # 0: no HTTP answer
    ok: bool  # a good one: 200 with top_k hits; a bad one: any 4xx
    seconds: float


def found(data: dict) -> list:
    """A 200's results for its one query: documents with group_by_document, else hits."""
    return data["documents"][0] if data.get("documents") is not None else data["results"][0]


async def load(url: str, queries: list[str], n: int, concurrency: int, top_k: int, malformed_every: int = 0,
               body_limit: int = 0, extra: dict | None = None) -> list[Record]:
    """``n`` requests from ``concurrency`` workers; ``extra``: fields added to every good body."""
    import httpx

    records: list[Record] = []
    todo = iter(range(n))
    key = {"X-API-Key": KEY} if malformed_every else {}
    bad = malformed(body_limit)

    async def worker(client: httpx.AsyncClient) -> None:
        for i in todo:
            if malformed_every and i % malformed_every == malformed_every - 1:
                kind = MALFORMED[(i // malformed_every) % len(MALFORMED)]
                body, headers = bad[kind][0], {**JSON, **key, **bad[kind][1]}
            else:
                kind = "good"
                body = json.dumps({"queries": [queries[i % len(queries)]], "top_k": top_k, **(extra or {})}).encode()
                headers = {**JSON, **key}
            start = time.perf_counter()
            try:
                resp = await client.post(url + "/search", content=body, headers=headers)
                status = resp.status_code
                ok = (status == 200 and len(found(resp.json())) == top_k) if kind == "good" else 400 <= status < 500
            except httpx.HTTPError:
                status, ok = 0, False
            records.append(Record(kind, status, ok, time.perf_counter() - start))

    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
    return records


def table(records: list[Record]) -> str:
    """Markdown: per kind, how many got 200, a 4xx, anything else; p50/p99 of the good ones."""
    lines = ["| requests | count | 200 | 4xx | other | p50 ms | p99 ms |", "|---|---:|---:|---:|---:|---:|---:|"]
    groups = [("good", [r for r in records if r.kind == "good"])]
    groups += [(f"bad: {kind}", [r for r in records if r.kind == kind]) for kind in MALFORMED]
    groups.append(("bad, all kinds", [r for r in records if r.kind != "good"]))
    for name, rows in groups:
        if not rows:
            continue
        codes = [r.status for r in rows]
        n200, n4xx = codes.count(200), sum(400 <= c < 500 for c in codes)
        ms = np.array([r.seconds for r in rows]) * 1000
        p50, p99 = (f"{np.percentile(ms, 50):.1f}", f"{np.percentile(ms, 99):.1f}") if name == "good" else ("", "")
        shown = name if name == "good" else f"{name} ({', '.join(map(str, sorted(set(codes))))})"
        lines.append(f"| {shown} | {len(rows)} | {n200} | {n4xx} | {len(rows) - n200 - n4xx} | {p50} | {p99} |")
    return "\n".join(lines)


@contextlib.contextmanager
def serving(index: Path, with_key: bool) -> Iterator[str]:
    """``simcse serve --index`` in a subprocess on a free loopback port, once /health answers; yields its URL."""
    import httpx

    port = free_port()
    key_env = {"SIMCSE_API_KEY": KEY} if with_key else {}
    server = subprocess.Popen([sys.executable, "-c", "import sys; from simcse.cli import main; sys.exit(main())", "serve", "--index", str(index),
                               "--device", "cpu", "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
                              env={**os.environ, "HF_HUB_OFFLINE": "1", **key_env}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(url + "/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit(f"server did not start: {server.stderr.read().decode()[-2000:] if server.poll() is not None else 'timeout'}")
            time.sleep(0.5)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    from simcse.data_dir import data_dir
    from simcse.index import DEFAULT_TOP_K

    p.add_argument("--corpus", type=Path, default=data_dir() / CORPUS)
    p.add_argument("--corpus-size", type=int, default=10_000)
    p.add_argument("--index", type=Path, default=None, help="built there once (default: /tmp/simcse-bench/"
                   "multi30k-<corpus size>, or documents-<docs> with --documents)")
    p.add_argument("--model", default="sentence-transformers/all-MiniLM-L6-v2")
    p.add_argument("--requests", type=int, default=2000)
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--top-k", type=int, default=DEFAULT_TOP_K)
    p.add_argument("--malformed-every", type=int, default=0, help="make every Nth request a bad one (0 = none)")
    p.add_argument("--documents", action="store_true", help="an index of documents, searched with group_by_document")
    p.add_argument("--docs", type=int, default=10_000, help="with --documents: documents in the index")
    args = p.parse_args()

    extra = {"group_by_document": True} if args.documents else {}
    if args.documents:
        args.index = args.index or Path(f"/tmp/simcse-bench/documents-{args.docs}")
        ensure_documents_index(data_dir(), args.docs, args.index, args.model)
    else:
        size = f"{args.corpus_size // 1000}k" if args.corpus_size % 1000 == 0 else str(args.corpus_size)
        args.index = args.index or Path(f"/tmp/simcse-bench/multi30k-{size}")
        ensure_index(args.corpus, args.corpus_size, args.index, args.model)
    with open(args.corpus, encoding="utf-8") as fh:
        queries = [line.strip() for line in islice(fh, args.corpus_size, args.corpus_size + 500) if line.strip()]
    with serving(args.index, with_key=bool(args.malformed_every)) as url:
        import httpx

        body_limit = httpx.get(url + "/health").json()["limits"]["max_body_bytes"]
        asyncio.run(load(url, queries, 32, args.concurrency, args.top_k, args.malformed_every, body_limit,
                         extra))  # warm-up
        start = time.perf_counter()
        records = asyncio.run(load(url, queries, args.requests, args.concurrency, args.top_k, args.malformed_every,
                                   body_limit, extra))
        wall = time.perf_counter() - start
    if args.malformed_every:
        print(table(records))
    good = [r for r in records if r.kind == "good"]
    ms = np.array([r.seconds for r in good]) * 1000
    failed = [r for r in records if not r.ok]
    print(json.dumps({
        "requests": len(records), "concurrency": args.concurrency, "malformed_every": args.malformed_every,
        "failed": len(failed), "requests_per_s": round(len(records) / wall, 1),
        "p50_ms": round(float(np.percentile(ms, 50)), 1), "p99_ms": round(float(np.percentile(ms, 99)), 1),
        "wall_s": round(wall, 1), "index": str(args.index), "mode": "documents" if args.documents else "sentences",
        "index_size": args.docs if args.documents else args.corpus_size,
        "errors": sum(r.status != 200 for r in good), "first_failures": [r._asdict() for r in failed[:3]],
    }, indent=2))


if __name__ == "__main__":
    main()
