"""Test doubles for the server: a fake model and clients that send an allowed Host."""

from __future__ import annotations

import hashlib
import socket
import threading
import time
from contextlib import contextmanager
from typing import Iterator, Sequence

import numpy as np

KEY = "test-key-123"
JSON = {"Content-Type": "application/json"}


class FakeEmbedder:
    """The Embedder protocol without a model: deterministic vectors from a hash of each text.

    ``poison``: a text that makes ``encode`` raise, as a tokenizer fault would. ``first_call_delay``:
    seconds the first call holds the (single) encode thread, so that later requests queue up
    and are merged into one batch.
    """

    model_name, dim, pooler, fingerprint, weights_fingerprint = "fake", 8, "avg", "0" * 16, "0" * 16
    truncate_dim = None

    def __init__(self, poison: str | None = None, first_call_delay: float = 0.0) -> None:
        self.poison, self.delay, self.calls = poison, first_call_delay, []

    def encode(self, sentences: Sequence[str], batch_size: int = 64, normalize: bool = False,
               show_progress: bool | None = None) -> np.ndarray:
        self.calls.append(len(sentences))
        if len(self.calls) == 1:
            time.sleep(self.delay)
        if self.poison is not None and self.poison in sentences:
            raise RuntimeError("the tokenizer choked")
        rows = [np.frombuffer(hashlib.sha256(s.encode("utf-8")).digest()[: self.dim], np.uint8) for s in sentences]
        return np.stack(rows).astype(np.float32) - 127.5  # (N, 8)


def local_client(app, **kwargs):
    """A TestClient that says ``Host: localhost`` (the default, ``testserver``, is not allowed)."""
    from fastapi.testclient import TestClient

    return TestClient(app, base_url="http://localhost", **kwargs)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running(app, config) -> Iterator[str]:
    """``app`` served by uvicorn as ``config`` says, in a thread; yields its URL."""
    import uvicorn

    from simcse.serve.server import server_config

    server = uvicorn.Server(server_config(app, config))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start within 30 s")
        time.sleep(0.05)
    try:
        yield f"http://{config.host}:{config.port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
