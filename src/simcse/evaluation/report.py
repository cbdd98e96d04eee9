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


def markdown_tables(rows: Mapping[str, Mapping[str, float]], mode: str) -> str:
    """One markdown table per task family present in ``rows`` ({model: results}), in the
    paper's column order; a task not run shows "–". ``mode="dev"`` shows dev columns."""
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
    return "\n\n".join(tables)


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
