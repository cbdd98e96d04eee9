"""Shared test data: a word list, a few sentences, and a tiny randomly initialised BERT."""

from __future__ import annotations

import json
from pathlib import Path

import torch

WORDS = (
    "a the man woman child dog cat is are plays playing guitar piano music runs running "
    "eats eating food onion slices cuts a an on in park street house car drives red blue "
    "big small happy sad people two three sits sitting reads book market stock fell rose"
).split()


def build_tiny_bert(folder: Path, seed: int = 0, with_pooler: bool = True) -> Path:
    """Save a plain Hugging Face BERT checkpoint (2 layers, width 32) and tokenizer to ``folder``."""
    from transformers import BertConfig, BertModel, BertTokenizerFast

    folder.mkdir(parents=True, exist_ok=True)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *dict.fromkeys(WORDS), ".", ","]
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    (folder / "tokenizer_config.json").write_text(json.dumps(
        {"tokenizer_class": "BertTokenizer", "do_lower_case": True, "model_max_length": 64}), encoding="utf-8")
    tok = BertTokenizerFast.from_pretrained(folder)  # reads vocab.txt: same call on transformers 4 and 5
    assert tok.convert_tokens_to_ids("guitar") != tok.unk_token_id
    torch.manual_seed(seed)
    cfg = BertConfig(
        vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
        intermediate_size=64, max_position_embeddings=64,
    )
    BertModel(cfg, add_pooling_layer=with_pooler).save_pretrained(folder, safe_serialization=True)
    tok.save_pretrained(folder)
    return folder


SENTENCES = [
    "a man is playing guitar .",
    "the dog runs in the park",
    "two people sit",
    "a woman slices an onion , happy",
    "cat",
    "the stock market fell",
]
