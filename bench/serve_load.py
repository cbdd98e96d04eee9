"""Loopback load test of ``simcse serve``: N /search requests at a fixed concurrency.

Builds (once, cached in --index) an index of the first --corpus-size lines of the corpus
with all-MiniLM-L6-v2, starts ``simcse serve`` in a subprocess on 127.0.0.1, then sends
--requests POST /search requests from --concurrency asyncio workers (httpx). Queries are
other lines of the same file. Prints requests/s, p50/p99 latency and the error count.

    python bench/serve_load.py --requests 2000 --concurrency 16
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from itertools import islice
from pathlib import Path

import numpy as np

CORPUS = "training/multi30k/multi30k_task2_en_captions.txt"  # under the data dir (SIMCSE_DATA_DIR)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ensure_index(corpus: Path, size: int, folder: Path, model: str) -> None:
    if (folder / "manifest.json").is_file():
        return
    from simcse.api import SimCSE
    from simcse.index.build import BuildConfig, build_index

    folder.parent.mkdir(parents=True, exist_ok=True)
    subset = folder.parent / f"{folder.name}.corpus.txt"
    with open(corpus, encoding="utf-8") as src, open(subset, "w", encoding="utf-8") as dst:
        dst.writelines(islice(src, size))
    start = time.perf_counter()
    index = build_index(SimCSE(model, device="cpu"), BuildConfig(input=subset, out=folder, batch_size=128))
    print(f"built {len(index)} sentences in {time.perf_counter() - start:.1f} s", file=sys.stderr)


async def load(url: str, queries: list[str], n: int, concurrency: int, top_k: int) -> tuple[list[float], list[str]]:
    import httpx

    latencies, errors = [], []
    todo = iter(range(n))

    async def worker(client: httpx.AsyncClient) -> None:
        for i in todo:
            body = {"queries": [queries[i % len(queries)]], "top_k": top_k}
            start = time.perf_counter()
            try:
                resp = await client.post(url + "/search", json=body)
                if resp.status_code != 200 or len(resp.json()["results"][0]) != top_k:
                    errors.append(f"{resp.status_code}: {resp.text[:200]}")
            except httpx.HTTPError as err:
                errors.append(repr(err))
            latencies.append(time.perf_counter() - start)

    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
    return latencies, errors


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    from simcse.data_dir import data_dir

    p.add_argument("--corpus", type=Path, default=data_dir() / CORPUS)
    p.add_argument("--corpus-size", type=int, default=10_000)
    p.add_argument("--index", type=Path, default=Path("/tmp/simcse-bench/multi30k-10k"))
    p.add_argument("--model", default="sentence-transformers/all-MiniLM-L6-v2")
    p.add_argument("--requests", type=int, default=2000)
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--top-k", type=int, default=5)
    args = p.parse_args()

    ensure_index(args.corpus, args.corpus_size, args.index, args.model)
    with open(args.corpus, encoding="utf-8") as fh:
        queries = [line.strip() for line in islice(fh, args.corpus_size, args.corpus_size + 500) if line.strip()]
    port = free_port()
    server = subprocess.Popen([sys.executable, "-c", "import sys; from simcse.cli import main; sys.exit(main())", "serve", "--index", str(args.index),
                               "--device", "cpu", "--host", "127.0.0.1", "--port", str(port)],
                              env={**os.environ, "HF_HUB_OFFLINE": "1"}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        import httpx

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
        asyncio.run(load(url, queries, 32, args.concurrency, args.top_k))  # warm-up, not counted
        start = time.perf_counter()
        latencies, errors = asyncio.run(load(url, queries, args.requests, args.concurrency, args.top_k))
        wall = time.perf_counter() - start
    finally:
        server.terminate()
        server.wait(timeout=30)
    ms = np.array(latencies) * 1000
    print(json.dumps({
        "requests": len(latencies), "concurrency": args.concurrency, "errors": len(errors),
        "requests_per_s": round(len(latencies) / wall, 1), "p50_ms": round(float(np.percentile(ms, 50)), 1),
        "p99_ms": round(float(np.percentile(ms, 99)), 1), "wall_s": round(wall, 1), "index_size": args.corpus_size,
        "first_errors": errors[:3],
    }, indent=2))


if __name__ == "__main__":
    main()
