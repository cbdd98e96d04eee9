"""``ServeConfig``: where the server listens, who may call it, and how much one request may ask."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

INSTALL_HINT = "the server needs FastAPI and uvicorn: pip install 'simcse[serve]'"


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class ServeConfig:
    """``simcse serve``: one field per flag (the model and index are separate arguments)."""

    host: str = "127.0.0.1"  # bind address; anything but loopback requires api_key
    port: int = 8000
    api_key: str | None = None  # when set, POST endpoints require the header X-API-Key
    max_texts: int = 64  # texts (or queries) per request
    max_chars: int = 2000  # characters per text
    max_top_k: int = 100  # largest top_k for /search

    def __post_init__(self) -> None:
        if not is_loopback(self.host) and not self.api_key:
            raise ValueError(f"refusing to listen on non-loopback host {self.host!r} without --api-key")
        if self.api_key is not None and len(self.api_key) < 8:
            raise ValueError("--api-key must be at least 8 characters")
        for name in ("max_texts", "max_chars", "max_top_k"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must be in 0..65535, got {self.port}")
