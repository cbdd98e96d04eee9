"""Chunking documents into passages: the pure planner on hand-made boundaries, tricky texts through
the real all-MiniLM-L6-v2 tokenizer, and properties over generated texts (coverage, spans,
token counts as the encoder sees them)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simcse.chunking import (SENTENCE, TOKEN, WORD, boundary_levels, check_chunking, chunk_texts, default_chunking,
                             plan_passages)
from simcse.errors import ConfigError


def levels(*marks: int) -> np.ndarray:
    """Boundary levels of len(marks) - 1 tokens (the first and last are the edges)."""
    return np.array(marks, dtype=np.int8)


def test_plan_packs_whole_sentences_then_cuts_at_words():
    #        tokens: 0  1  2  3  4  5  6  7  8  9
    lv = levels(2, 1, 1, 2, 1, 1, 1, 2, 0, 1, 2)
    assert plan_passages(lv, budget=8, overlap=0) == [(0, 7), (7, 10)]  # the last sentence end that fits
    assert plan_passages(lv, budget=5, overlap=0) == [(0, 3), (3, 7), (7, 10)]
    no_sentences = levels(2, 0, 1, 0, 0, 0, 1, 0, 0, 2)
    assert plan_passages(no_sentences, budget=5, overlap=0) == [(0, 2), (2, 6), (6, 9)]  # last word boundary
    one_long_word = levels(2, *[TOKEN] * 9, 2)
    assert plan_passages(one_long_word, budget=4, overlap=0) == [(0, 4), (4, 8), (8, 10)]  # any token


def test_plan_overlap_starts_at_a_word_and_always_advances():
    lv = levels(2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2)
    assert plan_passages(lv, budget=4, overlap=2) == [(0, 4), (2, 6), (4, 8), (6, 10)]
    words = levels(2, 0, 1, 0, 0, 1, 0, 0, 0, 0, 2)  # words start at tokens 2 and 5
    ranges = plan_passages(words, budget=6, overlap=3)
    assert ranges[0] == (0, 5) and ranges[1][0] == 2  # the first word start within 3 tokens of the cut
    for budget in range(1, 6):
        for overlap in range(budget):
            ranges = plan_passages(levels(2, *[0] * 20, 2), budget, overlap)
            assert all(b - a <= budget for a, b in ranges) and ranges[0][0] == 0 and ranges[-1][1] == 21
            assert all(a1 < a2 <= b1 < b2 and b1 - a2 <= overlap for (a1, b1), (a2, b2) in zip(ranges, ranges[1:]))
    sentences = levels(2, 1, 2, *[1] * 12, 2, 1, 1, 2)  # a short sentence, a long one: overlap must not stall
    assert plan_passages(sentences, budget=6, overlap=3) == [(0, 2), (1, 7), (4, 10), (7, 13), (10, 15), (12, 18)]
    assert plan_passages(levels(2), budget=3, overlap=0) == [(0, 0)]  # no tokens: one empty range
    with pytest.raises(ValueError, match="overlap < budget"):
        plan_passages(lv, budget=3, overlap=3)


def test_boundary_levels_read_the_gaps_between_tokens():
    text = 'He left." Then 3.5 more\nnext—one。二'
    offsets = np.array([[0, 2], [3, 7], [7, 8], [8, 9], [10, 14], [15, 18], [19, 23], [24, 28], [28, 29], [29, 32],
                        [32, 33], [33, 34]])
    got = boundary_levels(text, offsets)
    assert got.tolist() == [SENTENCE, WORD, TOKEN, TOKEN, SENTENCE, WORD, WORD, SENTENCE, TOKEN, TOKEN, TOKEN,
                            SENTENCE, SENTENCE]


def check_passages(text: str, spans, tokenizer, chunk_tokens: int) -> None:
    """Spans inside the text, trimmed, in order; every non-space character covered; each
    passage at most chunk_tokens tokens as the encoder tokenizes it (special tokens included)."""
    covered = np.zeros(len(text), bool)
    for start, end in spans:
        assert 0 <= start < end <= len(text)
        piece = text[start:end]
        assert piece == piece.strip()
        covered[start:end] = True
    assert [s for s, _ in spans] == sorted(s for s, _ in spans)
    assert all(covered[i] for i, c in enumerate(text) if not c.isspace()), text
    counts = [len(ids) for ids in tokenizer([text[s:e] for s, e in spans])["input_ids"]]
    assert all(c <= chunk_tokens for c in counts), (counts, chunk_tokens)


TRICKY = {
    "no sentence boundary": "word " * 150,
    "no space at all": "abcdefghij" * 40,
    "one very long real word": "antidisestablishmentarianism" * 3 + " then short words after it",
    "pieces of a long word": "electroencephalographically" * 3,
    "unicode": "Crème brûlée, naïve café — Zürich. Ελληνικά κείμενα εδώ. 日本語の文です。二つ目の文。 العربية نص",
    "combining marks": "e\u0301te\u0301 cafe\u0301 " * 12 + "\u0301 alone",
    "emoji": "I 😀 love 🇫🇷 flags 👩🏽‍💻 and zwj 👨‍👩‍👧 sequences. " * 6,
    "empty lines and whitespace stretches": "first line.\n\n\n\n" + " " * 300 + "\t\t\nafter the gap.\n\n  \n last",
    "zero-width only": "\u200b\u200b\u200b",
    "only combining marks": "\u0301\u0302",
}


@pytest.mark.parametrize("name", list(TRICKY))
@pytest.mark.parametrize("chunk_tokens, overlap", [(8, 0), (8, 3), (32, 8)])
def test_tricky_texts(minilm_tokenizer, name, chunk_tokens, overlap):
    text = TRICKY[name]
    (spans,) = chunk_texts([text], minilm_tokenizer, chunk_tokens, overlap)
    assert spans, "every document that is not all whitespace gets a passage"
    check_passages(text, spans, minilm_tokenizer, chunk_tokens)


def test_whole_short_document_is_one_passage_and_sentences_are_kept(minilm_tokenizer):
    text = "A dog runs. A cat sleeps on the mat. Two birds sing in the tree. The sun is up."
    assert chunk_texts([text], minilm_tokenizer, 64) == [[(0, len(text))]]
    spans = chunk_texts([text], minilm_tokenizer, 18)[0]  # 16 tokens of text: two sentences (4 + 7) fit, not three
    assert [text[s:e] for s, e in spans] == ["A dog runs. A cat sleeps on the mat.",
                                             "Two birds sing in the tree. The sun is up."]
    spans = chunk_texts([text], minilm_tokenizer, 8)[0]  # a sentence longer than a passage is cut between words
    assert [text[s:e] for s, e in spans] == ["A dog runs.", "A cat sleeps on the", "mat.", "Two birds sing in the",
                                             "tree.", "The sun is up."]


def test_settings_that_leave_no_room_are_refused(minilm_tokenizer):
    assert check_chunking(minilm_tokenizer, 10, 0) == 8  # [CLS] and [SEP]
    for tokens, overlap in [(2, 0), (10, 8), (10, -1)]:
        with pytest.raises(ConfigError, match="chunk_tokens"):
            chunk_texts(["text"], minilm_tokenizer, tokens, overlap)


PIECES = st.sampled_from(["the", "dog", "runs", ".", "!", "?", ",", "—", "électricité", "naïve", "e\u0301",
                          "😀", "👩🏽‍💻", "日本語", "。", "supercalifragilisticexpialidocious", "a" * 30, "\u200b",
                          "(x)", "\"quoted.\"", "3.14", "don't"])
SPACES = st.sampled_from([" ", " ", " ", "  ", "\n", "\n\n", "\t", " \n ", "", "   " * 10])
TEXTS = st.lists(st.tuples(PIECES, SPACES), min_size=1, max_size=80).map(
    lambda parts: "".join(p + s for p, s in parts)).filter(lambda t: t.strip())


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(texts=st.lists(TEXTS, min_size=1, max_size=3), chunk_tokens=st.integers(3, 40), data=st.data())
def test_properties_on_generated_texts(minilm_tokenizer, texts, chunk_tokens, data):
    overlap = data.draw(st.integers(0, chunk_tokens - 3))
    for text, spans in zip(texts, chunk_texts(texts, minilm_tokenizer, chunk_tokens, overlap)):
        check_passages(text, spans, minilm_tokenizer, chunk_tokens)


@pytest.mark.parametrize("max_length, tokens, overlap, expected", [
    (256, None, None, (64, 16)),  # the measured default: 64 tokens sharing a quarter
    (32, None, None, (32, 8)),    # never more than the model takes
    (512, 128, None, (128, 32)),  # the overlap follows a given size
    (512, None, 0, (64, 0)),      # a given overlap is kept, even 0
])
def test_default_chunking(max_length, tokens, overlap, expected):
    assert default_chunking(max_length, tokens, overlap) == expected
