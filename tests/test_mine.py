"""Hard-negative mining: the candidates, the rank window and the false-negative filters."""

from __future__ import annotations

import json

import numpy as np
import pytest

from simcse.errors import ConfigError
from simcse.mine import MineOptions, mine_hard_negatives, write_triplets
from simcse.train.readers import Schema, read_rows


class AngleModel:
    """An Embedder whose texts sit at given angles on a circle: cosine = cos(angle difference)."""

    model_name, pooler, fingerprint = "angles", "avg", "0"

    def __init__(self, angles: dict[str, float]) -> None:
        self.angles = angles

    @property
    def dim(self) -> int:
        return 2

    def encode(self, sentences, batch_size=64, normalize=False, show_progress=None):
        a = np.radians([self.angles[s] for s in sentences])
        return np.stack([np.cos(a), np.sin(a)], axis=1).astype(np.float32)


# The anchor "q" at 0 degrees, its positive "p" at 20 (cosine 0.940); candidates at other angles.
ANGLES = {"q": 0, "p": 20, "near": 5, "para": 19, "hard": 30, "mid": 45, "far": 80, "q2": 100, "p2": 110}
PAIRS = [("q", "p"), ("q2", "p2")]
CORPUS = ["p", "near", "para", "hard", "mid", "far", "q", "p2"]


def _negs(opts, pairs=PAIRS, corpus=CORPUS):
    result = mine_hard_negatives(AngleModel(ANGLES), pairs, opts, corpus=corpus)
    return [(a, n) for a, _, n in result.triplets], result


def test_the_anchor_and_its_positives_are_never_negatives():
    negs, _ = _negs(MineOptions(num_negatives=10, relative_margin=None))
    assert ("q", "p") not in negs and ("q", "q") not in negs and ("q2", "p2") not in negs and ("q2", "q2") not in negs
    assert [n for a, n in negs if a == "q"] == ["near", "para", "hard", "mid", "far", "p2"]  # best first


def test_rank_window_and_score_filters():
    cos20 = np.cos(np.radians(20))
    assert [n for a, n in _negs(MineOptions(range_min=1, range_max=3, relative_margin=None))[0] if a == "q"] == ["para"]
    # relative margin 5%: drop what scores above 0.95 x the positive's cosine (near: 0.996, para: 0.945)
    ok = [n for a, n in _negs(MineOptions(num_negatives=2))[0] if a == "q"]
    assert np.cos(np.radians(19)) > 0.95 * cos20 > np.cos(np.radians(30)) and ok == ["hard", "mid"]
    # absolute margin 0.1 below the positive, and a ceiling
    assert [n for a, n in _negs(MineOptions(margin=0.1, relative_margin=None))[0] if a == "q"] == ["mid"]
    assert [n for a, n in _negs(MineOptions(max_score=0.8, relative_margin=None))[0] if a == "q"] == ["mid"]


def test_anchors_without_an_admissible_negative_are_dropped_and_counted():
    negs, result = _negs(MineOptions(range_max=1, max_score=0.5, relative_margin=None))
    assert result.anchors == 2 and result.anchors_with_negatives == len(negs) < 2
    assert result.summary()["pairs_dropped"] == 2 - len(negs)


def test_random_sampling_is_seeded():
    a = _negs(MineOptions(num_negatives=2, sampling="random", seed=3, relative_margin=None))[0]
    b = _negs(MineOptions(num_negatives=2, sampling="random", seed=3, relative_margin=None))[0]
    assert a == b and len(a) == 4


def test_default_candidates_are_the_positives(tmp_path):
    pairs = [("q", "p"), ("q2", "p2"), ("near", "hard")]
    negs, result = _negs(MineOptions(relative_margin=None), pairs=pairs, corpus=None)
    assert result.candidates == 3 and dict(negs)["q"] == "hard"


def test_output_trains_as_triplets_and_records_its_options(tmp_path):
    negs, result = _negs(MineOptions(num_negatives=2))
    out = tmp_path / "triplets.csv"
    sidecar = write_triplets(result, out, ("sent0", "sent1", "hard_neg"), {"model": "angles", "options": {"x": 1}})
    rows = list(read_rows(out, Schema("sent0", "sent1", "hard_neg")))
    assert rows == result.triplets and len(rows) == len(negs)
    record = json.loads(sidecar.read_text())
    assert record["options"] == {"x": 1} and record["result"]["triplets"] == len(rows)


def test_bad_options_are_refused():
    with pytest.raises(ConfigError, match="range_min"):
        MineOptions(range_min=5, range_max=5)
    with pytest.raises(ConfigError, match="relative_margin"):
        MineOptions(relative_margin=1.5)


def test_cli_mines_triplets_that_train(tiny_bert, tmp_path, capsys):
    from simcse.cli import main

    rows = [("a man plays guitar", "the man is playing music"), ("a dog runs in the park", "the dog is running"),
            ("a woman slices an onion", "the woman cuts food"), ("two people sit", "people are sitting")]
    pairs = tmp_path / "pairs.csv"
    pairs.write_text("sent0,sent1\n" + "".join(f"{a},{b}\n" for a, b in rows), encoding="utf-8")
    out = tmp_path / "triplets.csv"
    assert main(["mine", "--model", str(tiny_bert), "--pooler", "avg", "--pairs", str(pairs), "--out", str(out),
                 "--relative-margin", "none", "--range-max", "3"]) == 0
    assert "wrote 4 triplets for 4 of 4 pairs" in capsys.readouterr().out
    triplets = list(read_rows(out, Schema("sent0", "sent1", "hard_neg")))
    assert [t[:2] for t in triplets] == rows and all(t[2] in {b for _, b in rows} - {t[1]} for t in triplets)
    record = json.loads((tmp_path / "triplets.csv.json").read_text())
    assert record["options"]["range_max"] == 3 and record["options"]["relative_margin"] is None
    assert main(["train", "--model", str(tiny_bert), "--pooler", "avg", "--train-file", str(out), "--hard-neg-column",
                 "hard_neg", "--output-dir", str(tmp_path / "run"), "--batch-size", "2", "--eval-steps", "0",
                 "--no-progress"]) == 0


def test_cli_bad_pairs_file_is_one_line(tiny_bert, tmp_path, capsys):
    from simcse.cli import main

    pairs = tmp_path / "pairs.csv"
    pairs.write_text("anchor,positive\nx,y\n", encoding="utf-8")
    assert main(["mine", "--model", str(tiny_bert), "--pooler", "avg", "--pairs", str(pairs), "--out",
                 str(tmp_path / "t.csv")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "pairs.csv:1: header has no column 'sent0'" in err[0]
