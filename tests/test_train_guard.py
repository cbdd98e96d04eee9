"""Training stops at the first non-finite loss or gradient and writes nothing from it; the
fp16 gradient scaler works with GradCache."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from simcse.cli import main
from simcse.errors import TrainingDiverged
from simcse.train import build_config, step, train
from samples import SENTENCES
from train_helpers import write_corpus, write_fake_stsb


def _poison(monkeypatch, at_call: int, where: str) -> None:
    """From the ``at_call``-th training loss on, make the loss (or the gradients) NaN."""
    calls = {"n": 0}
    real = step.info_nce

    def info_nce(*args, **kwargs):
        calls["n"] += 1
        loss = real(*args, **kwargs)
        if calls["n"] < at_call:
            return loss
        if where == "loss":
            return loss * float("nan")
        return loss + _nan_grad(loss)  # a finite loss whose gradients are NaN

    monkeypatch.setattr(step, "info_nce", info_nce)


class _NanGrad(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return x * 0

    @staticmethod
    def backward(ctx, grad):
        return grad * float("nan")


def _nan_grad(x):  # adds 0 to the loss, but NaN to every gradient
    return _NanGrad.apply(x)


@pytest.mark.parametrize("where", ["loss", "gradient"])
def test_training_stops_at_the_first_non_finite_step(tiny_bert, tmp_path, monkeypatch, where):
    corpus = write_corpus(tmp_path / "c.txt", lines=40)
    data = write_fake_stsb(tmp_path / "data")
    out = tmp_path / "run"
    _poison(monkeypatch, at_call=4, where=where)  # eval does not call info_nce: step 4 is the 4th call
    cfg = build_config(model=str(tiny_bert), pooler="avg", train_file=str(corpus), output_dir=str(out),
                       data_dir=str(data), batch_size=4, max_length=12, eval_steps=3, save_steps=3, log_steps=5,
                       progress=False, tensorboard=False)
    with pytest.raises(TrainingDiverged, match=r"^step 4: ") as err:
        train(cfg)
    assert "\n" not in str(err.value) and "step 3" in str(err.value)
    state = json.loads((out / "checkpoint" / "state.json").read_text())
    assert state["progress"]["step"] == 3
    for folder in (out / "checkpoint", out / "model"):
        for name, tensor in load_file(str(folder / "model.safetensors")).items():
            assert torch.isfinite(tensor).all(), (folder, name)


def test_cli_reports_divergence_in_one_line(tiny_bert, tmp_path, monkeypatch, capsys):
    corpus = write_corpus(tmp_path / "c.txt", lines=16)
    _poison(monkeypatch, at_call=2, where="loss")
    rc = main(["train", "--model", str(tiny_bert), "--pooler", "avg", "--train-file", str(corpus),
               "--output-dir", str(tmp_path / "run"), "--batch-size", "4", "--eval-steps", "0", "--no-progress"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "step 2:" in err[0] and "Traceback" not in err[0]
    assert not (tmp_path / "run" / "model").exists()


def test_grad_cache_step_is_scaler_aware(tiny_bert):
    """With fp16's gradient scaler, the cached step's gradients carry the scale as the plain
    step's do, so unscaling and clipping see the true gradients (before the fix they came out
    divided by the scale)."""
    from simcse.encoder import pad_batch
    from simcse.model_io import load_encoder

    enc = load_encoder(tiny_bert, pooler="avg", max_length=16).train()
    for m in enc.modules():  # dropout off: the plain and cached steps see the same network
        if isinstance(m, torch.nn.Dropout):
            m.p = 0.0
    model = torch.nn.ModuleDict({"encoder": enc})
    batch = pad_batch(enc.tokenize(SENTENCES * 2), list(range(12)), 0)
    grads = {}
    for chunk in (0, 5):
        cfg = build_config(model=str(tiny_bert), pooler="avg", grad_cache_chunk=chunk, batch_size=6)
        scaler = torch.amp.GradScaler("cpu", init_scale=1024.0)
        loss = step.step_loss(model, batch, 2, cfg, scaler=scaler)
        if loss.requires_grad:
            scaler.scale(loss).backward()
        scaler.unscale_(torch.optim.SGD(model.parameters(), lr=0.0))
        grads[chunk] = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
        model.zero_grad(set_to_none=True)
    assert grads[0].keys() == grads[5].keys()
    for name in grads[0]:
        torch.testing.assert_close(grads[5][name], grads[0][name], rtol=1e-4, atol=1e-6, msg=name)
