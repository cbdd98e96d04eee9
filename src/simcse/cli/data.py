"""``simcse data download NAME``: fetch the official SimCSE data into the data folder."""

from __future__ import annotations

import argparse


def add_parser(sub) -> None:
    from simcse.download import DATASETS

    p = sub.add_parser("data", help="download training and evaluation data", description=__doc__)
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    d = actions.add_parser("download", help="fetch a data set (resumable, checked, atomic)")
    d.add_argument("name", choices=list(DATASETS), help="wiki1m (unsupervised), nli (supervised), senteval (evaluation)")
    d.add_argument("--data-dir", default=None, help="target folder (default: $SIMCSE_DATA_DIR or ~/.cache/simcse/data)")
    source = d.add_mutually_exclusive_group()
    source.add_argument("--mirror", default=None, help="base URL holding the same file names")
    source.add_argument("--from-folder", default=None, help="copy the files from this local folder instead")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from simcse.data_dir import data_dir
    from simcse.download import download

    for path in download(args.name, data_dir(args.data_dir), mirror=args.mirror, from_folder=args.from_folder):
        print(f"{args.name}: {path}")
    return 0
