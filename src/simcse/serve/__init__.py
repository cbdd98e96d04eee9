"""The HTTP API and demo page: ``simcse serve`` (``pip install 'simcse[serve]'``)."""

from simcse.serve.config import ServeConfig

__all__ = ["ServeConfig", "create_app", "run"]


def create_app(*args, **kwargs):
    """See :func:`simcse.serve.app.create_app` (imported lazily: FastAPI is optional)."""
    from simcse.serve.app import create_app as _create_app

    return _create_app(*args, **kwargs)


def run(*args, **kwargs):
    """See :func:`simcse.serve.server.run` (imported lazily: uvicorn is optional)."""
    from simcse.serve.server import run as _run

    return _run(*args, **kwargs)
