"""Models for the benches: the embedded all-MiniLM-L6-v2, or a BERT-base-shaped model with
random weights (speed does not depend on the weights, and none can be downloaded here)."""

from __future__ import annotations

from pathlib import Path

MINILM = "sentence-transformers/all-MiniLM-L6-v2"


def random_bert_base(work: Path) -> Path:
    """BERT-base shape, random weights (seed 0), bert-base-uncased's vocabulary (MiniLM's tokenizer)."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    from simcse.model_registry import resolve_model

    folder = work / "random-bert-base"
    if not (folder / "config.json").is_file():
        torch.manual_seed(0)
        BertModel(BertConfig(), add_pooling_layer=False).save_pretrained(folder)
        AutoTokenizer.from_pretrained(str(resolve_model(MINILM))).save_pretrained(folder)
    return folder


def model_folder(name: str, work: Path) -> Path:
    """``random-bert-base`` or a model id / folder, as a local folder both libraries can load."""
    from simcse.model_registry import resolve_model

    return random_bert_base(work) if name == "random-bert-base" else Path(resolve_model(name))
