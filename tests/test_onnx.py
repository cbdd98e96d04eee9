"""The ONNX runtime equals the PyTorch one (the fast path proven against the simple path)."""

import numpy as np
import pytest

pytest.importorskip("onnxruntime", reason="pip install 'simcse[onnx]'")

from simcse import SimCSE, load_encoder, save_encoder  # noqa: E402
from simcse.runtime import onnx_file  # noqa: E402
from simcse.cli import main  # noqa: E402

from samples import SENTENCES  # noqa: E402


def _cos(a, b):
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.mark.parametrize("pooler,mlp_only_train", [("cls", False), ("cls", True), ("avg", False), ("avg_first_last", False)])
def test_onnx_matches_torch(tmp_path, tiny_bert, cache, pooler, mlp_only_train):
    save_encoder(load_encoder(tiny_bert, pooler=pooler, mlp_only_train=mlp_only_train), tmp_path / "m")
    ref = SimCSE(tmp_path / "m", device="cpu").encode(SENTENCES, batch_size=4)
    fast = SimCSE(tmp_path / "m", runtime="onnx")
    got = fast.encode(SENTENCES, batch_size=4)  # several lengths and batch sizes: dynamic axes
    assert got.shape == ref.shape and got.dtype == np.float32
    assert _cos(ref, got).min() >= 0.9999
    np.testing.assert_allclose(got, ref, atol=1e-4)
    assert len(list(cache.rglob("*.onnx"))) == 1  # exported once into the cache


def test_quantized_is_close(tmp_path, tiny_bert, cache):
    ref = SimCSE(tiny_bert, device="cpu", pooler="avg").encode(SENTENCES)
    q = SimCSE(tiny_bert, pooler="avg", runtime="onnx", quantize=True).encode(SENTENCES)
    assert _cos(ref, q).min() >= 0.99


def test_export_cli_writes_where_runtime_looks(tmp_path, tiny_bert, cache, capsys):
    save_encoder(load_encoder(tiny_bert, pooler="avg"), tmp_path / "m")
    assert main(["export", "onnx", "--model", str(tmp_path / "m")]) == 0
    assert "min cosine" in capsys.readouterr().out
    exported = tmp_path / "m" / "onnx" / "simcse-encoder.onnx"
    assert exported.is_file()
    model = SimCSE(tmp_path / "m", runtime="onnx")
    assert onnx_file(model.encoder, tmp_path / "m", quantize=False) == exported
    assert not cache.exists()  # nothing exported again
    assert main(["export", "onnx", "--model", str(tmp_path / "m"), "--quantize"]) == 0  # ModelOptions' flag
    assert (tmp_path / "m" / "onnx" / "simcse-encoder-int8.onnx").is_file()


def test_bad_runtime_and_quantize_without_onnx(tiny_bert):
    with pytest.raises(ValueError, match="valid runtimes: torch, onnx"):
        SimCSE(tiny_bert, device="cpu", pooler="avg", runtime="tensorrt")
    with pytest.raises(ValueError, match="quantize needs runtime 'onnx'"):
        SimCSE(tiny_bert, device="cpu", pooler="avg", quantize=True)
