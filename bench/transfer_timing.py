"""Time the transfer probes: encode every transfer sentence once (cached to an .npy/.json
pair), then run ``evaluate_transfer`` in the requested settings on the cached embeddings.

Usage: [TASKS=CR,MPQA] python bench/transfer_timing.py CACHE_PREFIX SETTING [SETTING...]
       (SETTING in fasttest, test; model: all-MiniLM-L6-v2; data: $SIMCSE_DATA_DIR;
       TASKS: comma-separated subset of the transfer tasks, default all)
"""

import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from simcse.evaluation import EmbeddingTable, evaluate_transfer
from simcse.evaluation.report import markdown_tables
from simcse.evaluation.transfer import TRANSFER_TASKS, transfer_sentences


def cached_table(prefix: str, data_dir: Path, tasks: list[str]) -> EmbeddingTable:
    sentences = list(dict.fromkeys(transfer_sentences(data_dir, tasks)))
    npy, names = Path(prefix + ".npy"), Path(prefix + ".json")
    if not npy.exists():
        from simcse import SimCSE

        model = SimCSE("sentence-transformers/all-MiniLM-L6-v2", device="cpu")
        start = time.perf_counter()
        emb = model.encode(sentences, batch_size=128)
        print(f"encoded {len(sentences)} unique sentences in {time.perf_counter() - start:.1f} s")
        np.save(npy, emb)
        names.write_text(json.dumps(sentences))
    emb, names_list = np.load(npy), json.loads(names.read_text())
    lookup = dict(zip(names_list, emb))
    return EmbeddingTable(lambda s: np.stack([lookup[x] for x in s]), sentences)


def main() -> None:
    prefix, settings = sys.argv[1], sys.argv[2:]
    data_dir = Path(os.environ["SIMCSE_DATA_DIR"])
    tasks = os.environ["TASKS"].split(",") if os.environ.get("TASKS") else list(TRANSFER_TASKS)
    table = cached_table(prefix, data_dir, tasks)
    for setting in settings:
        start = time.perf_counter()
        res = evaluate_transfer(table, data_dir, tasks, setting=setting)
        print(f"--- {setting}: probes {time.perf_counter() - start:.1f} s (encoding excluded)")
        print(markdown_tables({"all-MiniLM-L6-v2": res}, "test"))
        print(json.dumps(res))


if __name__ == "__main__":
    main()
