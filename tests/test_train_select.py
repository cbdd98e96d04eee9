"""Model selection: the starting model is a candidate, the chosen metric decides, a collapse is
reported, and ``keep_last`` keeps the last step."""

from __future__ import annotations

import json
import math

import torch
from safetensors.torch import load_file

from simcse.cli import main
from simcse.train import loop
from train_helpers import write_corpus


def _scripted(monkeypatch, values):
    """Replace the evaluators with a script of scores for evaluations 0, 1, 2, ..."""
    calls = iter(values)

    def build_evaluate(cfg, encoder, root, train_file):
        return lambda: {"stsb_spearman": 50.0, "mine/ndcg@10": next(calls)}

    monkeypatch.setattr(loop, "build_evaluate", build_evaluate)


def _run(tiny_bert, tmp_path, *extra):
    corpus = write_corpus(tmp_path / "c.txt", lines=24)
    out = tmp_path / "run"
    rc = main(["train", "--model", str(tiny_bert), "--pooler", "avg", "--train-file", str(corpus),
               "--output-dir", str(out), "--batch-size", "8", "--max-length", "12", "--learning-rate", "1e-2",
               "--eval-steps", "1", "--metric-for-best-model", "mine/ndcg@10", "--no-progress", *extra])
    assert rc == 0
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return out, records


def _same_backbone(folder, reference):
    got, want = load_file(str(folder / "model.safetensors")), load_file(str(reference / "model.safetensors"))
    return all(torch.equal(got[k], want[k]) for k in want if k in got) and got.keys() & want.keys()


def test_every_step_worse_than_the_start_keeps_the_start_and_says_so(tiny_bert, tmp_path, monkeypatch, capsys):
    _scripted(monkeypatch, [0.9, 0.5, 0.4, 0.3])
    out, records = _run(tiny_bert, tmp_path)
    said = capsys.readouterr().out
    assert "no step of 3 beat the starting model, so the starting model is kept" in said
    assert records[-1]["best_step"] == 0 and records[-1]["best_score"] == 0.9
    assert _same_backbone(out / "model", tiny_bert)  # the saved model is the starting one
    collapse = [r for r in records if r["event"] == "collapse"]
    assert len(collapse) == 1 and collapse[0]["step"] == 1 and "mine/ndcg@10 fell to 0.5" in collapse[0]["message"]


def test_the_selected_metric_decides(tiny_bert, tmp_path, monkeypatch, capsys):
    _scripted(monkeypatch, [0.2, 0.6, 0.7, 0.65])
    out, records = _run(tiny_bert, tmp_path)
    assert records[-1]["best_step"] == 2 and "-> best 0.7 at step 2 of 3" in capsys.readouterr().out
    assert not _same_backbone(out / "model", tiny_bert)
    assert not [r for r in records if r["event"] == "collapse"]  # 0.65 is within 10% of 0.7


def test_keep_last_keeps_the_last_step(tiny_bert, tmp_path, monkeypatch, capsys):
    _scripted(monkeypatch, [0.9, 0.5, 0.4, 0.3])
    out, records = _run(tiny_bert, tmp_path, "--keep-last")
    assert "kept the last step (3) as asked" in capsys.readouterr().out
    assert records[-1]["kept_last"] and not _same_backbone(out / "model", tiny_bert)


