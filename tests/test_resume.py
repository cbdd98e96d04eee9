"""Resuming: a killed run continues to the same weights (one process and two), and a
checkpoint that is incomplete, corrupt or from other settings is refused with one line."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from safetensors.torch import load_file, save_file

from simcse.errors import ConfigError, FormatError
from simcse.train import build_config, train
from train_helpers import write_corpus


def _config(model, corpus, out, resume=False, **over):
    values = dict(model=str(model), pooler="cls", mlp_only_train=True, train_file=str(corpus), output_dir=str(out),
                  batch_size=4, epochs=2, max_length=12, learning_rate=1e-3, eval_steps=0, save_steps=3, seed=7,
                  progress=False, tensorboard=False, resume=resume)
    return build_config(**{**values, **over})


def _same_weights(a_dir, b_dir, name="model.safetensors"):
    a, b = load_file(str(a_dir / name)), load_file(str(b_dir / name))
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=1e-6, msg=k)


def test_sigkill_then_resume_matches_uninterrupted(tiny_bert, tmp_path):
    corpus = write_corpus(tmp_path / "c.txt", lines=22)  # 6 batches an epoch (last one of 2), 12 steps
    ref = train(_config(tiny_bert, corpus, tmp_path / "ref"))
    assert ref.steps == 12

    out = tmp_path / "run"
    code = ("import os, signal, sys; from simcse.train import train; from test_resume import _config\n"
            "kill = lambda step, encoder: os.kill(os.getpid(), signal.SIGKILL) if step == 8 else None\n"
            "train(_config(*sys.argv[1:4]), on_step=kill)")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([os.path.dirname(__file__), *sys.path])}
    proc = subprocess.run([sys.executable, "-c", code, str(tiny_bert), str(corpus), str(out)], env=env, capture_output=True)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()[-2000:]
    state = json.loads((out / "checkpoint" / "state.json").read_text())
    assert state["progress"]["step"] == 6 and state["progress"]["epoch"] == 0  # killed after step 8, saved at 6
    assert not (out / "model").exists()

    resumed = train(_config(tiny_bert, corpus, out, resume=True))
    assert resumed.steps == 12
    _same_weights(ref.model_dir, resumed.model_dir)
    _same_weights(tmp_path / "ref" / "checkpoint", out / "checkpoint")  # the MLP head (training only) too
    assert any(k.endswith(".exp_avg") for k in load_file(str(out / "checkpoint" / "optimizer.safetensors")))


class _Stop(Exception):
    pass


def _two_process_worker(rank: int, model: str, corpus: str, root: str) -> None:
    """Each process: an uninterrupted run; a run stopped after step 5 (checkpoint at 4); its resume
    from a freshly seeded generator, as a new process would start."""
    dist.init_process_group("gloo", init_method=f"file://{root}/store", rank=rank, world_size=2)
    torch.set_num_threads(1)
    try:
        cfg = lambda out, resume=False: _config(model, corpus, f"{root}/{out}", resume, save_steps=2)  # noqa: E731

        def stop(step, encoder):
            if step == 5:
                raise _Stop

        train(cfg("ref"))
        with pytest.raises(_Stop):
            train(cfg("run"), on_step=stop)
        torch.manual_seed(1000 + rank)
        train(cfg("run", resume=True))
    finally:
        dist.destroy_process_group()


def test_two_processes_resume_with_their_own_dropout_masks(tiny_bert, tmp_path):
    """Each process saves and restores its own generator state: after a resume, process 1 does
    not draw process 0's dropout masks (which would change every later step)."""
    corpus = write_corpus(tmp_path / "c.txt", lines=22)  # 5 full batches of 4 an epoch, 10 steps
    mp.spawn(_two_process_worker, args=(str(tiny_bert), str(corpus), str(tmp_path)), nprocs=2, join=True)
    rng = load_file(str(tmp_path / "run" / "checkpoint" / "rng.safetensors"))
    assert {"rank0.cpu", "rank1.cpu"} <= rng.keys() and not torch.equal(rng["rank0.cpu"], rng["rank1.cpu"])
    _same_weights(tmp_path / "ref" / "model", tmp_path / "run" / "model")


@pytest.fixture(scope="module")
def checkpointed(tiny_bert, tmp_path_factory):
    """A finished run with a checkpoint at its last step (12)."""
    root = tmp_path_factory.mktemp("ckpt")
    corpus = write_corpus(root / "c.txt", lines=22)
    train(_config(tiny_bert, corpus, root / "run"))
    return tiny_bert, corpus, root / "run"


