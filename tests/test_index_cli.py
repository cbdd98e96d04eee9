"""``simcse index build|add`` and ``simcse search`` end to end on the tiny model.

Resuming, sharding and bad lines are tested together with ``simcse encode`` in test_stream_encode.py."""

from __future__ import annotations

import json

import pytest

from samples import SENTENCES, build_tiny_bert
from simcse.api import SimCSE
from simcse.cli import main
from simcse.indexing import PARAM_FIELDS, IndexBuildConfig
from simcse.index.faiss_backend import KIND_PARAMS
from simcse.index.quantized import QUANTIZED_PARAMS
from simcse.stream_encode import work_dir

CORPUS = [*SENTENCES, "a red car drives in the street", "the child reads a book", "two dogs are running"]


@pytest.fixture()
def corpus(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text("\n".join(CORPUS) + "\n", encoding="utf-8")
    return path


def test_build_add_search(tiny_bert, corpus, tmp_path, capsys):
    out = tmp_path / "idx"
    args = ["--model", str(tiny_bert), "--pooler", "avg", "--device", "cpu"]
    assert main(["index", "build", *args, "--input", str(corpus), "--out", str(out), "--chunk-lines", "3"]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["count"] == len(CORPUS) and manifest["pooler"] == "avg" and manifest["dim"] == 32
    assert not work_dir(out, "build").exists()
    capsys.readouterr()
    # the model comes from the manifest; the query is an indexed sentence, so it scores 1
    # (the tiny model's vocabulary ties sentences of equal length, so look it up by id)
    assert main(["search", "--index", str(out), "--device", "cpu", "--top-k", "20", CORPUS[7]]) == 0
    rows = [line.split("\t") for line in capsys.readouterr().out.splitlines()]
    assert len(rows) == len(CORPUS) and float(rows[0][0]) == pytest.approx(1.0, abs=1e-4)
    assert [float(r[0]) for r in rows] == sorted((float(r[0]) for r in rows), reverse=True)
    by_id = {int(i): (float(s), t) for s, i, t in rows}
    assert by_id[7] == (pytest.approx(1.0, abs=1e-4), CORPUS[7])  # id = line number - 1
    more = tmp_path / "more.txt"
    more.write_text("the cat sits on a big house\n", encoding="utf-8")
    assert main(["index", "add", "--index", str(out), "--device", "cpu", "--input", str(more)]) == 0
    capsys.readouterr()
    assert main(["search", "--index", str(out), "--device", "cpu", "--top-k", "20", "the cat sits on a big house"]) == 0
    ids = [int(line.split("\t")[1]) for line in capsys.readouterr().out.splitlines()]
    assert len(ids) == len(CORPUS) + 1 and len(CORPUS) in ids  # the new sentence got the next id after the last line
    assert not work_dir(out, "add").exists()


def test_search_refuses_another_model(tiny_bert, corpus, tmp_path, capsys):
    out = tmp_path / "idx"
    main(["index", "build", "--model", str(tiny_bert), "--pooler", "avg", "--device", "cpu",
          "--input", str(corpus), "--out", str(out)])
    other = build_tiny_bert(tmp_path / "other", seed=1)
    capsys.readouterr()
    assert main(["search", "--index", str(out), "--model", str(other), "--pooler", "avg", "--device", "cpu", "cat"]) == 2
    err = capsys.readouterr().err
    assert "refusing to search it with model" in err and "different model" in err


def test_unknown_backend_flag_and_missing_input(tiny_bert, corpus, tmp_path, capsys):
    base = ["index", "build", "--model", str(tiny_bert), "--pooler", "avg", "--device", "cpu", "--out", str(tmp_path / "i")]
    assert main([*base, "--input", str(tmp_path / "nope.txt")]) == 2
    assert "nope.txt: no such file" in capsys.readouterr().err
    assert main([*base, "--input", str(corpus), "--nprobe", "4"]) == 2  # refused before any encoding
    assert "backend 'exact' takes no parameters; got --nprobe" in capsys.readouterr().err
    assert main([*base, "--input", str(corpus), "--backend", "hnsw", "--nlist", "8"]) == 2
    assert "backend 'hnsw' takes --hnsw-m, --ef-construction, --ef-search; got --nlist" in capsys.readouterr().err
    assert main([*base, "--input", str(corpus), "--backend", "int8", "--hamming-multiplier", "2"]) == 2
    assert "backend 'int8' takes --rescore-multiplier; got --hamming-multiplier" in capsys.readouterr().err


def test_every_faiss_parameter_has_a_flag(tmp_path, corpus):
    """A parameter added to a FAISS or quantized kind needs a field in IndexBuildConfig."""
    kinds = {**KIND_PARAMS, **QUANTIZED_PARAMS}
    assert set(PARAM_FIELDS.values()) == {p for params in kinds.values() for p in params}
    cfg = IndexBuildConfig(input=corpus, out=tmp_path / "i", backend="hnsw", hnsw_m=8, ef_search=64)
    assert cfg.params() == {"m": 8, "ef_search": 64}


def test_simcse_save_and_load_index(tiny_bert, tmp_path):
    model = SimCSE(tiny_bert, device="cpu", pooler="avg")
    model.build_index(SENTENCES)
    model.save_index(tmp_path / "idx")
    again = SimCSE(tiny_bert, device="cpu", pooler="avg")
    again.load_index(tmp_path / "idx")
    assert again.search(SENTENCES[1], top_k=2) == model.search(SENTENCES[1], top_k=2)
    with pytest.raises(ValueError, match="different pooler"):
        SimCSE(tiny_bert, device="cpu", pooler="cls").load_index(tmp_path / "idx")


def test_an_index_refuses_its_model_once_the_weights_changed(tiny_bert, corpus, tmp_path, capsys):
    import shutil

    from simcse.errors import ConfigError

    folder = shutil.copytree(tiny_bert, tmp_path / "m")
    out = tmp_path / "idx"
    assert main(["index", "build", "--model", str(folder), "--pooler", "avg", "--device", "cpu",
                 "--input", str(corpus), "--out", str(out)]) == 0
    fingerprint = json.loads((out / "manifest.json").read_text())["fingerprint"]
    assert fingerprint == SimCSE(folder, device="cpu", pooler="avg").weights_fingerprint
    build_tiny_bert(folder, seed=1)  # retrained and saved in place: same shapes, other values
    more = tmp_path / "more.txt"
    more.write_text("the cat sits on a big house\n", encoding="utf-8")
    capsys.readouterr()
    for argv in (["search", "--index", str(out), "--device", "cpu", "cat"],
                 ["index", "add", "--index", str(out), "--device", "cpu", "--input", str(more)]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1
        assert f"{out}: the weights of {folder.resolve()} changed since this index was built" in err
        assert err.rstrip().endswith("rebuild it")
    with pytest.raises(ConfigError, match="changed since this index was built"):
        SimCSE(folder, device="cpu", pooler="avg").load_index(out)
    manifest = json.loads((out / "manifest.json").read_text())
    del manifest["fingerprint"]  # a folder written before manifests recorded it: not checked
    (out / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    assert main(["search", "--index", str(out), "--device", "cpu", "cat"]) == 0


def test_a_rerun_after_a_crash_past_the_save_adds_nothing_twice(tiny_bert, corpus, tmp_path, capsys, monkeypatch):
    """``index add`` saved the index, then died before removing its work folder: the rerun
    finds every shard done, and must not add the lines again."""
    import types

    import numpy as np

    import simcse.indexing
    from simcse.index import Index

    out = tmp_path / "idx"
    assert main(["index", "build", "--model", str(tiny_bert), "--pooler", "avg", "--device", "cpu",
                 "--input", str(corpus), "--out", str(out)]) == 0
    more = tmp_path / "more.txt"
    more.write_text("the cat sits on a big house\ntwo people sit in the park\n", encoding="utf-8")
    add = ["index", "add", "--index", str(out), "--device", "cpu", "--input", str(more)]

    def crash_before_cleanup() -> None:  # the work folder stays as it was before the rmtree
        with monkeypatch.context() as patch:
            patch.setattr(simcse.indexing, "shutil", types.SimpleNamespace(rmtree=lambda *a, **k: None))
            assert main(add) == 0
        assert work_dir(out, "add").is_dir()

    crash_before_cleanup()
    saved = json.loads((out / "manifest.json").read_text())
    assert saved["count"] == len(CORPUS) + 2
    capsys.readouterr()
    assert main(add) == 0
    assert "added 0 sentences" in capsys.readouterr().out
    assert json.loads((out / "manifest.json").read_text()) == saved  # nothing added twice
    assert not work_dir(out, "add").exists()

    crash_before_cleanup()  # and once more, but the index changes before the rerun
    index = Index.load(out)
    index.add(["another line"], np.ones((1, index.dim), dtype=np.float32))
    index.save(out)
    capsys.readouterr()
    assert main(add) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "index-start.json" in err and "delete" in err, err
