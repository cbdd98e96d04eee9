"""The corruption matrix as a table: every case of ``tests/corruption_cases.py`` run through the
``simcse`` command line, in a subprocess.

    python bench/corruption_matrix.py [--only TEXT] [--per-case-process]

Prints a markdown table (artefact | file | corruption | exit | first line of stderr |
traceback? | expected) and a summary; exits 1 if any case misbehaves (a traceback, a refusal
that is not exactly one line with exit 2, or a load that is not documented in its case).

By default one worker subprocess builds the sound folders and runs every case through
``simcse.cli.main`` with file descriptors 1 and 2 redirected to files, so everything the
process writes counts (logging, progress bars, C libraries); an exception escaping ``main`` is
recorded as the interpreter would report it (traceback, exit 1). This takes about a minute.
``--per-case-process`` starts ``python -m simcse.cli`` for every case instead: the exact
command, at ~10 s a case on a busy machine.

New cases and artefact kinds (e.g. training checkpoints) go into ``tests/corruption_cases.py``:
``CASES`` rows and ``ARTEFACTS`` entries; this script needs no change.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import traceback
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from corruption_cases import ARTEFACTS, CASES, Case, damaged_copy  # noqa: E402

ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}


@contextlib.contextmanager
def captured_fds(out: Path, err: Path):
    """Point file descriptors 1 and 2 at files for the duration (Python's streams follow)."""
    sys.stdout.flush(), sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with open(out, "wb") as fo, open(err, "wb") as fe:
        os.dup2(fo.fileno(), 1), os.dup2(fe.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush(), sys.stderr.flush()
            os.dup2(saved[0], 1), os.dup2(saved[1], 2)
            os.close(saved[0]), os.close(saved[1])


def run_in_process(argv: list[str], scratch: Path) -> tuple[int, str]:
    """``simcse argv`` via ``main``; an escaping exception is a traceback and exit 1, as at top level."""
    from simcse.cli import main

    with captured_fds(scratch / "out", scratch / "err"):
        try:
            code = main(argv)
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else 1
        except BaseException:  # noqa: BLE001 - reported like the interpreter would
            traceback.print_exc()
            code = 1
    return code, (scratch / "err").read_text(errors="replace")


def run_in_subprocess(argv: list[str], scratch: Path) -> tuple[int, str]:
    done = subprocess.run([sys.executable, "-m", "simcse.cli", *argv], capture_output=True, text=True, env=ENV)
    return done.returncode, done.stderr


def run_cases(cases: list[Case], work: Path, per_case_process: bool) -> list[dict]:
    sound = {name: ARTEFACTS[name].build(work) for name in dict.fromkeys(c.artefact for c in cases)}
    run = run_in_subprocess if per_case_process else run_in_process
    rows = []
    for case in cases:
        damaged = work / "damaged"
        shutil.rmtree(damaged, ignore_errors=True)
        damaged_copy(case, sound[case.artefact], damaged)
        code, err = run(ARTEFACTS[case.artefact].argv(damaged), work)
        rows.append({"id": case.id, "code": code, "stderr": err.replace(str(damaged), "DIR")})
    return rows


def worker(work: Path, only: str, per_case_process: bool) -> None:
    """Subprocess entry: run the cases, write the rows as JSON to work/rows.json."""
    rows = run_cases([c for c in CASES if only in c.id], work, per_case_process)
    (work / "rows.json").write_text(json.dumps(rows))


def verdict(case: Case, code: int, err: str) -> str:
    lines = err.strip().splitlines()
    if "Traceback (most recent call last)" in err:
        return "PROBLEM: traceback"
    if case.loads:
        return "loads by design" if code == 0 else f"PROBLEM: exit {code}, but documented to load"
    if code == 2 and len(lines) == 1 and case.file in lines[0]:
        return "refused"
    return "PROBLEM: " + ("exit 0 (silently loaded)" if code == 0 else "not one line naming the file")


def table(rows: list[dict]) -> tuple[str, Counter]:
    """The markdown table, and how many rows got each verdict ("refused", "loads by design", "PROBLEM")."""
    cases = {c.id: c for c in CASES}
    out = ["| artefact | file | corruption | exit | first line of stderr | traceback? | verdict |",
           "|---|---|---|---|---|---|---|"]
    counts: Counter = Counter()
    for row in rows:
        case, err = cases[row["id"]], row["stderr"]
        first = next((line for line in err.splitlines() if line.strip()), "")
        first = first if len(first) <= 100 else first[:97] + "..."
        result = verdict(case, row["code"], err)
        counts[result.split(":")[0]] += 1
        cells = [case.artefact, f"`{case.file}`", case.corruption, str(row["code"]), first.replace("|", "\\|"),
                 "yes" if "Traceback" in err else "no", result]
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out), counts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default="", help="run the cases whose id (artefact:file:corruption) contains this")
    parser.add_argument("--per-case-process", action="store_true", help="one `python -m simcse.cli` per case")
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.only, args.per_case_process)
        return 0
    with tempfile.TemporaryDirectory(prefix="corruption_matrix_") as tmp:
        command = [sys.executable, __file__, "--worker", tmp, "--only", args.only]
        subprocess.run(command + (["--per-case-process"] if args.per_case_process else []), check=True, env=ENV,
                       stdout=subprocess.DEVNULL)
        rows = json.loads((Path(tmp) / "rows.json").read_text())
    text, counts = table(rows)
    print(text)
    print(f"\n{len(rows)} cases: {counts['refused']} refused in one line with exit 2, "
          f"{counts['loads by design']} load by design, {counts['PROBLEM']} problems")
    return 1 if counts["PROBLEM"] else 0


if __name__ == "__main__":
    sys.exit(main())
