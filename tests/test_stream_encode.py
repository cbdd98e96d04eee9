"""The one text-file encoder (:mod:`simcse.stream_encode`) behind ``simcse encode`` and ``simcse
index build``: equal to the in-memory path; for both commands the same rule for bad lines (found
before any encoding), the same resume record, the same sharding over processes, and no resuming
across a change of the model's weights."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from samples import SENTENCES, build_tiny_bert
from simcse import SimCSE
from simcse.cli import main
from simcse.errors import DataError, FormatError
from simcse.index import Index
from simcse.indexing import IndexBuildConfig, build_index
from simcse.stream_encode import EncodeConfig, ResumeRecord, encode_file, work_dir

LINES = [f"{s} {i % 7}" for i, s in enumerate(SENTENCES * 2)]  # 12 lines: chunks of 3 -> 4 shards


def run_encode(model, corpus, target, chunk_lines=3):
    cfg = EncodeConfig(input=corpus, output=target, chunk_lines=chunk_lines, normalize=True)
    return encode_file(model, cfg, show_progress=False)


def run_build(model, corpus, target, chunk_lines=3):
    return build_index(model, IndexBuildConfig(input=corpus, out=target, chunk_lines=chunk_lines), show_progress=False)


def vectors_of_index(target) -> np.ndarray:
    index = Index.load(target)
    assert index.store.ids.tolist() == list(range(len(index)))  # ids are 0-based line numbers
    return np.asarray(index.store.vectors())


# job -> (run, read the result as (N, H) unit vectors, work folder name, CLI words, target flag)
JOBS = {
    "encode": (run_encode, np.load, "encode", ["encode", "--normalize"], "--output"),
    "build": (run_build, vectors_of_index, "build", ["index", "build"], "--out"),
}


class FlakyModel:
    """A SimCSE whose encode raises KeyboardInterrupt on call ``fail_on`` (a crash mid-run)."""

    def __init__(self, model: SimCSE, fail_on: int | None = None) -> None:
        self.model, self.fail_on, self.calls = model, fail_on, []

    def __getattr__(self, name):  # model_name, dim, pooler, fingerprint, runtime, dtype...
        return getattr(self.model, name)

    def encode(self, texts, **kwargs):
        self.calls.append(list(texts))
        if len(self.calls) == self.fail_on:
            raise KeyboardInterrupt("simulated crash")
        return self.model.encode(texts, **kwargs)


@pytest.fixture(scope="module")
def model(tiny_bert):
    return SimCSE(tiny_bert, device="cpu", pooler="avg")


@pytest.fixture
def corpus(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text("\n".join(LINES) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("job", JOBS)
@pytest.mark.parametrize("content,message", [
    ("one\ntwo\n\nfour\n", "c.txt:3: blank line"),
    ("one\ntwo\nthree\nfour\nfive\n \n", "c.txt:6: blank line"),  # in the last chunk: still found first
    ("one\ntwo\nthree\nfo\x1bur\n", r"c.txt:4: control character U\+001B"),
])
def test_bad_lines_same_rule_found_before_encoding(model, tmp_path, job, content, message):
    run, _, work, _, _ = JOBS[job]
    path = tmp_path / "c.txt"
    path.write_text(content, encoding="utf-8")
    flaky = FlakyModel(model)
    with pytest.raises(DataError, match=message):
        run(flaky, path, tmp_path / "target", chunk_lines=2)
    assert flaky.calls == [] and not work_dir(tmp_path / "target", work).exists()


def test_bad_lines_same_message_from_both_commands(tiny_bert, tmp_path, capsys):
    path = tmp_path / "c.txt"
    path.write_bytes(b"one\n\xff\n")
    errors = []
    for _, _, _, words, flag in JOBS.values():
        argv = [*words, "--model", str(tiny_bert), "--pooler", "avg", "--input", str(path), flag, str(tmp_path / "t")]
        assert main(argv) == 2
        errors.append(capsys.readouterr().err.split(": error: ")[1])
    assert errors[0] == errors[1] and errors[0].startswith(f"{path}:2: not valid UTF-8")


@pytest.mark.parametrize("job", JOBS)
def test_interrupted_run_resumes(model, corpus, tmp_path, job):
    run, read, work, _, _ = JOBS[job]
    target = tmp_path / "target"
    with pytest.raises(KeyboardInterrupt):
        run(FlakyModel(model, fail_on=3), corpus, target)
    assert sorted(p.name for p in work_dir(target, work).glob("shard-*")) == ["shard-00000.npy", "shard-00001.npy"]
    assert not target.exists()
    resumed = FlakyModel(model)
    run(resumed, corpus, target)
    assert resumed.calls == [LINES[6:9], LINES[9:12]]  # only the chunks not done before
    np.testing.assert_allclose(read(target), model.encode(LINES, normalize=True), atol=1e-5)
    assert not work_dir(target, work).exists()


def test_both_commands_write_the_same_resume_record(model, corpus, tmp_path):
    records = []
    for name, (run, _, work, _, _) in JOBS.items():
        with pytest.raises(KeyboardInterrupt):
            run(FlakyModel(model, fail_on=2), corpus, tmp_path / name)
        records.append(json.loads((work_dir(tmp_path / name, work) / "record.json").read_text()))
    assert records[0] == records[1]
    cfg = EncodeConfig(input=corpus, output=tmp_path / "x", chunk_lines=3)
    assert ResumeRecord(**records[0]) == ResumeRecord.of(model, cfg, normalize=True)
    assert records[0]["fingerprint"] == model.fingerprint and records[0]["runtime"] == "torch"


@pytest.mark.parametrize("job", JOBS)
def test_resume_refuses_new_weights_in_the_same_folder(tiny_bert, corpus, tmp_path, job):
    """Issue 12 fault 6: the record named the model folder only, so after the weights in it
    changed, a rerun silently mixed vectors of two models. Same shapes, same file sizes: only
    the values differ, as after training into the same folder again."""
    run, _, work, _, _ = JOBS[job]
    folder = shutil.copytree(tiny_bert, tmp_path / "model")
    target = tmp_path / "target"
    with pytest.raises(KeyboardInterrupt):
        run(FlakyModel(SimCSE(folder, device="cpu", pooler="avg"), fail_on=2), corpus, target)
    build_tiny_bert(folder, seed=1)  # new weights, same architecture, same folder
    changed = FlakyModel(SimCSE(folder, device="cpu", pooler="avg"))
    with pytest.raises(FormatError, match=r"record.json: an interrupted run with a different fingerprint \(") as err:
        run(changed, corpus, target)
    assert "delete" in str(err.value) and str(work_dir(target, work)) in str(err.value) and "\n" not in str(err.value)
    assert changed.calls == [] and not target.exists()


@pytest.mark.parametrize("job", JOBS)
def test_two_processes_share_the_chunks(model, corpus, tmp_path, monkeypatch, job):
    """Under torchrun rank r encodes the chunks k % 2 == r; rank 0 then joins them. Run here as
    rank 1, then rank 0, in one process: together they give the one-process result."""
    import simcse.distributed as dist

    run, read, work, _, _ = JOBS[job]
    target = tmp_path / "target"
    monkeypatch.setattr(dist, "world_size", lambda: 2)
    monkeypatch.setattr(dist, "rank", lambda: 1)
    rank1 = FlakyModel(model)
    run(rank1, corpus, target)
    assert rank1.calls == [LINES[3:6], LINES[9:12]] and not target.exists()
    assert sorted(p.name for p in work_dir(target, work).glob("shard-*")) == ["shard-00001.npy", "shard-00003.npy"]
    monkeypatch.setattr(dist, "rank", lambda: 0)
    rank0 = FlakyModel(model)
    run(rank0, corpus, target)
    assert rank0.calls == [LINES[0:3], LINES[6:9]]
    np.testing.assert_allclose(read(target), model.encode(LINES, normalize=True), atol=1e-5)


# ---------------------------------------------------------------- encode alone


def test_streamed_equals_in_memory(model, corpus, tmp_path):
    out = tmp_path / "emb.npy"
    cfg = EncodeConfig(input=corpus, output=out, batch_size=4, chunk_lines=5)
    assert encode_file(model, cfg, show_progress=False) == (12, 32)
    np.testing.assert_allclose(np.load(out, mmap_mode="r"), model.encode(LINES), atol=1e-5)
    assert not work_dir(out, "encode").exists()


def test_resume_with_other_arguments_is_refused(model, corpus, tmp_path):
    out = tmp_path / "emb.npy"
    work = work_dir(out, "encode")
    ResumeRecord.of(model, EncodeConfig(input=corpus, output=out, chunk_lines=3), normalize=False).write(work)
    with pytest.raises(FormatError, match=r"different chunk_lines \(3 -> 5\); delete .*emb.npy.encode to start over"):
        encode_file(model, EncodeConfig(input=corpus, output=out, chunk_lines=5), show_progress=False)
    (work / "record.json").write_text(json.dumps(["not", "a", "record"]))
    with pytest.raises(FormatError, match="not a resume record"):
        encode_file(model, EncodeConfig(input=corpus, output=out, chunk_lines=5), show_progress=False)
    (work / "record.json").write_text(json.dumps({"chunk_lines": 5}))  # e.g. an older simcse's record
    with pytest.raises(FormatError, match="record.json: a resume record of format_version None, this simcse writes 1"):
        encode_file(model, EncodeConfig(input=corpus, output=out, chunk_lines=5), show_progress=False)


def test_resume_refuses_a_changed_input(model, corpus, tmp_path):
    out = tmp_path / "emb.npy"
    ResumeRecord.of(model, EncodeConfig(input=corpus, output=out), normalize=False).write(work_dir(out, "encode"))
    corpus.write_text("something else entirely\n", encoding="utf-8")
    with pytest.raises(FormatError, match="different input_bytes"):
        encode_file(model, EncodeConfig(input=corpus, output=out), show_progress=False)


def test_cli_streams(tiny_bert, corpus, tmp_path, capsys):
    out = tmp_path / "e.npy"
    assert main(["encode", "--model", str(tiny_bert), "--pooler", "avg", "--input", str(corpus),
                 "--output", str(out), "--chunk-lines", "7"]) == 0
    assert np.load(out).shape == (12, 32) and "wrote 12 x 32" in capsys.readouterr().out


def test_cli_bad_settings_are_one_line(tiny_bert, corpus, tmp_path, capsys):
    base = ["encode", "--model", str(tiny_bert), "--input", str(corpus), "--output", str(tmp_path / "e.npy")]
    assert main([*base, "--chunk-lines", "0"]) == 2
    assert "chunk_lines must be >= 1, got 0" in capsys.readouterr().err
    assert main([*base, "--pooler", "avg", "--quantize"]) == 2
    assert "quantize needs runtime 'onnx'" in capsys.readouterr().err


def test_a_shard_missing_at_the_join_is_a_format_error_naming_the_work_folder(tmp_path):
    from simcse.stream_encode import iter_shards, shard_path

    work = tmp_path / ".emb.npy.encode"
    work.mkdir()
    for k in (0, 1, 3):  # shard 2 was deleted while the run went on
        np.save(shard_path(work, k), np.zeros((3, 4), np.float32))
    with pytest.raises(FormatError, match=r"shard-00002.npy: missing after every process finished") as err:
        list(iter_shards(work, 12, 3, 4))
    assert f"delete {work} to start over" in str(err.value)
