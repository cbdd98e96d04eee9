"""``simcse data download NAME``: fetch the official SimCSE data into the data folder."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

from simcse.data_dir import DEFAULT_TEXT as DATA_DIR_DEFAULT
from simcse.errors import ConfigError
from simcse.settings import add_flags, check_fields, from_args, setting


def _datasets() -> tuple[str, ...]:
    from simcse.download import DATASETS

    return tuple(DATASETS)


@dataclass(frozen=True)
class DownloadConfig:
    """``simcse data download``: one field per flag."""

    name: str = setting(help="the data set to fetch", positional=True, choices=_datasets)
    data_dir: Path | None = setting(None, "target folder", shown_default=DATA_DIR_DEFAULT)
    mirror: str | None = setting(None, "base URL holding the same file names")
    from_folder: Path | None = setting(None, "copy the files from this local folder instead")

    def __post_init__(self) -> None:
        check_fields(self)
        if self.mirror is not None and self.from_folder is not None:
            raise ConfigError("--mirror and --from-folder exclude each other")


def add_parser(sub) -> None:
    p = sub.add_parser("data", help="download training and evaluation data", description=__doc__)
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    d = actions.add_parser("download", help="fetch a data set (resumable, checked, atomic)")
    add_flags(d, DownloadConfig)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from simcse.data_dir import data_dir
    from simcse.download import download

    cfg = from_args(DownloadConfig, args)
    for path in download(cfg.name, data_dir(cfg.data_dir), mirror=cfg.mirror, from_folder=cfg.from_folder):
        print(f"{cfg.name}: {path}")
    return 0


__all__ = ["DownloadConfig", "add_parser", "run"]
