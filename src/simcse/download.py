"""``simcse data download``: the official SimCSE data files, fetched resumably and atomically.

Sources (princeton-nlp/SimCSE ``data/download_wiki.sh``, ``data/download_nli.sh`` and
``SentEval/data/downstream/download_dataset.sh``) all live under :data:`OFFICIAL_BASE`.
A download goes to ``<file>.part`` and resumes it with an HTTP ``Range`` request; the
size is checked against the server's length (and the registry's size and SHA-256 where
known) before the file is renamed into place. ``--mirror`` swaps the base URL;
``--from-folder`` copies the same file names from a local folder instead.

Every failure is a :class:`~simcse.errors.DownloadError` (or, for a ``--from-folder`` that
lacks the file, a :class:`~simcse.errors.MissingFileError`) whose one-line message names the
URL or file and the ways out: a mirror, a local folder, or a data dir that holds the files.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import re
import shutil
import tarfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from simcse.atomic import atomic_dir, atomic_file, fsync_dir
from simcse.data_dir import ENV_VAR
from simcse.errors import ConfigError, DownloadError, MissingFileError

log = logging.getLogger(__name__)

OFFICIAL_BASE = "https://huggingface.co/datasets/princeton-nlp/datasets-for-simcse/resolve/main"
CHUNK = 1 << 20
TIMEOUT = 60.0  # seconds a connection or a read may stall before the download fails


@dataclass(frozen=True)
class RemoteFile:
    """One file of a data set: its name at the source, where it goes under the data folder,
    and the expected size / SHA-256 when known (None = checked against the server's length only)."""

    name: str
    dest: str
    size: int | None = None
    sha256: str | None = None
    extract_to: str | None = None  # a tar unpacked into this folder (relative to the data dir)


DATASETS: dict[str, tuple[RemoteFile, ...]] = {
    "wiki1m": (RemoteFile("wiki1m_for_simcse.txt", "training/wiki1m_for_simcse.txt"),),
    "nli": (RemoteFile("nli_for_simcse.csv", "training/nli_for_simcse.csv"),),
    "senteval": (RemoteFile("senteval.tar", "downstream/senteval.tar", extract_to="downstream"),),
}
# Training file names a config may refer to, and the data set that provides each.
TRAINING_FILES: dict[str, str] = {f.name: key for key, files in DATASETS.items() for f in files if f.dest.startswith("training/")}


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def _verify(path: Path, spec: RemoteFile, expected_size: int | None, source: str) -> None:
    """Short files are kept for a resume; a file too long or with the wrong hash is removed."""
    size = path.stat().st_size
    for want in (expected_size, spec.size):
        if want is not None and size < want:
            raise DownloadError(f"{source}: incomplete (got {size} of {want} bytes); run again to resume")
        if want is not None and size > want:
            path.unlink()
            raise DownloadError(f"{source}: got {size} bytes, expected {want}; removed")
    if spec.sha256 is not None and _sha256(path) != spec.sha256:
        path.unlink()
        raise DownloadError(f"{source}: SHA-256 mismatch (expected {spec.sha256}); removed")


def fetch(url: str, dest: Path, spec: RemoteFile, timeout: float | None = None) -> Path:
    """Download ``url`` to ``dest`` through ``dest.part``, resuming a previous partial file.
    ``timeout`` (default :data:`TIMEOUT`) bounds each connect and each read, in seconds."""
    part = dest.with_name(dest.name + ".part")
    dest.parent.mkdir(parents=True, exist_ok=True)
    have = part.stat().st_size if part.exists() else 0
    try:
        request = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
        response = urllib.request.urlopen(request, timeout=TIMEOUT if timeout is None else timeout)
    except urllib.error.HTTPError as err:
        if err.code == 416 and have:  # nothing left to send: the part file is complete
            _verify(part, spec, None, url)
            os.replace(part, dest)
            return dest
        raise DownloadError(f"{url}: HTTP {err.code} {err.reason}") from None
    except urllib.error.URLError as err:  # refused, DNS failure, TLS, a connect timeout
        raise DownloadError(f"{url}: {err.reason}") from None
    except (OSError, http.client.HTTPException, ValueError) as err:  # a read timeout, a hang-up, a bad URL
        raise DownloadError(f"{url}: {err or type(err).__name__}") from None
    with response:
        total = None
        if response.status == 206:
            match = re.match(r"bytes (\d+)-\d+/(\d+|\*)", response.headers.get("Content-Range", ""))
            if not match or int(match.group(1)) != have:
                raise DownloadError(f"{url}: server resumed at the wrong offset ({response.headers.get('Content-Range')})")
            total = None if match.group(2) == "*" else int(match.group(2))
            mode = "ab"
        else:  # 200: the server sent the whole file (Range unsupported or first try)
            have, mode = 0, "wb"
            length = response.headers.get("Content-Length")
            total = int(length) if length is not None else None
        log.info("downloading %s (%s bytes, resuming at %d)", url, total, have)
        with open(part, mode) as fh:
            try:
                shutil.copyfileobj(response, fh, CHUNK)
            except (http.client.HTTPException, OSError) as err:
                raise DownloadError(f"{url}: interrupted after {have + fh.tell()} bytes ({err!r}); run again to resume") from None
            finally:
                fh.flush()
                os.fsync(fh.fileno())
    _verify(part, spec, total, url)
    os.replace(part, dest)  # only a checked file ever takes the final name
    fsync_dir(dest.parent)
    return dest


def _copy(source: Path, dest: Path, spec: RemoteFile) -> Path:
    if not source.is_file():
        raise MissingFileError(f"{source}: no such file (--from-folder needs {spec.name})")
    with atomic_file(dest) as out, open(source, "rb") as src:
        shutil.copyfileobj(src, out, CHUNK)
    try:
        _verify(dest, spec, source.stat().st_size, str(source))
    except DownloadError:
        dest.unlink(missing_ok=True)
        raise
    return dest


def _extract(archive: Path, target: Path) -> None:
    """Unpack ``archive`` into ``target`` (replacing it atomically); a single top-level folder
    named like the target is unwrapped."""
    with atomic_dir(target) as tmp:
        try:
            with tarfile.open(archive) as tar:
                tar.extractall(tmp, filter="data")
        except tarfile.TarError as err:
            raise DownloadError(f"{archive}: not a readable tar archive ({err}); remove it and download again") from None
        entries = [p for p in tmp.iterdir() if p.name != archive.name]
        if len(entries) == 1 and entries[0].is_dir() and entries[0].name == target.name:
            for child in entries[0].iterdir():
                os.replace(child, tmp / child.name)
            entries[0].rmdir()
        if archive.parent == target:  # keep the archive next to its content
            os.replace(archive, tmp / archive.name)


def ways_out(name: str, spec: RemoteFile) -> str:
    """What a user can do when data set ``name`` cannot be fetched (one line, for messages)."""
    holds = spec.dest if spec.extract_to is None else f"{spec.extract_to}/ ({spec.name} unpacked)"
    return (f"to get it another way: `simcse data download {name} --mirror URL` (a server with the same file "
            f"names) or `--from-folder DIR` (a folder holding {spec.name}), or set {ENV_VAR} / --data-dir to a "
            f"folder that holds {holds}")


def download(
    name: str,
    root: Path,
    mirror: str | None = None,
    from_folder: str | os.PathLike | None = None,
    timeout: float | None = None,
) -> list[Path]:
    """Fetch data set ``name`` (a key of :data:`DATASETS`) into the data folder ``root``.

    A failure raises :class:`DownloadError` / :class:`MissingFileError` with a one-line message
    naming the URL (or file) and :func:`ways_out`; the bare reason is its ``__cause__``."""
    if name not in DATASETS:
        raise ConfigError(f"unknown data set {name!r}; valid: {', '.join(DATASETS)}")
    out = []
    for spec in DATASETS[name]:
        dest = root / spec.dest
        try:
            if from_folder is not None:
                _copy(Path(from_folder) / spec.name, dest, spec)
            else:
                fetch(f"{(mirror or OFFICIAL_BASE).rstrip('/')}/{spec.name}", dest, spec, timeout)
            if spec.extract_to is not None:
                _extract(dest, root / spec.extract_to)
        except (DownloadError, MissingFileError) as err:
            one_line = " ".join(str(err).split())
            raise type(err)(f"{one_line}; {ways_out(name, spec)}") from err
        out.append(root / (spec.extract_to or spec.dest))
    return out


def find_training_file(name: str, root: Path, allow_prefix_copy: bool = False) -> Path | None:
    """A training file by path, by name under ``<root>/training/``, or (``allow_prefix_copy``)
    a prefix copy such as ``training/wiki1m_prefix/wiki1m_for_simcse.first11914lines.txt``."""
    path = Path(name).expanduser()
    if path.is_file():
        return path
    if path.name != name:  # a path that does not exist
        return None
    if (root / "training" / name).is_file():
        return root / "training" / name
    if allow_prefix_copy:
        copies = sorted((root / "training").glob(f"*/{path.stem}.*{path.suffix}"))
        if copies:
            return copies[0]
    return None


__all__ = ["DATASETS", "OFFICIAL_BASE", "DownloadError", "RemoteFile", "download", "fetch", "find_training_file", "ways_out"]
