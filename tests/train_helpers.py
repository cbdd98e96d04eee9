"""Small files for training tests: a corpus and a fake STS-B dev set."""

from __future__ import annotations

import random
from pathlib import Path

from samples import WORDS


def write_corpus(path: Path, lines: int = 32, seed: int = 0) -> Path:
    rng = random.Random(seed)
    path.write_text("\n".join(" ".join(rng.choices(WORDS, k=rng.randint(3, 9))) for _ in range(lines)) + "\n", encoding="utf-8")
    return path


def write_fake_stsb(root: Path, pairs: int = 24, seed: int = 0) -> Path:
    """<root>/downstream/STS/STSBenchmark/sts-dev.csv (+ SICK_trial.txt) with random pairs."""
    rng = random.Random(seed)
    sts = root / "downstream" / "STS" / "STSBenchmark"
    sick = root / "downstream" / "SICK"
    sts.mkdir(parents=True, exist_ok=True)
    sick.mkdir(parents=True, exist_ok=True)
    rows = [(" ".join(rng.choices(WORDS, k=5)), " ".join(rng.choices(WORDS, k=5)), rng.uniform(0, 5)) for _ in range(pairs)]
    (sts / "sts-dev.csv").write_text("".join(f"g\tf\t2012\t{i}\t{y:.2f}\t{a}\t{b}\n" for i, (a, b, y) in enumerate(rows)), encoding="utf-8")
    (sick / "SICK_trial.txt").write_text("pair_ID\tsentence_A\tsentence_B\trelatedness_score\tentailment_judgment\n"
                                          + "".join(f"{i}\t{a}\t{b}\t{y:.2f}\tNEUTRAL\n" for i, (a, b, y) in enumerate(rows)), encoding="utf-8")
    return root