def _copy(run, tmp_path):
    out = tmp_path / "run"
    shutil.copytree(run, out)
    return out


@pytest.mark.parametrize("changes", [{"learning_rate": 1e-4}, {"batch_size": 2}, {"seed": 8},
                                     {"learning_rate": 2e-3, "temperature": 0.1}])
def test_resume_refuses_other_settings_and_names_them(checkpointed, tmp_path, changes):
    model, corpus, run = checkpointed
    out = _copy(run, tmp_path)
    with pytest.raises(ConfigError, match="--resume refused") as err:
        train(_config(model, corpus, out, resume=True, **changes))
    message = str(err.value)
    assert "\n" not in message and all(f"{k}: checkpoint" in message for k in changes)


def test_resume_ignores_settings_that_do_not_change_the_result(checkpointed, tmp_path):
    model, corpus, run = checkpointed
    out = _copy(run, tmp_path)
    result = train(_config(model, corpus, out, resume=True, save_steps=5, log_steps=2, progress=False))
    assert result.steps == 12  # already at the end: nothing to redo, nothing refused


def _corrupt(out, case):
    ckpt = out / "checkpoint"
    if case == "state.json deleted":
        (ckpt / "state.json").unlink()
    elif case == "optimizer tensor of the wrong shape":
        opt = load_file(str(ckpt / "optimizer.safetensors"))
        key = next(k for k in opt if k.endswith(".exp_avg"))
        opt[key] = torch.zeros(3, 3)
        save_file(opt, str(ckpt / "optimizer.safetensors"))
    elif case == "empty optimizer state":
        save_file({}, str(ckpt / "optimizer.safetensors"))
        state = json.loads((ckpt / "state.json").read_text())
        state["optimizer"]["scalars"] = {}
        (ckpt / "state.json").write_text(json.dumps(state))
    elif case == "NaN weights":
        weights = load_file(str(ckpt / "model.safetensors"))
        key = next(iter(weights))
        weights[key] = torch.full_like(weights[key], float("nan"))
        save_file(weights, str(ckpt / "model.safetensors"))
    elif case == "truncated model":
        data = (ckpt / "model.safetensors").read_bytes()
        (ckpt / "model.safetensors").write_bytes(data[: len(data) // 2])
    elif case == "state.json not JSON":
        (ckpt / "state.json").write_text("{progress")
    return ckpt


@pytest.mark.parametrize("case", ["state.json deleted", "optimizer tensor of the wrong shape", "empty optimizer state",
                                  "NaN weights", "truncated model", "state.json not JSON"])
def test_resume_refuses_a_broken_checkpoint(checkpointed, tmp_path, case):
    model, corpus, run = checkpointed
    out = _copy(run, tmp_path)
    ckpt = _corrupt(out, case)
    with pytest.raises(FormatError) as err:
        train(_config(model, corpus, out, resume=True))
    assert str(ckpt) in str(err.value) and "\n" not in str(err.value)


def test_scaler_state_is_saved_and_restored(tmp_path):
    """fp16's gradient scaler continues at the scale it had reached (not 65536 again)."""
    from simcse.train.checkpoint import load_checkpoint, save_checkpoint
    from simcse.train.step import linear_schedule

    def parts():
        model = torch.nn.Linear(3, 2)
        opt = torch.optim.AdamW(model.parameters(), lr=0.1)
        return model, opt, linear_schedule(opt, 0, 10), torch.amp.GradScaler("cpu", init_scale=1024.0)

    model, opt, sched, scaler = parts()
    scaler.scale(model(torch.ones(1, 3)).sum()).backward()
    scaler.unscale_(opt)
    scaler.step(opt)
    scaler.update(256.0)
    sched.step()
    rng = {"rank0.cpu": torch.get_rng_state()}
    save_checkpoint(tmp_path / "ck", model, opt, sched, scaler, {"progress": {"step": 1}, "run": {}}, rng)
    model2, opt2, sched2, scaler2 = parts()
    load_checkpoint(tmp_path / "ck", model2, opt2, sched2, scaler2, rank=0, device=torch.device("cpu"))
    assert scaler2.get_scale() == 256.0 and scaler2.state_dict() == scaler.state_dict()
