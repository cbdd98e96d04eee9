"""A real ``torchrun`` launch of ``simcse train``: 2 CPU processes (gloo) with batch 8 train like
one process with batch 8. Dropout is off, so the losses must agree step by step."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from train_helpers import write_corpus


def _losses(out) -> list[float]:
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return [r["loss"] for r in records if r["event"] == "train"]


def test_torchrun_two_processes_train_like_one(tiny_bert, tmp_path):
    model = tmp_path / "bert"
    shutil.copytree(tiny_bert, model)
    cfg = json.loads((model / "config.json").read_text())
    cfg.update(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    (model / "config.json").write_text(json.dumps(cfg))
    corpus = write_corpus(tmp_path / "c.txt", lines=24)
    args = ["train", "--model", str(model), "--pooler", "avg", "--train-file", str(corpus), "--batch-size", "8",
            "--max-length", "16", "--max-steps", "3", "--eval-steps", "0", "--log-steps", "1", "--no-progress",
            "--learning-rate", "1e-3", "--device", "cpu", "--seed", "4"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    two = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", "-m", "simcse.cli"]
    run = subprocess.run([*two, *args, "--output-dir", str(tmp_path / "two")], capture_output=True, text=True, env=env, timeout=300)
    if run.returncode and "Address family not supported" in run.stderr:
        pytest.skip("no loopback networking for torchrun's rendezvous")
    assert run.returncode == 0, run.stderr[-3000:]
    one = subprocess.run([sys.executable, "-m", "simcse.cli", *args, "--output-dir", str(tmp_path / "one")],
                         capture_output=True, text=True, env=env, timeout=300)
    assert one.returncode == 0, one.stderr[-3000:]
    assert (tmp_path / "two" / "model" / "model.safetensors").is_file()  # saved once, by rank 0
    two_losses, one_losses = _losses(tmp_path / "two"), _losses(tmp_path / "one")
    assert len(two_losses) == len(one_losses) == 3
    assert two_losses == pytest.approx(one_losses, rel=1e-4)
