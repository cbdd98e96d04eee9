"""A run SIGKILLed mid-training and resumed ends with the same weights as an uninterrupted one."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import torch
from safetensors.torch import load_file

from simcse.train import build_config, train
from simcse.train.loop import KILL_ENV
from train_helpers import write_corpus


def _config(model, corpus, out, resume=False):
    return build_config(
        model=str(model), pooler="cls", mlp_only_train=True, train_file=str(corpus), output_dir=str(out),
        batch_size=4, epochs=2, max_length=12, learning_rate=1e-3, eval_steps=0, save_steps=3, seed=7,
        progress=False, tensorboard=False, resume=resume,
    )


def test_sigkill_then_resume_matches_uninterrupted(tiny_bert, tmp_path):
    corpus = write_corpus(tmp_path / "c.txt", lines=22)  # 6 batches an epoch (last one of 2), 12 steps
    ref = train(_config(tiny_bert, corpus, tmp_path / "ref"))
    assert ref.steps == 12

    out = tmp_path / "run"
    code = ("import sys; from simcse.train import build_config, train; "
            "from test_resume import _config; train(_config(*sys.argv[1:4]))")
    env = {**os.environ, KILL_ENV: "8", "PYTHONPATH": os.pathsep.join([os.path.dirname(__file__), *sys.path])}
    proc = subprocess.run([sys.executable, "-c", code, str(tiny_bert), str(corpus), str(out)], env=env, capture_output=True)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()[-2000:]
    state = json.loads((out / "checkpoint" / "state.json").read_text())
    assert state["progress"]["step"] == 6 and state["progress"]["epoch"] == 0  # killed after step 8, saved at 6
    assert not (out / "model").exists()

    resumed = train(_config(tiny_bert, corpus, out, resume=True))
    assert resumed.steps == 12
    a = load_file(str(ref.model_dir / "model.safetensors"))
    b = load_file(str(resumed.model_dir / "model.safetensors"))
    assert a.keys() == b.keys()
    for k in a:
        assert torch.allclose(a[k], b[k], atol=1e-6), k
    ha = load_file(str(tmp_path / "ref" / "checkpoint" / "model.safetensors"))
    hb = load_file(str(out / "checkpoint" / "model.safetensors"))
    assert all(torch.allclose(ha[k], hb[k], atol=1e-6) for k in ha)  # MLP head (training only) too
    opt = load_file(str(out / "checkpoint" / "optimizer.safetensors"))
    assert any(k.endswith(".exp_avg") for k in opt)
