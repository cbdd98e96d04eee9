"""Streaming `simcse encode`: equal to the in-memory path, resumable, shardable over processes."""

import numpy as np
import pytest

from simcse import SimCSE
from simcse.cli import main
from simcse.stream_encode import encode_file, work_dir
from simcse.textfile import DataError

from samples import SENTENCES

LINES = [f"{s} {i % 7}" for i, s in enumerate(SENTENCES * 4)]  # 24 lines, varied lengths


@pytest.fixture(scope="module")
def model(tiny_bert):
    return SimCSE(tiny_bert, device="cpu", pooler="avg")


@pytest.fixture
def corpus(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text("\n".join(LINES) + "\n", encoding="utf-8")
    return path


def test_streamed_equals_in_memory(model, corpus, tmp_path):
    out = tmp_path / "emb.npy"
    assert encode_file(model, corpus, out, batch_size=4, chunk_lines=5, show_progress=False) == (24, 32)
    np.testing.assert_allclose(np.load(out, mmap_mode="r"), model.encode(LINES), atol=1e-5)
    assert not work_dir(out).exists()


def test_resume_skips_finished_shards(model, corpus, tmp_path, monkeypatch):
    out = tmp_path / "emb.npy"
    calls = []
    real = model.encode

    def flaky(texts, **kw):
        calls.append(len(texts))
        if len(calls) == 3:
            raise KeyboardInterrupt  # the run dies while encoding the third chunk
        return real(texts, **kw)

    monkeypatch.setattr(model, "encode", flaky)
    with pytest.raises(KeyboardInterrupt):
        encode_file(model, corpus, out, chunk_lines=5, show_progress=False)
    assert sorted(p.name for p in work_dir(out).glob("shard-*.npy")) == ["shard-00000.npy", "shard-00001.npy"]
    assert not out.exists()
    calls.clear()
    monkeypatch.setattr(model, "encode", lambda texts, **kw: (calls.append(len(texts)), real(texts, **kw))[1])
    encode_file(model, corpus, out, chunk_lines=5, show_progress=False)
    assert calls == [5, 5, 4]  # only chunks 3, 4, 5 were encoded again
    np.testing.assert_allclose(np.load(out), real(LINES), atol=1e-5)


def test_resume_with_other_arguments_is_refused(model, corpus, tmp_path):
    out = tmp_path / "emb.npy"
    work_dir(out).mkdir()
    (work_dir(out) / "manifest.json").write_text('{"chunk_lines": 3}')
    with pytest.raises(ValueError, match="different .*chunk_lines"):
        encode_file(model, corpus, out, chunk_lines=5, show_progress=False)


def test_blank_line_names_line(model, tmp_path):
    path = tmp_path / "c.txt"
    path.write_text("one\ntwo\n\nfour\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"c.txt:3: empty sentence"):
        encode_file(model, path, tmp_path / "e.npy", chunk_lines=2, show_progress=False)


def test_two_processes_share_the_chunks(model, corpus, tmp_path, monkeypatch):
    """Rank r encodes chunks k % 2 == r; together they give the single-process result."""
    import simcse.stream_encode as se

    out = tmp_path / "emb.npy"
    for r in (1, 0):  # rank 1 first: rank 0 then finds the other half done and concatenates
        monkeypatch.setattr(se.dist, "rank", lambda r=r: r)
        monkeypatch.setattr(se.dist, "world_size", lambda: 2)
        if r == 1:
            se._check_or_write_manifest(work_dir(out), {
                "input": str(corpus.resolve()), "bytes": corpus.stat().st_size, "mtime_ns": corpus.stat().st_mtime_ns,
                "model": model.model_name, "dim": model.dim, "normalize": False, "chunk_lines": 5})
            monkeypatch.setattr(se, "_concatenate", lambda *a: None)
        else:
            monkeypatch.undo()
            monkeypatch.setattr(se.dist, "rank", lambda: 0)
            monkeypatch.setattr(se.dist, "world_size", lambda: 2)
        encode_file(model, corpus, out, chunk_lines=5, show_progress=False)
        if r == 1:
            assert sorted(p.name for p in work_dir(out).glob("shard-*")) == ["shard-00001.npy", "shard-00003.npy"]
    np.testing.assert_allclose(np.load(out), model.encode(LINES), atol=1e-5)


def test_cli_streams(tiny_bert, corpus, tmp_path, capsys):
    out = tmp_path / "e.npy"
    assert main(["encode", "--model", str(tiny_bert), "--pooler", "avg", "--input", str(corpus),
                 "--output", str(out), "--chunk-lines", "7"]) == 0
    assert np.load(out).shape == (24, 32) and "wrote 24 x 32" in capsys.readouterr().out
