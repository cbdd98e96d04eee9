"""``simcse serve``: the HTTP API (FastAPI + uvicorn) and the demo page at ``/``.

Its flags come from :class:`simcse.serve.ServeConfig` (listening, limits, timeouts), the
model's :class:`~simcse.cli.common.ModelOptions`, ``--index`` and the index's search tuning.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from pathlib import Path

from simcse.cli.common import ModelOptions, SearchTuning, add_model_flags, load_index_and_model, load_model
from simcse.errors import MissingDependencyError
from simcse.serve.config import INSTALL_HINT, ServeConfig
from simcse.settings import add_flags, from_args, setting

API_KEY_ENV = "SIMCSE_API_KEY"  # the API key when --api-key is not given (keeps it out of `ps`)


@dataclass(frozen=True)
class ServeIndex:
    """The index ``simcse serve`` answers ``/search`` from, if any."""

    index: Path | None = setting(None, "index folder for /search (its manifest names the model); an index of "
                                 "documents is rewritten after each change through /documents", metavar="FOLDER")


def add_parser(sub) -> None:
    p = sub.add_parser("serve", help="serve /encode, /similarity, /search and a demo page over HTTP",
                       description=__doc__)
    add_flags(p, ServeConfig, defaults={"api_key": f"${API_KEY_ENV}"})
    add_model_flags(p, model_default="the index's with --index")
    add_flags(p, ServeIndex)
    add_flags(p, SearchTuning)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    env_key = {} if hasattr(args, "api_key") or not os.environ.get(API_KEY_ENV) else {"api_key": os.environ[API_KEY_ENV]}
    config = from_args(ServeConfig, args, **env_key)
    try:
        import fastapi  # noqa: F401  (both checked here, before a model is loaded for nothing)
        import uvicorn  # noqa: F401
    except ImportError:
        raise MissingDependencyError(INSTALL_HINT) from None
    from simcse.serve import create_app
    from simcse.serve import run as serve

    folder, opts = from_args(ServeIndex, args).index, from_args(ModelOptions, args)
    if folder is not None:
        index, model = load_index_and_model(folder, opts, from_args(SearchTuning, args))
    else:
        index, model = None, load_model(opts)
    serve(create_app(model, index, config, folder=folder), config)
    return 0


__all__ = ["API_KEY_ENV", "ServeIndex", "add_parser", "run"]
