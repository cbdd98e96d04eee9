"""The demo data packaged with simcse: present, small, licensed, equal to their sources, and
what ``examples/train_demo.py`` falls back to when the official download fails."""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest

from simcse import demo_data
from simcse import download as dl
from simcse.download import find_training_file
from simcse.errors import DownloadError
from simcse.evaluation.sts import read_stsb
from simcse.train.config import PRESETS

DEMO = Path(__file__).resolve().parents[1] / "examples" / "train_demo.py"
WIKI, STSB_DEV = demo_data.FILES


def test_packaged_files_exist_and_are_small():
    names = [*demo_data.FILES.values(), demo_data.ATTRIBUTION, *demo_data.LICENSES]
    assert all(demo_data.packaged(name).is_file() for name in names)
    assert sum(len(demo_data.packaged(name).read_bytes()) for name in names) < 400_000


def test_attribution_names_the_licences():
    text = demo_data.packaged(demo_data.ATTRIBUTION).read_text(encoding="utf-8")
    assert all(name in text for name in [*demo_data.FILES.values(), *demo_data.LICENSES])
    assert "CC BY-SA 3.0" in text and "Wikipedia contributors" in text  # wiki1m
    assert "CC BY-SA 4.0" in text and "SemEval-2017 Task 1" in text  # STS-B scores and citation
    assert "Commons Attribution - Share Alike 4.0" in demo_data.packaged("STSBenchmark-LICENSE.txt").read_text(encoding="utf-8")


def test_written_data_dir_holds_what_the_demo_reads(tmp_path):
    root = demo_data.write_data_dir(tmp_path / "demo-data")
    lines = (root / WIKI).read_text(encoding="utf-8").splitlines()
    assert len(lines) == PRESETS["demo-minilm"]["max_train_samples"] and all(line.strip() for line in lines)
    assert find_training_file("wiki1m_for_simcse.txt", root) == root / WIKI
    assert len(read_stsb(root, "dev").gold) == 1500
    before = (root / WIKI).stat().st_mtime_ns
    assert demo_data.write_data_dir(root) == root and (root / WIKI).stat().st_mtime_ns == before  # kept


def test_packaged_files_equal_their_sources(data_dir):
    assert demo_data.read(STSB_DEV) == (data_dir / STSB_DEV).read_bytes()
    assert demo_data.packaged("STSBenchmark-LICENSE.txt").read_bytes() == (
        data_dir / "downstream/STS/STSBenchmark/LICENSE.txt").read_bytes()
    source = find_training_file("wiki1m_for_simcse.txt", data_dir, allow_prefix_copy=True)
    with open(source, "rb") as fh:
        head = b"".join(fh.readline() for _ in range(PRESETS["demo-minilm"]["max_train_samples"]))
    assert demo_data.read(WIKI) == head


@pytest.mark.parametrize("offline", [True, False])
def test_demo_falls_back_to_the_packaged_data_only_offline(offline, tmp_path, monkeypatch, capsys):
    """The demo script with the training stubbed: which data dir it passes, and what it prints."""
    calls: list[list[str]] = []
    data = tmp_path / "data"
    if not offline:  # a data dir that already holds the files: no download, no fallback
        demo_data.write_data_dir(data)

    def no_network(name, root, **kwargs):
        raise DownloadError(f"{name}: unreachable; ways out") from DownloadError("http://x/senteval.tar: no network")

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SIMCSE_DATA_DIR", str(data))
    monkeypatch.setattr(dl, "download", no_network)
    monkeypatch.setattr("simcse.cli.main", lambda argv: calls.append(argv) or 0)
    monkeypatch.setattr("sys.argv", [str(DEMO)])
    with pytest.raises(SystemExit) as done:
        runpy.run_path(str(DEMO), run_name="__main__")
    assert done.value.code == 0
    root = Path("runs/demo-data") if offline else data
    assert calls == [["train", "--preset", "demo-minilm", "--data-dir", str(root)]]
    out = capsys.readouterr().out.splitlines()
    if offline:
        assert out[-1].startswith("download failed (http://x/senteval.tar: no network): using the demo data packaged")
        assert (tmp_path / root / STSB_DEV).read_bytes() == demo_data.read(STSB_DEV)
    else:
        assert out == [] and not (tmp_path / "runs").exists()
