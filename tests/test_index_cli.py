"""``simcse index build|add`` and ``simcse search`` end to end on the tiny model; resuming a build."""

from __future__ import annotations

import json

import numpy as np
import pytest

from samples import SENTENCES, build_tiny_bert
from simcse.api import SimCSE
from simcse.cli import main
from simcse.index import Index
from simcse.index.build import BuildConfig, build_index, work_dir

CORPUS = [*SENTENCES, "", "a red car drives in the street", "the child reads a book", "two dogs are running"]


@pytest.fixture()
def corpus(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text("\n".join(CORPUS) + "\n", encoding="utf-8")
    return path


def test_build_add_search(tiny_bert, corpus, tmp_path, capsys):
    out = tmp_path / "idx"
    args = ["--model", str(tiny_bert), "--pooler", "avg", "--device", "cpu"]
    assert main(["index", "build", *args, "--input", str(corpus), "--out", str(out), "--chunk-size", "3"]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["count"] == len(CORPUS) - 1 and manifest["pooler"] == "avg" and manifest["dim"] == 32
    assert not work_dir(out).exists()
    capsys.readouterr()
    # the model comes from the manifest; the query is an indexed sentence, so it scores 1
    # (the tiny model's vocabulary ties sentences of equal length, so look it up by id)
    assert main(["search", "--index", str(out), "--device", "cpu", "--top-k", "20", CORPUS[7]]) == 0
    rows = [line.split("\t") for line in capsys.readouterr().out.splitlines()]
    assert len(rows) == len(CORPUS) - 1 and float(rows[0][0]) == pytest.approx(1.0, abs=1e-4)
    assert [float(r[0]) for r in rows] == sorted((float(r[0]) for r in rows), reverse=True)
    by_id = {int(i): (float(s), t) for s, i, t in rows}
    assert by_id[7] == (pytest.approx(1.0, abs=1e-4), CORPUS[7])  # id = line number - 1
    more = tmp_path / "more.txt"
    more.write_text("the cat sits on a big house\n", encoding="utf-8")
    assert main(["index", "add", "--index", str(out), "--device", "cpu", "--input", str(more)]) == 0
    capsys.readouterr()
    assert main(["search", "--index", str(out), "--device", "cpu", "--top-k", "20", "the cat sits on a big house"]) == 0
    ids = [int(line.split("\t")[1]) for line in capsys.readouterr().out.splitlines()]
    assert len(ids) == len(CORPUS) and len(CORPUS) in ids  # the new sentence got the next id after the last line


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
    assert main([*base, "--input", str(corpus), "--nprobe", "4"]) == 2  # exact takes no parameters
    assert "takes no parameters" in capsys.readouterr().err


class FlakyModel:
    """Wraps a SimCSE; its encode fails on call number ``fail_on`` (a simulated crash)."""

    def __init__(self, model: SimCSE, fail_on: int | None) -> None:
        self.model, self.fail_on, self.calls = model, fail_on, []
        self.model_name, self.dim, self.encoder = model.model_name, model.dim, model.encoder

    def encode(self, texts, **kwargs):
        self.calls.append(list(texts))
        if len(self.calls) == self.fail_on:
            raise KeyboardInterrupt("simulated interruption")
        return self.model.encode(texts, **kwargs)


def test_interrupted_build_resumes(tiny_bert, corpus, tmp_path):
    model = SimCSE(tiny_bert, device="cpu", pooler="avg")
    cfg = BuildConfig(input=corpus, out=tmp_path / "idx", chunk_size=3)
    with pytest.raises(KeyboardInterrupt):
        build_index(FlakyModel(model, fail_on=3), cfg)
    progress = json.loads((work_dir(cfg.out) / "progress.json").read_text())
    assert progress["lines_done"] == 6 and progress["shards"] == 2 and not cfg.out.exists()

    resumed = FlakyModel(model, fail_on=None)
    index = build_index(resumed, cfg)
    assert resumed.calls == [CORPUS[7:9], CORPUS[9:]]  # only lines not done before (line 7 is blank)
    fresh = build_index(model, BuildConfig(input=corpus, out=tmp_path / "fresh", chunk_size=3))
    assert index.store.ids.tolist() == fresh.store.ids.tolist() == [0, 1, 2, 3, 4, 5, 7, 8, 9]
    np.testing.assert_allclose(Index.load(cfg.out).store.vectors(), fresh.store.vectors(), atol=1e-6)


def test_resume_refuses_a_different_input(tiny_bert, corpus, tmp_path):
    model = SimCSE(tiny_bert, device="cpu", pooler="avg")
    cfg = BuildConfig(input=corpus, out=tmp_path / "idx", chunk_size=3)
    with pytest.raises(KeyboardInterrupt):
        build_index(FlakyModel(model, fail_on=2), cfg)
    corpus.write_text("something else entirely\n", encoding="utf-8")
    with pytest.raises(ValueError, match="interrupted build with a different input_bytes"):
        build_index(model, cfg)


def test_simcse_save_and_load_index(tiny_bert, tmp_path):
    model = SimCSE(tiny_bert, device="cpu", pooler="avg")
    model.build_index(SENTENCES)
    model.save_index(tmp_path / "idx")
    again = SimCSE(tiny_bert, device="cpu", pooler="avg")
    again.load_index(tmp_path / "idx")
    assert again.search(SENTENCES[1], top_k=2, threshold=-1) == model.search(SENTENCES[1], top_k=2, threshold=-1)
    with pytest.raises(ValueError, match="different pooler"):
        SimCSE(tiny_bert, device="cpu", pooler="cls").load_index(tmp_path / "idx")
