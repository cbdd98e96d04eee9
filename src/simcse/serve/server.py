"""Running the app under uvicorn with every option taken from :class:`ServeConfig`.

uvicorn closes a keep-alive connection that stays idle between requests
(``timeout_keep_alive``), but has no deadline for the request itself: a client that
connects and sends nothing, or drips its headers or body a byte at a time, holds the
connection forever. :class:`DeadlineH11Protocol` adds one: from the first byte of a request
(or from connecting) the client has ``request_timeout`` seconds to send it whole, headers and
body, or the connection is closed. Header size is bounded by h11 (16 KiB by default).
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from simcse.serve.config import ServeConfig

RECEIVING = (h11.IDLE, h11.SEND_BODY)  # the client's states while its request is incomplete


class DeadlineH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline for each request to arrive whole."""

    def __init__(self, *args: Any, request_timeout: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.request_timeout = request_timeout
        self.deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.arm()

    def data_received(self, data: bytes) -> None:
        if self.deadline is None:  # the first bytes of a new request
            self.arm()
        super().data_received(data)
        if self.conn.their_state not in RECEIVING:  # the whole request is in
            self.disarm()

    def connection_lost(self, exc: Exception | None) -> None:
        self.disarm()
        super().connection_lost(exc)

    def arm(self) -> None:
        self.disarm()
        self.deadline = self.loop.call_later(self.request_timeout, self.expire)

    def disarm(self) -> None:
        if self.deadline is not None:
            self.deadline.cancel()
            self.deadline = None

    def expire(self) -> None:
        self.deadline = None
        if self.conn.their_state in RECEIVING and not self.transport.is_closing():
            self.transport.close()


def server_config(app: Any, config: ServeConfig) -> uvicorn.Config:
    """The uvicorn settings for serving ``app`` as ``config`` says (host, port, timeouts, log level)."""
    protocol = functools.partial(DeadlineH11Protocol, request_timeout=config.request_timeout)
    return uvicorn.Config(app, host=config.host, port=config.port, http=protocol,  # type: ignore[arg-type]
                          timeout_keep_alive=config.timeout_keep_alive, log_level=config.log_level)


def run(app: Any, config: ServeConfig) -> None:
    """Serve ``app`` (from :func:`simcse.serve.app.create_app`) until interrupted."""
    uvicorn.Server(server_config(app, config)).run()


__all__ = ["RECEIVING", "DeadlineH11Protocol", "run", "server_config"]
