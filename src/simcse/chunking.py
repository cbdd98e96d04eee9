"""Passages of a document, cut with the model's own tokenizer.

:func:`chunk_texts` splits each document into passages of at most ``chunk_tokens`` tokens
as the encoder will see them (its special tokens included), consecutive passages sharing up
to ``chunk_overlap`` tokens. A passage ends at the last end of a sentence that fits (``.``,
``!``, ``?``, ``…`` before a space, a line break, or ``。！？``), else at the last boundary
between two words, else between any two tokens (a word longer than a passage): sentences are
packed whole while they fit, and only a sentence longer than a passage is cut inside.

A passage is a character span ``[start, end)`` of its document, without whitespace at
either end. Together the passages cover every character that is not whitespace, including
those the tokenizer drops (a combining mark after a stripped accent, a zero-width space),
which stay with the passage before them.

The pure core, :func:`plan_passages`, sees token positions only. :func:`chunk_texts` adds
the tokenizer: offsets in, spans out, and every passage tokenized again as the encoder will
see it; one that came out longer (a word cut in two tokenizes differently) is cut again.
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

import numpy as np

from simcse.errors import ConfigError

# Passage size and overlap when the caller does not say: 64 tokens (or the model's max length
# if smaller) sharing a quarter of them, the best Recall@10 and MRR@10 of bench/chunk_size.py
# (the table in the README's "Documents (RAG)" section).
DEFAULT_CHUNK_TOKENS = 64
DEFAULT_OVERLAP_FRACTION = 0.25
# How good a cut before a token is: the edges of the document and sentence ends are best.
TOKEN, WORD, SENTENCE = 0, 1, 2
_ENDS = frozenset(".!?…")  # end a sentence when whitespace follows
_CJK_ENDS = frozenset("。！？")  # end a sentence on their own
_CLOSERS = "\"'”’)]}»"  # may follow the end of a sentence: `He left." Then`


class Span(NamedTuple):
    """A passage: characters ``[start, end)`` of its document."""

    start: int
    end: int


def boundary_levels(text: str, offsets: np.ndarray) -> np.ndarray:
    """How good a cut before each token is: (n + 1,) int8 of ``TOKEN``/``WORD``/``SENTENCE``
    for n tokens with character ``offsets`` (n, 2); positions 0 and n are the document's edges."""
    n = len(offsets)
    levels = np.full(n + 1, TOKEN, dtype=np.int8)
    levels[0] = levels[n] = SENTENCE
    for t in range(1, n):
        end, start = int(offsets[t - 1, 1]), int(offsets[t, 0])
        gap = text[end:start]
        before = text[max(0, end - 4) : end].rstrip(_CLOSERS)[-1:]
        spaced = any(c.isspace() for c in gap)
        if "\n" in gap or (spaced and before in _ENDS) or before in _CJK_ENDS:
            levels[t] = SENTENCE
        elif spaced:
            levels[t] = WORD
    return levels


def _last(levels: np.ndarray, lo: int, hi: int, level: int) -> int | None:
    """The largest position in ``[lo, hi]`` whose level is at least ``level``."""
    hits = np.flatnonzero(levels[lo : hi + 1] >= level) if lo <= hi else ()
    return lo + int(hits[-1]) if len(hits) else None


def _first(levels: np.ndarray, lo: int, hi: int, level: int) -> int | None:
    """The smallest position in ``[lo, hi)`` whose level is at least ``level``."""
    hits = np.flatnonzero(levels[lo:hi] >= level) if lo < hi else ()
    return lo + int(hits[0]) if len(hits) else None


def plan_passages(levels: np.ndarray, budget: int, overlap: int) -> list[tuple[int, int]]:
    """Token ranges ``[a, b)`` of at most ``budget`` tokens covering all n tokens in order,
    each starting at most ``overlap`` tokens before the previous one ends.

    levels: (n + 1,) from :func:`boundary_levels`. A range ends at the last sentence end
    within ``budget`` tokens, else at the last word boundary, else after ``budget`` tokens,
    but always after the previous range's end; the next starts at the first word boundary
    within ``overlap`` tokens of that end.
    Pure: the same levels give the same ranges. No tokens give one empty range ``(0, 0)``.
    """
    if budget < 1 or not 0 <= overlap < budget:
        raise ValueError(f"need budget >= 1 and 0 <= overlap < budget, got {budget}, {overlap}")
    n, a, done, ranges = len(levels) - 1, 0, 0, []
    while a + budget < n:
        e, new = a + budget, done + 1  # every range takes in tokens no range before it had
        b = _last(levels, new, e, SENTENCE) or _last(levels, new, e, WORD) or e
        ranges.append((a, b))
        lo, done = max(a + 1, b - overlap), b
        a = b if overlap == 0 else (_first(levels, lo, b, WORD) or lo)
    ranges.append((a, n))
    return ranges


def _trim(text: str, start: int, end: int) -> Span:
    """``[start, end)`` without the whitespace at either end."""
    piece = text[start:end]
    if not piece.strip():
        return Span(start, start)
    return Span(start + len(piece) - len(piece.lstrip()), end - len(piece) + len(piece.rstrip()))


