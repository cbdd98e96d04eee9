"""Transfer probes on separable toy data; SentEval-format readers on tmp_path fixtures."""

from __future__ import annotations

import numpy as np
import pytest
from eval_fixtures import CountingEncode, write_transfer

from simcse.evaluation import DataFormatError, evaluate_transfer, probe
from simcse.evaluation.transfer import mrpc_features
from simcse.evaluation.transfer_data import read_binary, read_mrpc, read_sst2, read_trec


@pytest.fixture
def one_c(monkeypatch):
    """A one-value C grid: the schemes' logic is unchanged, the tests fit 6x fewer models."""
    monkeypatch.setattr(probe, "GRID_INNER", (1.0,))
    monkeypatch.setattr(probe, "GRID_KFOLD", (1.0,))


def _blobs(n_per_class: int, n_classes: int = 2, seed: int = 0):
    rng = np.random.default_rng(seed)
    centers = 10.0 * np.eye(n_classes, 8)
    X = np.concatenate([c + rng.standard_normal((n_per_class, 8)) for c in centers])
    return X, np.repeat(np.arange(n_classes), n_per_class)


def test_inner_kfold_on_separable_data():
    X, y = _blobs(9)
    r = probe.inner_kfold(X, y, k=3, grid=(0.5, 2.0))
    assert r.acc == 100.0 and r.devacc == 100.0


def test_kfold_and_split_on_separable_multiclass_data():
    X, y = _blobs(12, n_classes=3)
    Xt, yt = _blobs(5, n_classes=3, seed=1)
    r = probe.kfold(X, y, Xt, yt, k=3, grid=(1.0, 4.0))
    assert r.acc == 100.0 and list(r.predictions) == list(yt)
    s = probe.split(X, y, Xt, yt, Xt, yt, grid=(1.0, 4.0))
    assert s.acc == 100.0 and s.devacc == 100.0


def test_best_c_is_first_of_equal_rounded_scores():
    assert probe._best_c([90.001, 90.004, 89.0], (1.0, 2.0, 4.0)) == (1.0, 90.0)


def test_mrpc_features_are_senteval_abs_diff_and_product():
    u, v = np.array([[1.0, -2.0]]), np.array([[3.0, 4.0]])
    np.testing.assert_allclose(mrpc_features(u, v), [[2.0, 6.0, 3.0, -8.0]])


def test_readers_parse_and_sort_like_senteval(tmp_path):
    write_transfer(tmp_path, n=6)
    mr = read_binary(tmp_path, "MR")
    assert len(mr.sentences) == 12 and sorted(mr.labels) == [0] * 6 + [1] * 6
    # SentEval's order: by (number of words, label), stable
    (tmp_path / "downstream/CR/custrev.pos").write_text("one two three\ncaf\xe9\n\n", encoding="latin-1")
    (tmp_path / "downstream/CR/custrev.neg").write_text("x y\n", encoding="latin-1")
    cr = read_binary(tmp_path, "CR")
    assert cr.sentences == ("", "café", "x y", "one two three")
    assert cr.labels == (1, 1, 0, 1)
    trec = read_trec(tmp_path, "train")
    assert set(trec.labels) == set(range(6)) and trec.sentences[0].startswith("what")
    mrpc = read_mrpc(tmp_path, "test")  # header (with BOM) skipped
    assert len(mrpc.labels) == 12 and set(mrpc.labels) == {0, 1}
    sst = read_sst2(tmp_path, "dev")
    assert len(sst.sentences) == 12 and not any(s.endswith(" ") for s in sst.sentences)


def test_trec_malformed_line_names_file_and_line(tmp_path):
    write_transfer(tmp_path, n=2)
    with open(tmp_path / "downstream/TREC/TREC_10.label", "a", encoding="latin-1") as f:
        f.write("COLOR:x what ?\n")
    with pytest.raises(DataFormatError, match=r"TREC_10.label:13: expected 'COARSE:fine question'"):
        read_trec(tmp_path, "test")


def test_evaluate_transfer_end_to_end_on_toy_data(tmp_path, one_c):
    write_transfer(tmp_path, n=10)
    encode = CountingEncode()
    res = evaluate_transfer(encode, tmp_path, ["MR", "SST2", "TREC", "MRPC"], setting="fasttest")
    assert len(encode.calls) == 1 and len(encode.calls[0]) == len(set(encode.calls[0]))
    for key in ("mr_acc", "sst2_acc", "trec_acc", "mrpc_acc", "mrpc_f1"):
        assert res[key] == 100.0, key
    assert res["avg_transfer"] == 100.0 and "mr_devacc" in res


def test_unknown_setting_and_missing_folder(tmp_path):
    with pytest.raises(ValueError, match="valid: test, fasttest"):
        evaluate_transfer(CountingEncode(), tmp_path, ["MR"], setting="slow")
    with pytest.raises(FileNotFoundError, match="downstream/MPQA"):
        evaluate_transfer(CountingEncode(), tmp_path, ["MPQA"])
