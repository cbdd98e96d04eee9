"""Save/load round trips, the sentence-transformers layout, and the three folder kinds we read."""

import dataclasses
import json
import shutil

import numpy as np
import pytest
import torch

from simcse import SimCSE, load_encoder, save_encoder
from simcse.backbone_io import TOKENIZER_FILES
from simcse.encoder import EncoderConfig
from simcse.errors import FormatError, MissingFileError
from simcse.pooling import POOLERS

from samples import SENTENCES

POLICIES = [(p, False) for p in POOLERS] + [("cls", True)]


def _cos(a, b):
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


def _trained_like(tiny_bert, pooler, mlp_only_train):
    """An encoder as training leaves it: the chosen pooler and a non-trivial head."""
    enc = load_encoder(tiny_bert, pooler=pooler, max_length=16, mlp_only_train=mlp_only_train)
    if enc.head is not None:
        torch.manual_seed(1)
        torch.nn.init.normal_(enc.head.linear.weight, std=0.3)
    return enc


@pytest.mark.parametrize("pooler,mlp_only_train", POLICIES)
def test_round_trip_gives_identical_embeddings(tmp_path, tiny_bert, pooler, mlp_only_train):
    enc = _trained_like(tiny_bert, pooler, mlp_only_train)
    before = SimCSE.from_encoder(enc).encode(SENTENCES)
    save_encoder(enc, tmp_path / "m")
    loaded = SimCSE(tmp_path / "m", device="cpu")
    assert loaded.encoder.config == enc.config
    np.testing.assert_array_equal(loaded.encode(SENTENCES), before)


@pytest.mark.parametrize("pooler,mlp_only_train", [("cls", False), ("cls", True), ("cls_before_pooler", False), ("avg", False)])
def test_layout_and_sentence_transformers_parity(tmp_path, tiny_bert, pooler, mlp_only_train):
    st = pytest.importorskip("sentence_transformers")
    enc = _trained_like(tiny_bert, pooler, mlp_only_train)
    save_encoder(enc, tmp_path / "m")
    root = tmp_path / "m"
    for name in ("config.json", "model.safetensors", "modules.json", "sentence_bert_config.json",
                 "1_Pooling/config.json", "config_sentence_transformers.json", "simcse_config.json"):
        assert (root / name).is_file(), name
    assert (root / "2_Dense" / "model.safetensors").is_file() == enc.config.head_at_inference
    assert not list(root.rglob("*.bin")) and not list(root.rglob("*.pt"))  # no pickles
    saved = json.loads((root / "simcse_config.json").read_text())
    assert saved["pooler"] == pooler and saved["mlp_only_train"] == mlp_only_train

    ours = SimCSE(root, device="cpu").encode(SENTENCES)
    theirs = st.SentenceTransformer(str(root), device="cpu").encode(SENTENCES)
    assert _cos(ours, theirs).min() >= 0.9999


@pytest.mark.parametrize("pooler", ["avg_top2", "avg_first_last"])
def test_layer_average_poolers_are_not_offered_to_sentence_transformers(tmp_path, tiny_bert, pooler):
    # sentence-transformers' Pooling sees only the last layer: writing modules.json would make it
    # silently compute other embeddings, so these folders load through simcse_config.json only.
    save_encoder(load_encoder(tiny_bert, pooler=pooler), tmp_path / "m")
    assert not (tmp_path / "m" / "modules.json").exists()
    assert SimCSE(tmp_path / "m", device="cpu").encoder.config.pooler == pooler


def test_princeton_checkpoint_poolers(tiny_bert):
    from transformers import AutoModel, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_bert)
    bert = AutoModel.from_pretrained(tiny_bert).eval()
    with torch.inference_mode():
        out = bert(**tok(SENTENCES, padding=True, return_tensors="pt"))
    sup = SimCSE(tiny_bert, device="cpu", pooler="cls").encode(SENTENCES)  # pooler_output
    unsup = SimCSE(tiny_bert, device="cpu", pooler="cls_before_pooler").encode(SENTENCES)  # raw [CLS]
    np.testing.assert_allclose(sup, out.pooler_output.numpy(), atol=1e-5)
    np.testing.assert_allclose(unsup, out.last_hidden_state[:, 0].numpy(), atol=1e-5)


def test_plain_checkpoint_requires_explicit_pooler(tiny_bert):
    with pytest.raises(ValueError, match="pooler must be chosen explicitly"):
        SimCSE(tiny_bert, device="cpu")


def test_cls_head_without_weights_is_refused(tmp_path):
    from samples import build_tiny_bert

    folder = build_tiny_bert(tmp_path / "nopool", with_pooler=False)
    with pytest.raises(ValueError, match="pooler weights"):
        SimCSE(folder, device="cpu", pooler="cls")


def test_caller_pooler_overrides_saved_config(tmp_path, tiny_bert):
    save_encoder(load_encoder(tiny_bert, pooler="avg"), tmp_path / "m")
    assert SimCSE(tmp_path / "m", device="cpu", pooler="cls_before_pooler").encoder.config.pooler == "cls_before_pooler"


def test_bad_saved_config_names_file(tmp_path, tiny_bert):
    save_encoder(load_encoder(tiny_bert, pooler="avg"), tmp_path / "m")
    cfg = tmp_path / "m" / "simcse_config.json"
    cfg.write_text(json.dumps({**dataclasses.asdict(EncoderConfig()), "format_version": 1, "colour": 3}))
    with pytest.raises(ValueError, match="simcse_config.json.*colour"):
        SimCSE(tmp_path / "m", device="cpu")


