"""Test doubles for documents: a fake model that shows a tokenizer, random corpora, and search
by brute force (every passage encoded, grouped in plain Python) to compare the index with."""

from __future__ import annotations

import numpy as np

from samples import WORDS
from serve_helpers import FakeEmbedder
from simcse.documents import Document


class TokenizingFake(FakeEmbedder):
    """:class:`FakeEmbedder` (vectors hashed from each text, dim 16) that cuts documents with a
    real tokenizer, as :class:`simcse.embedder.TokenizingEmbedder` asks."""

    dim = 16

    def __init__(self, tokenizer, max_length: int = 64) -> None:
        super().__init__()
        self.tokenizer, self.max_length = tokenizer, max_length


def random_documents(rng: np.random.Generator, n: int, prefix: str = "d") -> list[Document]:
    """``n`` documents of 3-60 random words in sentences, with metadata ``group`` (a/b/c) and
    ``lang`` (mostly en, one in ten xx: a selective filter)."""
    docs = []
    for i in range(n):
        words = [str(w) for w in rng.choice(WORDS, int(rng.integers(3, 61)))]
        for k in range(5, len(words), 7):
            words[k] += " ."
        metadata = {"group": str(rng.choice(["a", "b", "c"])), "lang": "xx" if rng.random() < 0.1 else "en",
                    "title": f"Document {i}"}
        docs.append(Document(f"{prefix}{i}", " ".join(words), metadata))
    return docs


def brute_force(model, documents, spans, query: np.ndarray, top_k: int, aggregate: str, top_m: int,
                threshold: float | None, where: dict | None) -> list[tuple[str, float, list[tuple]]]:
    """The answer of search_documents by definition: ``[(doc id, score, [(position, start, end, score)])]``."""
    out = []
    for doc, doc_spans in zip(documents, spans):
        if where and any(doc.metadata.get(k) != v for k, v in where.items()):
            continue
        vectors = model.encode([doc.text[s:e] for s, e in doc_spans])
        vectors = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
        scores = [float(v) for v in vectors.astype(np.float64) @ query.astype(np.float64)]
        passages = [(p, s, e, score) for p, ((s, e), score) in enumerate(zip(doc_spans, scores))
                    if threshold is None or score >= threshold]
        best = sorted(passages, key=lambda t: (-t[3], t[0]))[:top_m]
        if best:
            score = best[0][3] if aggregate == "max" else sum(t[3] for t in best)
            out.append((doc.id, score, best))
    return sorted(out, key=lambda t: -t[1])[:top_k]  # stable: ties keep document order
