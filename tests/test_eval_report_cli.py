"""Markdown/JSON reporting and ``simcse evaluate`` end to end on fixture data, fake model."""

from __future__ import annotations

import json

import pytest
from eval_fixtures import bow_encode, write_sts

from simcse.evaluation import resolve_tasks
from simcse.evaluation.report import markdown_tables


def test_markdown_table_in_paper_order_with_missing_cells():
    rows = {"m1": {"sts12_all": 70.0, "sickr_spearman": 80.123, "avg_sts": 75.0},
            "m2": {"stsb_spearman": 81.0}}
    text = markdown_tables(rows, "test")
    head, rule, r1, r2 = text.splitlines()
    assert head == "| Model | STS12 | STS13 | STS14 | STS15 | STS16 | STS-B | SICK-R | Avg. |"
    assert r1 == "| m1 | 70.00 | – | – | – | – | – | 80.12 | 75.00 |"
    assert r2.startswith("| m2 | – |")
    dev = markdown_tables({"m": {"stsb_spearman": 1.0, "mr_devacc": 2.0}}, "dev").splitlines()
    assert dev[0] == "| Model | STS-B | SICK-R | Avg. |"
    assert dev[4].startswith("| Model | MR | CR | SUBJ | MPQA | SST | TREC | MRPC | Avg. |")


def test_resolve_tasks_follows_simcse_task_set_rule():
    assert resolve_tasks("sts", ["MR"])[0] == "STS12"
    assert resolve_tasks("na", ["MRPC", "STS13"]) == ("STS13", "MRPC")
    with pytest.raises(ValueError, match="valid: STS12"):
        resolve_tasks("na", ["STS17"])


class FakeSimCSE:
    def __init__(self, name, device=None, pooler=None, max_length=None, runtime="torch", quantize=False, dtype="float32",
                 truncate_dim=None):
        self.scale, self.runtime = (1.0 if name == "fake-a" else 2.0), runtime

    def encode(self, sentences, batch_size=64, normalize=False, dropout=False):
        if dropout and self.runtime != "torch":  # as SimCSE.encode
            from simcse.errors import ConfigError

            raise ConfigError(f"dropout=True needs runtime 'torch', got {self.runtime!r}")
        return self.scale * bow_encode(sentences)


@pytest.fixture
def fake_model(monkeypatch):
    import simcse.cli.common

    monkeypatch.setattr(simcse.cli.common, "SimCSE", FakeSimCSE)


def test_cli_evaluate_two_models_json_and_plot(tmp_path, fake_model, capsys):
    from simcse.cli import main

    data = write_sts(tmp_path / "data", n=8)
    out_json, png = tmp_path / "r.json", tmp_path / "g.png"
    rc = main(["evaluate", "--model", "fake-a", "--model", "fake-b", "--data-dir", str(data),
               "--output-json", str(out_json), "--plot", str(png)])
    assert rc == 0
    stdout = capsys.readouterr().out
    assert "| fake-a |" in stdout and "| fake-b |" in stdout and "| align | uniform |" in stdout
    record = json.loads(out_json.read_text())
    assert record["settings"]["mode"] == "test" and record["settings"]["models"] == ["fake-a", "fake-b"]
    assert "downstream/STS/STSBenchmark/sts-test.csv" in record["settings"]["data_sha256"]
    assert len(record["settings"]["data_sha256"]) == 2 * 24 + 2  # STS12-16 in+gs, STS-B, SICK
    a, b = record["results"]["fake-a"], record["results"]["fake-b"]
    assert a["sts12_all"] == pytest.approx(b["sts12_all"])  # cosine ignores scale
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_cli_missing_data_is_a_clear_error(tmp_path, fake_model, capsys):
    from simcse.cli import main

    rc = main(["evaluate", "--model", "fake-a", "--data-dir", str(tmp_path), "--mode", "dev"])
    assert rc == 2
    err = capsys.readouterr().err
    assert "downstream/STS/STSBenchmark" in err and "simcse data download senteval" in err


def test_cli_tasks_alone_selects_those_tasks(tmp_path, fake_model, capsys):
    from simcse.cli import main

    data = write_sts(tmp_path / "data", n=8)
    out_json = tmp_path / "r.json"
    rc = main(["evaluate", "--model", "fake-a", "--data-dir", str(data), "--mode", "dev",
               "--tasks", "SICKRelatedness", "--output-json", str(out_json)])
    assert rc == 0
    record = json.loads(out_json.read_text())
    assert record["settings"]["tasks"] == ["SICKRelatedness"]
    assert set(record["results"]["fake-a"]) == {"sickr_spearman", "avg_sts"}
    assert list(record["settings"]["data_sha256"]) == ["downstream/SICK/SICK_trial.txt"]


@pytest.mark.parametrize("runtime", ["torch", "onnx"])
def test_cli_health_without_dropout_views_off_torch(tmp_path, fake_model, capsys, runtime):
    """ONNX has no dropout: health reports uniform and anisotropy without align instead of failing."""
    from simcse.cli import main

    sentences = tmp_path / "s.txt"
    sentences.write_text("".join(f"a man {w}\n" for w in ("plays", "runs", "eats food", "big dog")), encoding="utf-8")
    out_json = tmp_path / "r.json"
    rc = main(["evaluate", "--model", "fake-a", "--runtime", runtime, "--health", f"h={sentences}",
               "--output-json", str(out_json)])
    assert rc == 0, capsys.readouterr().err
    keys = set(json.loads(out_json.read_text())["results"]["fake-a"])
    assert {"h/uniform", "h/anisotropy"} <= keys and ("h/align" in keys) == (runtime == "torch")

