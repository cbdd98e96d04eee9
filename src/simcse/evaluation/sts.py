"""STS tasks as SimCSE evaluates them: cosine similarity, Spearman x 100, no regressor.

Protocol (checked against princeton-nlp/SimCSE ``evaluation.py`` and its SentEval copy,
``SentEval/senteval/sts.py``):

* STS12-16 (``STS1x-en-test/``): ``STS.input.<subset>.txt`` holds ``s1<TAB>s2`` lines and
  ``STS.gs.<subset>.txt`` one gold score per line; both are read with
  ``read().splitlines()`` and pairs whose gold line is exactly empty are dropped. STS13 has
  no SMT subset (not redistributable); ``STS.gs.ALL.txt`` is never read.
* STSBenchmark (``sts-{train,dev,test}.csv``, no header): ``line.strip().split('\\t')``,
  score = field 4, sentences = fields 5 and 6. SICKRelatedness (``SICK_train.txt``,
  ``SICK_trial.txt`` = dev, ``SICK_test_annotated.txt`` = test; one header line): sentences
  = fields 1 and 2, score = field 3. SimCSE's modified SentEval evaluates both like STS12-16
  (cosine, no regressor) and reports the test split (``test``/``fasttest``) or the dev split
  (``dev`` mode).
* Text: every sentence is ``' '.join(s.split())`` (SentEval splits, SimCSE's batcher joins);
  no lower-casing at evaluation time.
* Per year: Spearman per subset, and the three SentEval aggregations: ``all`` (Spearman over
  the concatenated subsets, the number SimCSE reports), ``mean`` and ``wmean`` (mean of the
  subset Spearmans, unweighted / weighted by pair count).

Readers are cached in-process (``functools.lru_cache``) so that the ``dev`` evaluation run
every N training steps parses its files once.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Sequence

import numpy as np

from simcse.evaluation.cache import EmbeddingTable, Encode
from simcse.evaluation.files import (
    DataFormatError,
    parse_float,
    senteval_text,
    tab_fields,
    task_dir,
    task_file,
)

# SentEval's subsets per year, in SentEval's order.
STS_YEARS: dict[str, tuple[str, ...]] = {
    "STS12": ("MSRpar", "MSRvid", "SMTeuroparl", "surprise.OnWN", "surprise.SMTnews"),
    "STS13": ("FNWN", "headlines", "OnWN"),
    "STS14": ("deft-forum", "deft-news", "headlines", "images", "OnWN", "tweet-news"),
    "STS15": ("answers-forums", "answers-students", "belief", "headlines", "images"),
    "STS16": ("answer-answer", "headlines", "plagiarism", "postediting", "question-question"),
}
STS_TASKS: tuple[str, ...] = (*STS_YEARS, "STSBenchmark", "SICKRelatedness")
DEV_TASKS: tuple[str, ...] = ("STSBenchmark", "SICKRelatedness")
KEY_PREFIX: dict[str, str] = {
    **{year: year.lower() for year in STS_YEARS},
    "STSBenchmark": "stsb",
    "SICKRelatedness": "sickr",
}
SPLITS = ("train", "dev", "test")
_STSB_FILES = {split: f"sts-{split}.csv" for split in SPLITS}
_SICK_FILES = {"train": "SICK_train.txt", "dev": "SICK_trial.txt", "test": "SICK_test_annotated.txt"}


@dataclass(frozen=True)
class StsPairs:
    """Scored sentence pairs of one subset or split: sent1[i], sent2[i] scored gold[i]."""

    sent1: tuple[str, ...]
    sent2: tuple[str, ...]
    gold: tuple[float, ...]

    def __len__(self) -> int:
        return len(self.gold)


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; valid: {', '.join(SPLITS)}")


def read_sts_subset(folder: Path, subset: str, task: str = "STS") -> StsPairs:
    """One STS12-16 subset; pairs with an empty gold line are skipped, as in SentEval."""
    inp = task_file(folder, f"STS.input.{subset}.txt", task)
    gs = task_file(folder, f"STS.gs.{subset}.txt", task)
    lines = inp.read_text(encoding="utf-8").splitlines()
    golds = gs.read_text(encoding="utf-8").splitlines()
    if len(lines) != len(golds):
        short, n = (gs, len(golds)) if len(golds) < len(lines) else (inp, len(lines))
        raise DataFormatError(
            short, n + 1, f"{inp.name} has {len(lines)} lines but {gs.name} has {len(golds)}"
        )
    s1, s2, y = [], [], []
    for lineno, (line, gold) in enumerate(zip(lines, golds), start=1):
        fields = line.split("\t")
        if len(fields) != 2:
            raise DataFormatError(inp, lineno, f"expected 2 tab-separated fields, got {len(fields)}")
        if gold == "":
            continue
        y.append(parse_float(gs, lineno, gold, "gold score"))
        s1.append(senteval_text(fields[0]))
        s2.append(senteval_text(fields[1]))
    return StsPairs(tuple(s1), tuple(s2), tuple(y))


@lru_cache(maxsize=None)
def read_sts_year(data_dir: Path, year: str) -> dict[str, StsPairs]:
    """All subsets of one of STS12..STS16, keyed by SentEval subset name."""
    if year not in STS_YEARS:
        raise ValueError(f"unknown STS year {year!r}; valid: {', '.join(STS_YEARS)}")
    folder = task_dir(data_dir, f"downstream/STS/{year}-en-test", year)
    return {subset: read_sts_subset(folder, subset, year) for subset in STS_YEARS[year]}


def _read_pairs(path: Path, skip_header: bool, cols: tuple[int, int, int]) -> StsPairs:
    """Tab-separated pairs; ``cols`` = (sentence 1, sentence 2, score) field indices."""
    s1, s2, y = [], [], []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, start=1):
            if skip_header and lineno == 1:
                continue
            fields = tab_fields(path, lineno, line, max(cols) + 1)
            s1.append(senteval_text(fields[cols[0]]))
            s2.append(senteval_text(fields[cols[1]]))
            y.append(parse_float(path, lineno, fields[cols[2]], "score"))
    return StsPairs(tuple(s1), tuple(s2), tuple(y))


@lru_cache(maxsize=None)
def read_stsb(data_dir: Path, split: str) -> StsPairs:
    """STS-Benchmark ``sts-<split>.csv``: genre, file, year, id, score, s1, s2 (no header)."""
    _check_split(split)
    folder = task_dir(data_dir, "downstream/STS/STSBenchmark", "STSBenchmark")
    return _read_pairs(task_file(folder, _STSB_FILES[split], "STSBenchmark"), False, (5, 6, 4))


@lru_cache(maxsize=None)
def read_sickr(data_dir: Path, split: str) -> StsPairs:
    """SICK relatedness: pair_ID, sentence_A, sentence_B, relatedness_score, ... (header)."""
    _check_split(split)
    folder = task_dir(data_dir, "downstream/SICK", "SICKRelatedness")
    return _read_pairs(task_file(folder, _SICK_FILES[split], "SICKRelatedness"), True, (1, 2, 3))


def load_sts_task(data_dir: Path, task: str, split: str = "test") -> dict[str, StsPairs]:
    """A task's scored pairs: STS12-16 by subset (test only); STS-B / SICK-R as {split: pairs}."""
    data_dir = Path(data_dir)
    if task in STS_YEARS:
        if split != "test":
            raise ValueError(f"{task} has only a test split, asked for {split!r}")
        return read_sts_year(data_dir, task)
    if task == "STSBenchmark":
        return {split: read_stsb(data_dir, split)}
    if task == "SICKRelatedness":
        return {split: read_sickr(data_dir, split)}
    raise ValueError(f"unknown STS task {task!r}; valid: {', '.join(STS_TASKS)}")


