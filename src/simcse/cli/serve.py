"""``simcse serve``: the HTTP API (FastAPI + uvicorn) and the demo page at ``/``."""

from __future__ import annotations

import argparse
import os

from simcse.cli.encode import add_model_args, load_model
from simcse.cli.search import add_search_param_args, load_index_and_model


def add_parser(sub) -> None:
    p = sub.add_parser("serve", help="serve /encode, /similarity, /search and a demo page over HTTP",
                       description=__doc__)
    add_model_args(p)
    p.set_defaults(model=None)
    p.add_argument("--index", default=None, help="index folder for /search (its manifest names the model)")
    p.add_argument("--host", default="127.0.0.1", help="bind address; non-loopback needs --api-key")
    p.add_argument("--port", type=int, default=8000, help="TCP port")
    p.add_argument("--api-key", default=os.environ.get("SIMCSE_API_KEY"),
                   help="require this value in the X-API-Key header (default: $SIMCSE_API_KEY)")
    p.add_argument("--max-texts", type=int, default=64, help="texts per request")
    p.add_argument("--max-chars", type=int, default=2000, help="characters per text")
    p.add_argument("--max-top-k", type=int, default=100, help="largest top_k for /search")
    add_search_param_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from simcse.model_registry import DEFAULT_MODEL
    from simcse.serve.config import INSTALL_HINT, ServeConfig

    config = ServeConfig(host=args.host, port=args.port, api_key=args.api_key, max_texts=args.max_texts,
                         max_chars=args.max_chars, max_top_k=args.max_top_k)
    try:
        import uvicorn

        from simcse.serve.app import create_app
    except ImportError:
        from simcse.cli import CLIError

        raise CLIError(INSTALL_HINT) from None
    if args.index:
        index, model = load_index_and_model(args)
    else:
        args.model = args.model or DEFAULT_MODEL
        index, model = None, load_model(args)
    uvicorn.run(create_app(model, index, config), host=config.host, port=config.port, log_level="info")
    return 0
