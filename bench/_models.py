"""Models for the benches: the embedded all-MiniLM-L6-v2, or a BERT-shaped model with random
weights (speed does not depend on the weights, and none can be downloaded here)."""

from __future__ import annotations

from pathlib import Path

MINILM = "sentence-transformers/all-MiniLM-L6-v2"
# name -> BertConfig fields: BERT-base's shape, and a tiny one for smoke runs of the GPU benches on CPU
RANDOM_BERTS = {"random-bert-base": {},
                "random-bert-tiny": {"hidden_size": 128, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 512}}


def random_bert(name: str, work: Path, tokenizer: str | None = None) -> Path:
    """A ``RANDOM_BERTS`` shape with random weights (seed 0) and bert-base-uncased's vocabulary
    (MiniLM's tokenizer, or the tokenizer folder given), saved as a plain checkpoint."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    from simcse.model_registry import resolve_model

    folder = work / name
    if not (folder / "config.json").is_file():
        torch.manual_seed(0)
        BertModel(BertConfig(**RANDOM_BERTS[name]), add_pooling_layer=False).save_pretrained(folder)
        AutoTokenizer.from_pretrained(tokenizer or str(resolve_model(MINILM))).save_pretrained(folder)
    return folder


def model_folder(name: str, work: Path) -> Path:
    """A ``RANDOM_BERTS`` name or a model id / folder, as a local folder both libraries can load."""
    from simcse.model_registry import resolve_model

    return random_bert(name, work) if name in RANDOM_BERTS else Path(resolve_model(name))