def sts_files(data_dir: Path, task: str, split: str = "test") -> list[Path]:
    """The files :func:`load_sts_task` reads for ``task`` (for checksums)."""
    root = Path(data_dir) / "downstream"
    if task in STS_YEARS:
        folder = root / "STS" / f"{task}-en-test"
        return [folder / f"STS.{kind}.{s}.txt" for s in STS_YEARS[task] for kind in ("input", "gs")]
    if task == "STSBenchmark":
        return [root / "STS" / "STSBenchmark" / _STSB_FILES[split]]
    if task == "SICKRelatedness":
        return [root / "SICK" / _SICK_FILES[split]]
    raise ValueError(f"unknown STS task {task!r}; valid: {', '.join(STS_TASKS)}")


def cosine_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine of (N, H) arrays -> (N,) float64; 0 where a row is all zeros
    (SentEval's ``nan_to_num``)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        cos = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    return np.nan_to_num(cos)


def spearman(scores: Sequence[float], gold: Sequence[float]) -> float:
    """Spearman rank correlation x 100 (ties get average ranks, as scipy.stats.spearmanr)."""
    from scipy.stats import spearmanr

    return float(spearmanr(scores, gold).correlation) * 100.0


def aggregate(subsets: dict[str, tuple[np.ndarray, Sequence[float]]]) -> dict[str, float]:
    """SentEval's three aggregations over {subset: (system scores, gold)}, each x 100:
    ``all`` = Spearman of the concatenation, ``mean`` and ``wmean`` = unweighted and
    pair-count-weighted mean of the per-subset Spearmans."""
    per = np.array([spearman(s, g) for s, g in subsets.values()])
    weights = np.array([len(g) for _, g in subsets.values()], dtype=np.float64)
    all_scores = np.concatenate([np.asarray(s, dtype=np.float64) for s, _ in subsets.values()])
    all_gold = np.concatenate([np.asarray(g, dtype=np.float64) for _, g in subsets.values()])
    return {
        "all": spearman(all_scores, all_gold),
        "wmean": float(np.average(per, weights=weights)),
        "mean": float(np.mean(per)),
    }


def headline_key(task: str) -> str:
    """The result key the paper's table shows for ``task`` (``sts12_all``, ``stsb_spearman``)."""
    return f"{KEY_PREFIX[task]}_all" if task in STS_YEARS else f"{KEY_PREFIX[task]}_spearman"


def sts_sentences(data_dir: Path, tasks: Sequence[str], split: str = "test") -> list[str]:
    """Every sentence the STS evaluation of ``tasks`` will encode (with repeats)."""
    out: list[str] = []
    for task in tasks:
        for pairs in load_sts_task(data_dir, task, split).values():
            out += [*pairs.sent1, *pairs.sent2]
    return out


def evaluate_sts(
    encode: Encode, data_dir: Path, tasks: Sequence[str] = STS_TASKS, split: str = "test"
) -> dict[str, float]:
    """Score ``tasks`` (a subset of :data:`STS_TASKS`) on ``split``; each unique sentence is
    encoded once. Returns e.g. ``sts12_all, sts12_wmean, sts12_mean, sts12_MSRpar, ...,
    stsb_spearman, sickr_spearman`` and ``avg_sts`` (mean of the headline keys)."""
    data = {task: load_sts_task(data_dir, task, split) for task in tasks}
    table = EmbeddingTable(encode, sts_sentences(data_dir, tasks, split))
    results: dict[str, float] = {}
    for task, subsets in data.items():
        scored = {
            name: (cosine_rows(table(list(p.sent1)), table(list(p.sent2))), p.gold)
            for name, p in subsets.items()
        }
        prefix = KEY_PREFIX[task]
        if task in STS_YEARS:
            results.update({f"{prefix}_{name}": spearman(*sg) for name, sg in scored.items()})
            results.update({f"{prefix}_{k}": v for k, v in aggregate(scored).items()})
        else:
            results[f"{prefix}_spearman"] = spearman(*scored[split])
    if tasks:
        results["avg_sts"] = float(np.mean([results[headline_key(t)] for t in tasks]))
    return results


def evaluate_dev(encode: Encode, data_dir: Path) -> dict[str, float]:
    """The training-time check: STS-B dev and SICK-R dev Spearman x 100 (``stsb_spearman``,
    ``sickr_spearman``, ``avg_sts``). Parsed files are cached, so repeated calls only encode."""
    return evaluate_sts(encode, Path(data_dir), DEV_TASKS, split="dev")
