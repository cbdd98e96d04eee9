"""Document corpora for the benches, built from the data dir's text (no labels needed).

``wiki_blocks``: wiki1m's lines (consecutive sentences of Wikipedia articles) in blocks of
consecutive lines: the retrieval set of ``bench/chunk_size.py``.
``scale_corpus``: pseudo-documents of consecutive lines of wiki1m, then of the multi30k
captions, each at least ``tokens_per_doc`` tokens long: ``bench/documents_scale.py`` and
``bench/serve_load.py --documents``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Iterator

WIKI = "training/wiki1m_prefix/wiki1m_for_simcse.first11914lines.txt"  # under the data dir
CAPTIONS = "training/multi30k/multi30k_task2_en_captions.txt"


def read_lines(path: Path) -> list[str]:
    """The file's non-blank lines, stripped, in order."""
    with open(path, encoding="utf-8") as fh:
        return [line.strip() for line in fh if line.strip()]


def title_of(line: str, chars: int = 60) -> str:
    return line if len(line) <= chars else line[: chars - 1].rstrip() + "…"


def _counted(lines: list[str], tokenizer, batch: int = 2048) -> Iterator[tuple[str, int]]:
    """``(line, tokens)``, tokenized a batch at a time (only as far as the caller reads)."""
    for start in range(0, len(lines), batch):
        part = lines[start : start + batch]
        yield from zip(part, (len(ids) for ids in tokenizer(part, add_special_tokens=False)["input_ids"]))


def scale_corpus(data_dir: Path, docs: int, tokens_per_doc: int, tokenizer) -> Iterator[dict]:
    """``docs`` documents ``{"id", "text", "title", "source"}``: consecutive lines of wiki1m,
    then of multi30k, joined by spaces until the document has ``tokens_per_doc`` tokens (the
    model's tokenizer, no special tokens); the sources are read again from the top if they
    run out (then a document's ``source`` says ``, pass 2``)."""
    sources = [("wiki1m", read_lines(data_dir / WIKI)), ("multi30k", read_lines(data_dir / CAPTIONS))]
    made, rounds = 0, 0
    while made < docs:
        rounds += 1
        for name, lines in sources:
            block, tokens = [], 0
            for line, n in _counted(lines, tokenizer):
                block.append(line)
                tokens += n
                if tokens >= tokens_per_doc:
                    source = name if rounds == 1 else f"{name}, pass {rounds}"
                    yield {"id": f"doc{made:06d}", "text": " ".join(block), "title": title_of(block[0]),
                           "source": source, "tokens": tokens}
                    made, block, tokens = made + 1, [], 0
                    if made == docs:
                        return


def write_jsonl(records: list[dict], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        fh.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
    return path


def folder_bytes(folder: Path) -> dict[str, int]:
    """Bytes per file of an index folder, and ``total``."""
    sizes = {p.name: p.stat().st_size for p in sorted(Path(folder).iterdir()) if p.is_file()}
    return {**sizes, "total": sum(sizes.values())}


def offline_env() -> dict[str, str]:
    return {**os.environ, "HF_HUB_OFFLINE": "1"}


__all__ = ["CAPTIONS", "WIKI", "folder_bytes", "offline_env", "read_lines", "scale_corpus", "title_of", "write_jsonl"]
