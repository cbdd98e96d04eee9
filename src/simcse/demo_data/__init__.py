"""A small demo data set shipped with simcse, so that ``make demo`` runs without internet.

* ``wiki1m_for_simcse.first3200lines.txt.gz``: the first 3,200 lines of SimCSE's
  ``wiki1m_for_simcse.txt`` (English Wikipedia sentences, CC BY-SA 3.0), exactly the rows the
  ``demo-minilm`` preset trains on;
* ``sts-dev.csv.gz``: the STS Benchmark dev split (1,500 pairs) of SimCSE's SentEval archive
  (scores CC BY-SA 4.0; each source's terms for the text, in ``STSBenchmark-LICENSE.txt``).

Sources, licences and citations: ``ATTRIBUTION.txt`` in this folder. :func:`write_data_dir`
writes the files uncompressed in the data-dir layout that ``simcse train`` reads.
"""

from __future__ import annotations

import gzip
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING

from simcse.atomic import atomic_file

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

# Where each packaged file goes under a data dir -> its name in this package (gzip).
FILES: dict[str, str] = {
    "training/wiki1m_for_simcse.txt": "wiki1m_for_simcse.first3200lines.txt.gz",
    "downstream/STS/STSBenchmark/sts-dev.csv": "sts-dev.csv.gz",
}
ATTRIBUTION = "ATTRIBUTION.txt"
LICENSES = ("STSBenchmark-LICENSE.txt",)


def packaged(name: str) -> Traversable:
    """A file of this package by name (a key's value in :data:`FILES`, or :data:`ATTRIBUTION`)."""
    return files(__name__) / name


def read(dest: str) -> bytes:
    """The uncompressed bytes of the packaged file for data-dir path ``dest`` (a key of :data:`FILES`)."""
    with packaged(FILES[dest]).open("rb") as fh:
        return gzip.decompress(fh.read())


def write_data_dir(root: str | Path) -> Path:
    """Write every file of :data:`FILES` under ``root`` (atomically; an identical file is kept)
    and return ``root``: a data dir that holds the demo's training file and STS-B dev."""
    root = Path(root)
    for dest in FILES:
        data, path = read(dest), root / dest
        if path.is_file() and path.read_bytes() == data:
            continue
        with atomic_file(path) as out:
            out.write(data)
    return root


__all__ = ["ATTRIBUTION", "FILES", "LICENSES", "packaged", "read", "write_data_dir"]
