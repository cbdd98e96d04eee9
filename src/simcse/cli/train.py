"""``simcse train``: contrastive training (unsupervised or supervised SimCSE).

Every flag is a field of :class:`simcse.train.TrainConfig`; ``--preset`` and ``--config``
(JSON or TOML with the same keys) fill in values that explicit flags then override.
"""

from __future__ import annotations

import argparse


def add_parser(sub) -> None:
    from simcse.train.config import PRESETS, add_config_flags

    p = sub.add_parser("train", help="train a SimCSE model", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", default=None, help=f"named recipe: {', '.join(PRESETS)}")
    p.add_argument("--config", default=None, help="JSON or TOML file of settings (keys = flag names with _)")
    p.add_argument("--print-config", action="store_true", help="print the resolved settings as JSON and exit")
    add_config_flags(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import dataclasses
    import json

    from simcse.train import train
    from simcse.train.config import config_from_args

    cfg = config_from_args(args)
    if args.print_config:
        print(json.dumps(dataclasses.asdict(cfg), indent=2))
        return 0
    result = train(cfg)
    print(summary(result))
    return 0


def summary(result) -> str:
    """What was kept and why, in one plain line."""
    where = f"model saved to {result.model_dir}"
    if result.metric is None:
        return f"trained {result.steps} steps; {where}"
    score = f"{result.metric}: start {result.first_score:.4g}" if result.first_score is not None else result.metric + ":"
    if result.kept_last:
        return f"{score}, best {result.best_score:.4g} at step {result.best_step}; kept the last step ({result.steps}) as asked; {where}"
    if result.best_step == 0:
        return (f"{score}; no step of {result.steps} beat the starting model, so the starting model is kept; {where}")
    return f"{score} -> best {result.best_score:.4g} at step {result.best_step} of {result.steps}; {where}"
