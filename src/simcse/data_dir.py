"""Where data sets live: one setting.

Precedence: an explicit ``--data-dir`` flag, then the ``SIMCSE_DATA_DIR`` environment
variable, then a per-user cache folder (``$XDG_CACHE_HOME/simcse/data`` or
``~/.cache/simcse/data``). The folder holds the SentEval layout (``downstream/...``)
and training files (``training/...``).
"""

from __future__ import annotations

import os
from pathlib import Path

ENV_VAR = "SIMCSE_DATA_DIR"
DEFAULT_TEXT = f"${ENV_VAR}, else $XDG_CACHE_HOME/simcse/data or ~/.cache/simcse/data"  # for --help


def data_dir(override: str | os.PathLike | None = None) -> Path:
    """Return the data folder (not created, not checked)."""
    if override:
        return Path(override).expanduser()
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR]).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "simcse" / "data"


__all__ = ["DEFAULT_TEXT", "ENV_VAR", "data_dir"]