def test_an_unknown_metric_is_refused_with_the_valid_ones(tiny_bert, tmp_path, monkeypatch, capsys):
    _scripted(monkeypatch, [0.1] * 4)
    corpus = write_corpus(tmp_path / "c.txt", lines=24)
    rc = main(["train", "--model", str(tiny_bert), "--pooler", "avg", "--train-file", str(corpus),
               "--output-dir", str(tmp_path / "run"), "--batch-size", "8", "--eval-steps", "1",
               "--metric-for-best-model", "ndcg@10", "--no-progress"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "'ndcg@10' is not among the evaluation results; valid: mine/ndcg@10, stsb_spearman" in err


def test_nan_score_is_never_best(monkeypatch):
    import simcse.train.select as sel

    saved, records = [], []
    monkeypatch.setattr(sel, "save_encoder", lambda encoder, out: saved.append(encoder))
    scores = iter([float("nan"), 0.4])
    select = sel.Selector(lambda: {"m": next(scores)}, "m", "enc", "out", records.append, writes=True)
    progress = sel.Progress()
    select(progress)
    assert progress.best_score is None and not saved and math.isnan(records[0]["m"])
    progress.step = 1
    select(progress)
    assert (progress.best_score, progress.best_step, saved) == (0.4, 1, ["enc"])


def _toy_beir(root):
    import json as _json

    (root / "qrels").mkdir(parents=True)
    docs = ["a man plays guitar", "the dog runs in the park", "a woman slices an onion", "two people sit"]
    (root / "corpus.jsonl").write_text("".join(_json.dumps({"_id": f"d{i}", "text": t}) + "\n"
                                               for i, t in enumerate(docs)), encoding="utf-8")
    (root / "queries.jsonl").write_text('{"_id": "q0", "text": "the man is playing music"}\n'
                                        '{"_id": "q1", "text": "a dog is running"}\n', encoding="utf-8")
    (root / "qrels" / "dev.tsv").write_text("query-id\tcorpus-id\tscore\nq0\td0\t1\nq1\td1\t1\n", encoding="utf-8")
    return root


def test_user_evaluators_select_and_log_with_health(tiny_bert, tmp_path, capsys):
    """--eval-retrieval and --eval-pairs run at every evaluation (the start included), every
    number goes to metrics.jsonl with the label-free health of the training sentences, and
    the chosen metric selects."""
    corpus = write_corpus(tmp_path / "c.txt", lines=24)
    beir = _toy_beir(tmp_path / "beir")
    pairs = tmp_path / "pairs.tsv"
    pairs.write_text("sentence1\tsentence2\tscore\n" + "".join(
        f"{a}\t{b}\t{s}\n" for a, b, s in [("a man", "the man", 5), ("a dog", "a cat", 2), ("red car", "book", 0),
                                            ("people sit", "two people sit", 4)]), encoding="utf-8")
    out = tmp_path / "run"
    rc = main(["train", "--model", str(tiny_bert), "--pooler", "avg", "--train-file", str(corpus), "--output-dir", str(out),
               "--batch-size", "8", "--max-length", "12", "--eval-steps", "2", "--no-eval-stsb",
               "--eval-retrieval", f"toy={beir}", "--eval-split", "dev", "--eval-pairs", str(pairs),
               "--metric-for-best-model", "toy/ndcg@10", "--no-progress"])
    assert rc == 0, capsys.readouterr().err
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    evals = [r for r in records if r["event"] == "eval"]
    assert [r["step"] for r in evals] == [0, 2, 3]
    keys = {"toy/ndcg@10", "toy/mrr@10", "toy/recall@100", "pairs/spearman", "train/align", "train/uniform",
            "train/anisotropy"}
    assert all(keys <= r.keys() and "stsb_spearman" not in r for r in evals)
    best = max(evals, key=lambda r: r["toy/ndcg@10"])  # the first of equal bests
    assert records[-1]["best_step"] == best["step"] and records[-1]["metric"] == "toy/ndcg@10"


def test_a_bad_evaluation_file_stops_before_training(tiny_bert, tmp_path, capsys):
    corpus = write_corpus(tmp_path / "c.txt", lines=24)
    beir = _toy_beir(tmp_path / "beir")
    (beir / "qrels" / "dev.tsv").write_text("query-id\tcorpus-id\tscore\nq0\tnope\t1\n", encoding="utf-8")
    rc = main(["train", "--model", str(tiny_bert), "--pooler", "avg", "--train-file", str(corpus),
               "--output-dir", str(tmp_path / "run"), "--eval-retrieval", str(beir), "--eval-split", "dev",
               "--no-eval-stsb", "--no-progress"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "dev.tsv:2:" in err[0] and "nope" in err[0]
    assert not (tmp_path / "run" / "metrics.jsonl").exists()


def test_no_finite_score_keeps_the_last_step_and_says_so(tiny_bert, tmp_path, monkeypatch, capsys):
    _scripted(monkeypatch, [float("nan")] * 4)
    out, records = _run(tiny_bert, tmp_path)
    assert "no evaluation gave a finite score; kept the last step (3)" in capsys.readouterr().out
    assert records[-1]["kept_last"] and records[-1]["best_step"] is None and (out / "model").is_dir()


def test_a_metric_that_cannot_select_is_refused_at_once(capsys):
    assert main(["train", "--print-config", "--metric-for-best-model", "train/uniform"]) == 2
    assert "cannot select a model" in capsys.readouterr().err
