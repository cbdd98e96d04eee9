"""``simcse train``: contrastive training (unsupervised or supervised SimCSE).

Every flag is a field of :class:`simcse.train.TrainConfig`; ``--preset`` and ``--config``
(JSON or TOML with the same keys) fill in values that explicit flags then override.
"""

from __future__ import annotations

import argparse
import dataclasses
import json

from simcse import distributed as dist
from simcse.train import TrainResult, train
from simcse.train.config import PRESETS, add_config_flags, config_from_args


def add_parser(sub) -> None:
    p = sub.add_parser("train", help="train a SimCSE model", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", default=None, help=f"named recipe: {', '.join(PRESETS)}")
    p.add_argument("--config", default=None, help="JSON or TOML file of settings (keys = flag names with _)")
    p.add_argument("--print-config", action="store_true", help="print the resolved settings as JSON and exit")
    add_config_flags(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    cfg = config_from_args(args)
    if args.print_config:
        print(json.dumps(dataclasses.asdict(cfg), indent=2))
        return 0
    result = train(cfg)
    if dist.rank() == 0:
        print(summary(result))
    return 0


def summary(result: TrainResult) -> str:
    """What was kept and why, in one plain line."""
    where = f"model saved to {result.model_dir}"
    if result.metric is None:
        return f"trained {result.steps} steps; {where}"
    if result.best_step is None:
        return f"{result.metric}: no evaluation gave a finite score; kept the last step ({result.steps}); {where}"
    start = f"{result.metric}: start {result.first_score:.4g}"
    if result.kept_last:
        return (f"{start}, best {result.best_score:.4g} at step {result.best_step}; kept the last step "
                f"({result.steps}) as asked; {where}")
    if result.best_step == 0:
        return f"{start}; no step of {result.steps} beat the starting model, so the starting model is kept; {where}"
    return f"{start} -> best {result.best_score:.4g} at step {result.best_step} of {result.steps}; {where}"


__all__ = ["add_parser", "run", "summary"]