def test_failed_save_keeps_previous_model(tmp_path, tiny_bert, monkeypatch):
    enc = load_encoder(tiny_bert, pooler="avg")
    save_encoder(enc, tmp_path / "m")
    before = SimCSE(tmp_path / "m", device="cpu").encode(SENTENCES)

    def crash(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(enc.tokenizer, "save_pretrained", crash)
    with pytest.raises(OSError, match="disk full"):
        save_encoder(enc, tmp_path / "m")
    np.testing.assert_array_equal(SimCSE(tmp_path / "m", device="cpu").encode(SENTENCES), before)
    assert [p.name for p in tmp_path.iterdir()] == ["m"]  # no temporary leftovers


def test_missing_model_folder_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope"):
        SimCSE(tmp_path / "nope", device="cpu")


@pytest.mark.slow
def test_minilm_matches_sentence_transformers_on_stsb_dev(minilm_path, data_dir):
    st = pytest.importorskip("sentence_transformers")
    sents = []
    with open(data_dir / "downstream/STS/STSBenchmark/sts-dev.csv", encoding="utf-8") as fh:
        for line in fh:
            fields = line.rstrip("\n").split("\t")
            sents += [fields[5], fields[6]]
    assert len(sents) == 3000
    sents = sents[::5]  # 600 sentences of every length: parity is per sentence, a sample shows it
    ours = SimCSE("sentence-transformers/all-MiniLM-L6-v2", device="cpu")
    assert ours.encoder.config.pooler == "avg" and ours.encoder.config.normalize
    a = ours.encode(sents, batch_size=128)
    b = st.SentenceTransformer(str(minilm_path), device="cpu").encode(sents, batch_size=128)
    assert _cos(a, b).min() >= 0.9999


def _copy_without_tokenizer(src, dest):
    shutil.copytree(src, dest)
    for name in TOKENIZER_FILES:
        (dest / name).unlink(missing_ok=True)
    return dest


def test_folder_without_tokenizer_files_is_refused(tmp_path, tiny_bert):
    folder = _copy_without_tokenizer(tiny_bert, tmp_path / "m")  # tokenizer_config.json is left
    with pytest.raises(MissingFileError, match=r"m/tokenizer.json: missing, and no other tokenizer file"):
        SimCSE(folder, device="cpu", pooler="avg")


def test_tokenizer_of_another_model_is_refused(tmp_path, tiny_bert, minilm_path):
    shutil.copytree(tiny_bert, tmp_path / "m")
    shutil.copy(minilm_path / "tokenizer.json", tmp_path / "m" / "tokenizer.json")
    with pytest.raises(FormatError, match=r"tokenizer.json: the tokenizer has 30522 tokens but the model's word "
                                          r"embeddings have \d+ rows"):
        SimCSE(tmp_path / "m", device="cpu", pooler="avg")


def test_missing_pooler_weights_are_fine_unless_the_pooler_is_used(tmp_path):
    from samples import build_tiny_bert

    folder = build_tiny_bert(tmp_path / "nopool", with_pooler=False)
    assert SimCSE(folder, device="cpu", pooler="avg").encode(SENTENCES).shape == (len(SENTENCES), 32)
    with pytest.raises(FormatError, match="model.safetensors: pooler 'cls' needs pooler weights"):
        SimCSE(folder, device="cpu", pooler="cls")


@pytest.mark.slow
def test_minilm_without_tokenizer_files_is_refused_not_garbage(tmp_path, minilm_path):
    # Before: transformers fell back to a 5-token tokenizer, every word became [UNK], and two
    # unrelated sentences scored cosine ~1 with exit status 0.
    folder = _copy_without_tokenizer(minilm_path, tmp_path / "minilm")
    with pytest.raises(MissingFileError, match="no other tokenizer file"):
        SimCSE(folder, device="cpu")
    assert SimCSE(minilm_path, device="cpu").similarity("a man plays guitar", "the stock market fell")[0, 0] < 0.5


@pytest.mark.parametrize("loader", ["AutoConfig", "AutoModel", "AutoTokenizer"])
def test_only_what_a_damaged_file_raises_is_called_a_damaged_file(tiny_bert, monkeypatch, loader):
    """A bug inside loading keeps its traceback; a missing package is named as such, not as a bad file."""
    import transformers

    from simcse.errors import MissingDependencyError

    def raising(error):
        def from_pretrained(*args, **kwargs):
            raise error
        return from_pretrained

    monkeypatch.setattr(getattr(transformers, loader), "from_pretrained", raising(NameError("a bug, not a file")))
    with pytest.raises(NameError, match="a bug"):
        load_encoder(tiny_bert, pooler="avg")
    monkeypatch.setattr(getattr(transformers, loader), "from_pretrained",
                        raising(ImportError("this needs protobuf: pip install protobuf")))
    with pytest.raises(MissingDependencyError, match=r"needs a package that is not installed .*pip install protobuf"):
        load_encoder(tiny_bert, pooler="avg")
    monkeypatch.setattr(getattr(transformers, loader), "from_pretrained", raising(ValueError("unparsable")))
    with pytest.raises(FormatError, match=r"\(ValueError: unparsable\)") as err:
        load_encoder(tiny_bert, pooler="avg")
    assert str(err.value).startswith(str(tiny_bert))