class _Doc(NamedTuple):
    """One document as the tokenizer saw it."""

    text: str
    starts: np.ndarray  # (n,) first character of each token, non-decreasing
    levels: np.ndarray  # (n + 1,) boundary_levels

    def span(self, a: int, b: int) -> Span:
        """Tokens ``[a, b)`` as characters: up to the next token (or the end), trimmed."""
        n = len(self.starts)
        start = 0 if a == 0 else int(self.starts[a])
        return _trim(self.text, start, len(self.text) if b >= n else int(self.starts[b]))


def _count(tokenizer, texts: list[str]) -> list[int]:
    """Tokens per text with the special tokens the encoder adds, untruncated."""
    return [len(ids) for ids in tokenizer(texts, verbose=False)["input_ids"]] if texts else []


def default_chunking(max_length: int, chunk_tokens: int | None, chunk_overlap: int | None) -> tuple[int, int]:
    """``(chunk_tokens, chunk_overlap)`` with the defaults filled in for a model of ``max_length``."""
    tokens = min(DEFAULT_CHUNK_TOKENS, max_length) if chunk_tokens is None else chunk_tokens
    overlap = int(tokens * DEFAULT_OVERLAP_FRACTION) if chunk_overlap is None else chunk_overlap
    return tokens, overlap


def check_chunking(tokenizer, chunk_tokens: int, chunk_overlap: int) -> int:
    """The token budget of a passage's text (``chunk_tokens`` less the special tokens);
    :class:`ConfigError` when the settings leave no room or overlap a whole passage."""
    budget = chunk_tokens - tokenizer.num_special_tokens_to_add(pair=False)
    if budget < 1 or not 0 <= chunk_overlap < budget:
        raise ConfigError(f"chunk_tokens {chunk_tokens} leaves {budget} tokens of text after the model's special "
                          f"tokens; it must leave at least 1, and chunk_overlap ({chunk_overlap}) must be "
                          f">= 0 and less than that")
    return budget


def chunk_texts(texts: Sequence[str], tokenizer, chunk_tokens: int, chunk_overlap: int = 0
                ) -> list[list[Span]]:
    """Passages of each text, in order (module docstring); every text gets at least one
    passage unless it is all whitespace.

    tokenizer: a Hugging Face fast tokenizer (it must give ``offset_mapping``), the encoder's.
    Each passage's text, tokenized with the special tokens, has at most ``chunk_tokens`` tokens
    (a single character that alone tokenizes longer is the one exception).
    """
    budget = check_chunking(tokenizer, chunk_tokens, chunk_overlap)
    enc = tokenizer(list(texts), add_special_tokens=False, return_offsets_mapping=True, verbose=False)
    docs, plans = [], []
    for text, offsets in zip(texts, enc["offset_mapping"]):
        offsets = np.asarray(offsets, dtype=np.int64).reshape(-1, 2)
        starts = np.maximum.accumulate(offsets[:, 0]) if len(offsets) else offsets[:, 0]
        doc = _Doc(text, starts, boundary_levels(text, offsets))
        docs.append(doc)
        plans.append([(a, b, doc.span(a, b)) for a, b in plan_passages(doc.levels, budget, chunk_overlap)])
    flat = [(i, a, b, span) for i, plan in enumerate(plans) for a, b, span in plan if span.end > span.start]
    counts = _count(tokenizer, [docs[i].text[s.start : s.end] for i, _, _, s in flat])
    out: list[list[Span]] = [[] for _ in texts]
    for (i, a, b, span), count in zip(flat, counts):
        fits = count <= chunk_tokens
        out[i].extend([span] if fits else _refit(docs[i], a, b, span, tokenizer, chunk_tokens, chunk_overlap, count))
    return out


def _refit(doc: _Doc, a: int, b: int, span: Span, tokenizer, chunk_tokens: int, overlap: int, count: int
           ) -> list[Span]:
    """Cut again a passage (tokens ``[a, b)``) whose own tokenization has ``count`` >
    ``chunk_tokens`` tokens: into smaller token ranges, or a single token into halves."""
    if count <= chunk_tokens or span.end - span.start <= 1:
        return [span] if span.end > span.start else []
    if b - a >= 2:
        budget = max(1, b - a - (count - chunk_tokens))
        parts = [(a + x, a + y) for x, y in plan_passages(doc.levels[a : b + 1], budget, min(overlap, budget - 1))]
        spans = [doc.span(x, y) for x, y in parts]
    else:
        mid = (span.start + span.end) // 2
        parts, spans = [(a, b), (a, b)], [_trim(doc.text, span.start, mid), _trim(doc.text, mid, span.end)]
    counts = _count(tokenizer, [doc.text[s.start : s.end] for s in spans])
    return [piece for (x, y), s, c in zip(parts, spans, counts)
            for piece in _refit(doc, x, y, s, tokenizer, chunk_tokens, overlap, c)]


__all__ = ["DEFAULT_CHUNK_TOKENS", "DEFAULT_OVERLAP_FRACTION", "SENTENCE", "TOKEN", "WORD", "Span", "boundary_levels", "check_chunking",
           "chunk_texts", "plan_passages"]
