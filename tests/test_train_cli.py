"""End to end, in process: ``simcse train`` on a tiny random BERT -> a loadable model; config precedence."""

from __future__ import annotations

import json

import numpy as np
import pytest

from simcse.cli import main
from simcse.train.config import PRESETS, TrainConfig, build_config
from train_helpers import write_corpus, write_fake_stsb


def test_train_cli_end_to_end(tiny_bert, tmp_path, capsys):
    corpus = write_corpus(tmp_path / "c.txt", lines=32)
    data = write_fake_stsb(tmp_path / "data")
    out = tmp_path / "run"
    rc = main(["train", "--model", str(tiny_bert), "--pooler", "cls", "--train-file", str(corpus),
               "--data-dir", str(data), "--output-dir", str(out), "--batch-size", "8", "--max-length", "16",
               "--eval-steps", "2", "--eval-sickr", "--no-progress", "--do-mlm", "--seed", "3"])
    assert rc == 0
    assert "stsb_spearman: start " in capsys.readouterr().out
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    evals = [r for r in records if r["event"] == "eval"]
    assert [r["step"] for r in evals] == [0, 2, 4] and all("sickr_spearman" in r for r in evals)
    end = records[-1]
    assert end["event"] == "end" and end["best_step"] in (0, 2, 4)
    best = max(evals, key=lambda r: r["stsb_spearman"])
    assert end["best_step"] == best["step"] and end["best_score"] == best["stsb_spearman"]

    from simcse.api import SimCSE
    from simcse.model_io import load_encoder

    enc = load_encoder(out / "model")
    assert enc.config.pooler == "cls" and enc.config.mlp_only_train and not enc.config.head_at_inference
    emb = SimCSE(out / "model", device="cpu").encode(["a man plays guitar", "the dog"])
    assert emb.shape == (2, 32) and np.isfinite(emb).all()


def test_supervised_triplets_csv(tiny_bert, tmp_path, monkeypatch):
    """Triplets reach the loss as hard negatives, with the weight given on the command line."""
    from simcse.train import step

    seen = []

    def spy(anchors, positives, negatives=None, **kw):
        seen.append((anchors.shape, None if negatives is None else negatives.shape, kw["hard_negative_weight"]))
        return step_info_nce(anchors, positives, negatives, **kw)

    step_info_nce = step.info_nce
    monkeypatch.setattr(step, "info_nce", spy)
    rows = "\n".join(f"a man {i},the man {i},a cat {i}" for i in range(12))
    (tmp_path / "nli.csv").write_text(f"sent0,sent1,hard_neg\n{rows}\n", encoding="utf-8")
    rc = main(["train", "--preset", "sup-bert-base", "--model", str(tiny_bert), "--train-file", str(tmp_path / "nli.csv"),
               "--output-dir", str(tmp_path / "run"), "--batch-size", "4", "--epochs", "1", "--eval-steps", "0",
               "--hard-negative-weight", "0.5", "--no-progress"])
    assert rc == 0
    assert len(seen) == 3 and all(a == p for a, p, _ in seen) and {w for *_, w in seen} == {0.5}
    assert all(n is not None and n[0] == 4 for _, n, _ in seen)  # every anchor has its own hard negative
    from simcse.model_io import load_encoder

    assert load_encoder(tmp_path / "run" / "model").config.head_at_inference  # supervised keeps the MLP


def test_precedence_default_preset_file_flag(tmp_path):
    assert TrainConfig() == build_config("unsup-bert-base")  # the defaults are the paper's recipe
    sup = build_config("sup-bert-base")
    assert (sup.batch_size, sup.learning_rate, sup.epochs, sup.hard_neg_column, sup.mlp_only_train) == (512, 5e-5, 3, "hard_neg", False)
    assert build_config("unsup-roberta-large").learning_rate == 3e-5 and build_config("unsup-roberta-base").batch_size == 512
    toml = tmp_path / "c.toml"
    toml.write_text('preset = "sup-bert-base"\nlearning_rate = 1e-4\nhard_neg_column = "neg"\n')
    cfg = build_config(None, str(toml), learning_rate=2e-4)
    assert (cfg.batch_size, cfg.learning_rate, cfg.hard_neg_column) == (512, 2e-4, "neg")
    js = tmp_path / "c.json"
    js.write_text('{"batch_size": 16, "pooler": null}')
    assert build_config("unsup-bert-base", str(js)).batch_size == 16


def test_config_errors_name_source_and_choices(tmp_path, capsys):
    bad = tmp_path / "c.json"
    bad.write_text('{"learning_rat": 1}')
    with pytest.raises(ValueError, match=r"c\.json: unknown key 'learning_rat'; valid keys: eval_pairs, .*, model, train_file"):
        build_config(None, str(bad))
    bad.write_text('{"batch_size": "big"}')
    with pytest.raises(ValueError, match=r"c\.json: key 'batch_size' must be int"):
        build_config(None, str(bad))
    bad.write_text('{\n"batch_size": 1,\n}')
    with pytest.raises(ValueError, match=r"c\.json:3: invalid JSON"):
        build_config(None, str(bad))
    with pytest.raises(ValueError, match="valid presets: " + ", ".join(PRESETS)):
        build_config("nope")
    assert main(["train", "--preset", "demo-minilm", "--pooler", "none", "--print-config"]) == 0
    assert json.loads(capsys.readouterr().out)["pooler"] is None
