"""Results as the paper prints them (markdown) and as a JSON record with the settings."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

from simcse.evaluation.files import sha256

Columns = tuple[tuple[str, str], ...]
# (column title, result key), in the SimCSE paper's column order.
STS_COLUMNS: Columns = (
    ("STS12", "sts12_all"), ("STS13", "sts13_all"), ("STS14", "sts14_all"),
    ("STS15", "sts15_all"), ("STS16", "sts16_all"), ("STS-B", "stsb_spearman"),
    ("SICK-R", "sickr_spearman"), ("Avg.", "avg_sts"),
)
TRANSFER_COLUMNS: Columns = (
    ("MR", "mr_acc"), ("CR", "cr_acc"), ("SUBJ", "subj_acc"), ("MPQA", "mpqa_acc"),
    ("SST", "sst2_acc"), ("TREC", "trec_acc"), ("MRPC", "mrpc_acc"), ("Avg.", "avg_transfer"),
)
# dev mode shows validation numbers: STS-B/SICK-R dev, transfer dev accuracies.
DEV_STS_COLUMNS: Columns = (("STS-B", "stsb_spearman"), ("SICK-R", "sickr_spearman"), ("Avg.", "avg_sts"))
DEV_TRANSFER_COLUMNS: Columns = tuple(
    (title, key.replace("_acc", "_devacc").replace("avg_transfer", "avg_transfer_dev"))
    for title, key in TRANSFER_COLUMNS
)
GEOMETRY_COLUMNS: Columns = (("align", "align"), ("uniform", "uniform"))
# The user's evaluators (simcse.evaluation.user), keys "<name>/<metric>": one table per kind,
# one row per (model, evaluator name); (column title, metric, digits).
UserColumns = tuple[tuple[str, str, int], ...]
USER_FAMILIES: tuple[UserColumns, ...] = (
    (("Spearman", "spearman", 2), ("Pearson", "pearson", 2)),
    (("AP", "ap", 2), ("F1", "f1", 2), ("F1 cut", "f1_threshold", 4), ("P", "precision", 2),
     ("R", "recall", 2), ("Acc.", "accuracy", 2), ("Acc. cut", "accuracy_threshold", 4)),
    (("nDCG@10", "ndcg@10", 2), ("MRR@10", "mrr@10", 2), ("R@1", "recall@1", 2), ("R@10", "recall@10", 2),
     ("R@100", "recall@100", 2), ("MAP@100", "map@100", 2)),
    (("align", "align", 3), ("uniform", "uniform", 3), ("anisotropy", "anisotropy", 3)),
)


def _table(rows: Mapping[str, Mapping[str, float]], columns: Columns, digits: int) -> str:
    head = "| Model | " + " | ".join(title for title, _ in columns) + " |"
    rule = "|---|" + "---:|" * len(columns)
    body = [
        f"| {model} | "
        + " | ".join(f"{res[key]:.{digits}f}" if key in res else "–" for _, key in columns)
        + " |"
        for model, res in rows.items()
    ]
    return "\n".join([head, rule, *body])


def _user_tables(rows: Mapping[str, Mapping[str, float]]) -> list[str]:
    """Tables of the ``"<name>/<metric>"`` keys: an evaluator goes to the first family one of
    whose metrics it reports."""
    names = list(dict.fromkeys(k.rsplit("/", 1)[0] for res in rows.values() for k in res if "/" in k))
    tables = []
    for columns in USER_FAMILIES:
        members = [n for n in names if any(f"{n}/{m}" in res for res in rows.values() for _, m, _ in columns)]
        names = [n for n in names if n not in members]
        if not members:
            continue
        head = "| Model | Data | " + " | ".join(title for title, _, _ in columns) + " |"
        body = [
            f"| {model} | {name} | " + " | ".join(
                f"{res[f'{name}/{m}']:.{d}f}" if f"{name}/{m}" in res else "–" for _, m, d in columns) + " |"
            for model, res in rows.items() for name in members if any(k.startswith(f"{name}/") for k in res)
        ]
        tables.append("\n".join([head, "|---|---|" + "---:|" * len(columns), *body]))
    return tables


def markdown_tables(rows: Mapping[str, Mapping[str, float]], mode: str) -> str:
    """One markdown table per task family present in ``rows`` ({model: results}), in the
    paper's column order; a task not run shows "–". ``mode="dev"`` shows dev columns.
    The user's evaluators (keys ``"<name>/<metric>"``) follow, one table per kind."""
    families = [
        (DEV_STS_COLUMNS if mode == "dev" else STS_COLUMNS, 2),
        (DEV_TRANSFER_COLUMNS if mode == "dev" else TRANSFER_COLUMNS, 2),
        (GEOMETRY_COLUMNS, 3),
    ]
    tables = [
        _table(rows, columns, digits)
        for columns, digits in families
        if any(key in res for res in rows.values() for _, key in columns)
    ]
    return "\n\n".join(tables + _user_tables(rows))


def checksums(files: Sequence[Path], data_dir: Path) -> dict[str, str]:
    """{path relative to data_dir: sha256} for the files read."""
    return {Path(f).relative_to(data_dir).as_posix(): sha256(Path(f)) for f in files}


def write_json(
    path: str | os.PathLike,
    rows: Mapping[str, Mapping[str, float]],
    settings: Mapping[str, Any],
) -> None:
    """Write ``{"settings": settings, "results": {model: {key: value}}}`` (every number,
    unrounded) as indented JSON."""
    record = {"settings": dict(settings), "results": {m: dict(r) for m, r in rows.items()}}
    Path(path).write_text(json.dumps(record, indent=2, sort_keys=False) + "\n", encoding="utf-8")
