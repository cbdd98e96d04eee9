"""Readers for the SentEval transfer tasks, parsing and ordering data exactly as SentEval.

Each reader follows facebookresearch/SentEval (``binary.py``, ``sst.py``, ``trec.py``,
``mrpc.py``): same encodings (latin-1 for MR/CR/SUBJ/MPQA/TREC, utf-8 for SST/MRPC), same line
splitting, same labels, and the same length-sorted order SentEval builds before
classification. The order matters: SentEval's stratified folds are drawn over the sorted
samples, so keeping it reproduces SentEval's folds.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable

from simcse.evaluation.files import DataFormatError, senteval_text, tab_fields, task_dir, task_file

# task -> (folder under downstream/, positive file, negative file); label 1 = first file.
BINARY_FILES: dict[str, tuple[str, str, str]] = {
    "MR": ("MR", "rt-polarity.pos", "rt-polarity.neg"),
    "CR": ("CR", "custrev.pos", "custrev.neg"),
    "SUBJ": ("SUBJ", "subj.objective", "subj.subjective"),
    "MPQA": ("MPQA", "mpqa.pos", "mpqa.neg"),
}
SST_FILES = {"train": "sentiment-train", "dev": "sentiment-dev", "test": "sentiment-test"}
TREC_FILES = {"train": "train_5500.label", "test": "TREC_10.label"}
TREC_CLASSES = ("ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM")
MRPC_FILES = {"train": "msr_paraphrase_train.txt", "test": "msr_paraphrase_test.txt"}


@dataclass(frozen=True)
class Labeled:
    """Sentences with integer labels, in SentEval's order."""

    sentences: tuple[str, ...]
    labels: tuple[int, ...]


@dataclass(frozen=True)
class LabeledPairs:
    """Sentence pairs with integer labels (MRPC: 1 = paraphrase), in SentEval's order."""

    sent1: tuple[str, ...]
    sent2: tuple[str, ...]
    labels: tuple[int, ...]


def _n_words(sentence: str) -> int:
    return len(sentence.split())


def _sorted(sentences: list[str], labels: list[int]) -> Labeled:
    """SentEval's ``sorted(zip(X, y), key=lambda z: (len(z[0]), z[1]))`` (stable)."""
    rows = sorted(zip(sentences, labels), key=lambda z: (_n_words(z[0]), z[1]))
    return Labeled(tuple(s for s, _ in rows), tuple(y for _, y in rows))


@lru_cache(maxsize=None)
def read_binary(data_dir: Path, task: str) -> Labeled:
    """MR, CR, SUBJ or MPQA: one sentence per line (blank lines kept, as SentEval does)."""
    if task not in BINARY_FILES:
        raise ValueError(f"unknown binary task {task!r}; valid: {', '.join(BINARY_FILES)}")
    folder_name, pos_name, neg_name = BINARY_FILES[task]
    folder = task_dir(data_dir, f"downstream/{folder_name}", task)
    pos, neg = (
        [senteval_text(line) for line in
         task_file(folder, name, task).read_text(encoding="latin-1").splitlines()]
        for name in (pos_name, neg_name)
    )
    return _sorted(pos + neg, [1] * len(pos) + [0] * len(neg))


def _read_labelled(path: Path, encoding: str, parse: Callable[[int, str], tuple[str, int]]) -> Labeled:
    """``parse(lineno, line) -> (sentence, label)`` over every line of ``path``."""
    sentences, labels = [], []
    with open(path, encoding=encoding) as f:
        for lineno, line in enumerate(f, start=1):
            sentence, label = parse(lineno, line)
            sentences.append(senteval_text(sentence))
            labels.append(label)
    return _sorted(sentences, labels)


@lru_cache(maxsize=None)
def read_sst2(data_dir: Path, split: str) -> Labeled:
    """SST-2 ``sentiment-<split>``: ``sentence<TAB>label`` per line."""
    folder = task_dir(data_dir, "downstream/SST/binary", "SST2")
    path = task_file(folder, SST_FILES[split], "SST2")

    def parse(lineno: int, line: str) -> tuple[str, int]:
        fields = tab_fields(path, lineno, line, 2)
        if fields[1] not in ("0", "1"):
            raise DataFormatError(path, lineno, f"label must be 0 or 1, got {fields[1]!r}")
        return fields[0], int(fields[1])

    return _read_labelled(path, "utf-8", parse)


@lru_cache(maxsize=None)
def read_trec(data_dir: Path, split: str) -> Labeled:
    """TREC ``COARSE:fine question`` per line; label = index of COARSE in TREC_CLASSES."""
    folder = task_dir(data_dir, "downstream/TREC", "TREC")
    path = task_file(folder, TREC_FILES[split], "TREC")

    def parse(lineno: int, line: str) -> tuple[str, int]:
        target, _, rest = line.strip().partition(":")
        words = rest.split(" ", 1)
        if target not in TREC_CLASSES or len(words) < 2:
            raise DataFormatError(path, lineno, f"expected 'COARSE:fine question' with COARSE in {TREC_CLASSES}")
        return words[1], TREC_CLASSES.index(target)

    return _read_labelled(path, "latin-1", parse)


@lru_cache(maxsize=None)
def read_mrpc(data_dir: Path, split: str) -> LabeledPairs:
    """MRPC ``Quality, #1 ID, #2 ID, #1 String, #2 String`` (one header line)."""
    folder = task_dir(data_dir, "downstream/MRPC", "MRPC")
    path = task_file(folder, MRPC_FILES[split], "MRPC")
    rows = []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, start=1):
            if lineno == 1:
                continue
            fields = tab_fields(path, lineno, line, 5)
            if fields[0] not in ("0", "1"):
                raise DataFormatError(path, lineno, f"Quality must be 0 or 1, got {fields[0]!r}")
            rows.append((senteval_text(fields[3]), senteval_text(fields[4]), int(fields[0])))
    # SentEval: sorted by (len A, len B, label)
    rows.sort(key=lambda z: (_n_words(z[0]), _n_words(z[1]), z[2]))
    return LabeledPairs(*(tuple(col) for col in zip(*rows)))  # type: ignore[arg-type]


def transfer_files(data_dir: Path, task: str) -> list[Path]:
    """The files the reader of ``task`` opens (for checksums)."""
    root = Path(data_dir) / "downstream"
    if task in BINARY_FILES:
        folder, *names = BINARY_FILES[task]
        return [root / folder / name for name in names]
    if task == "SST2":
        return [root / "SST" / "binary" / name for name in SST_FILES.values()]
    if task == "TREC":
        return [root / "TREC" / name for name in TREC_FILES.values()]
    if task == "MRPC":
        return [root / "MRPC" / name for name in MRPC_FILES.values()]
    raise ValueError(f"unknown transfer task {task!r}")
