"""Tiny SentEval-layout data folders written into tmp_path, and toy encoders (no real data)."""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np

from simcse.evaluation.sts import STS_YEARS

WORDS = "a man woman dog cat plays runs eats guitar food ball park red blue big small".split()


def bow_encode(sentences: list[str], dim: int = 32) -> np.ndarray:
    """Deterministic bag-of-words encoder: sum of a fixed random vector per word, (N, dim)."""
    out = np.zeros((len(sentences), dim), dtype=np.float32)
    for i, s in enumerate(sentences):
        for w in s.split():
            out[i] += np.random.default_rng(zlib.crc32(w.encode())).standard_normal(dim)
    return out


class CountingEncode:
    """Wraps an encoder and records every call's sentences."""

    def __init__(self, encode=bow_encode) -> None:
        self.encode, self.calls = encode, []

    def __call__(self, sentences: list[str]) -> np.ndarray:
        self.calls.append(list(sentences))
        return self.encode(sentences)


def _pairs(rng: np.random.Generator, n: int) -> list[tuple[str, str, float]]:
    rows = []
    for _ in range(n):
        a = list(rng.choice(WORDS, size=4))
        b = a[:2] + list(rng.choice(WORDS, size=2))
        rows.append((" ".join(a), " ".join(b), float(rng.integers(0, 6))))
    return rows


def write_sts(root: Path, n: int = 12, seed: int = 0) -> Path:
    """STS12-16 (every SentEval subset, one empty gold line each), STS-B and SICK splits."""
    rng = np.random.default_rng(seed)
    for year, subsets in STS_YEARS.items():
        folder = root / "downstream" / "STS" / f"{year}-en-test"
        folder.mkdir(parents=True, exist_ok=True)
        for subset in subsets:
            rows = _pairs(rng, n)
            (folder / f"STS.input.{subset}.txt").write_text(
                "".join(f"{a}\t{b}\n" for a, b, _ in rows) + "unscored  pair\tno gold\n",
                encoding="utf-8")
            (folder / f"STS.gs.{subset}.txt").write_text(
                "".join(f"{y}\n" for *_, y in rows) + "\n", encoding="utf-8")
    stsb = root / "downstream" / "STS" / "STSBenchmark"
    stsb.mkdir(parents=True, exist_ok=True)
    for split in ("train", "dev", "test"):
        rows = _pairs(rng, n)
        (stsb / f"sts-{split}.csv").write_text("".join(
            f"main-captions\tMSRvid\t2012test\t{i:04d}\t{y}\t{a}\t{b}\n"
            for i, (a, b, y) in enumerate(rows)), encoding="utf-8")
    sick = root / "downstream" / "SICK"
    sick.mkdir(parents=True, exist_ok=True)
    for name in ("SICK_train.txt", "SICK_trial.txt", "SICK_test_annotated.txt"):
        rows = _pairs(rng, n)
        (sick / name).write_text(
            "pair_ID\tsentence_A\tsentence_B\trelatedness_score\tentailment_judgment\r\n"
            + "".join(f"{i}\t{a}\t{b}\t{y}\tNEUTRAL\r\n" for i, (a, b, y) in enumerate(rows)),
            encoding="utf-8")
    return root


def write_transfer(root: Path, n: int = 20) -> Path:
    """MR, CR, SUBJ, MPQA, SST2, TREC, MRPC with n examples per class; the label is carried
    by one word ("good"/"bad", a TREC class word), so a bag-of-words probe can learn it."""
    d = root / "downstream"
    fillers = [f"w{i}" for i in range(n)]
    pos = [f"good {w} thing" for w in fillers]
    neg = [f"bad {w} thing" for w in fillers]
    for folder, p, q in (("MR", "rt-polarity.pos", "rt-polarity.neg"),
                         ("CR", "custrev.pos", "custrev.neg"),
                         ("SUBJ", "subj.objective", "subj.subjective"),
                         ("MPQA", "mpqa.pos", "mpqa.neg")):
        (d / folder).mkdir(parents=True, exist_ok=True)
        (d / folder / p).write_text("\n".join(pos) + "\n", encoding="latin-1")
        (d / folder / q).write_text("\n".join(neg) + "\n", encoding="latin-1")
    (d / "SST" / "binary").mkdir(parents=True, exist_ok=True)
    for split in ("train", "dev", "test"):
        (d / "SST" / "binary" / f"sentiment-{split}").write_text(
            "".join(f"{s} \t1\n" for s in pos) + "".join(f"{s} \t0\n" for s in neg),
            encoding="utf-8")
    (d / "TREC").mkdir(parents=True, exist_ok=True)
    classes = ("ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM")
    for name in ("train_5500.label", "TREC_10.label"):
        (d / "TREC" / name).write_text("".join(
            f"{c}:x what {c.lower()} {w} ?\n" for c in classes for w in fillers), encoding="latin-1")
    (d / "MRPC").mkdir(parents=True, exist_ok=True)
    for name in ("msr_paraphrase_train.txt", "msr_paraphrase_test.txt"):
        lines = ["\ufeffQuality\t#1 ID\t#2 ID\t#1 String\t#2 String"]
        lines += [f"1\t{i}\t{i}\tgood {w}\tgood {w}" for i, w in enumerate(fillers)]
        lines += [f"0\t{i}\t{i}\tgood {w}\tbad {w}" for i, w in enumerate(fillers)]
        (d / "MRPC" / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root
