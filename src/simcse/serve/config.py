"""``ServeConfig``: where the server listens, who may call it, and how much one request may ask."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Literal

from simcse.errors import ConfigError
from simcse.settings import check_fields, setting

INSTALL_HINT = "the server needs FastAPI and uvicorn: pip install 'simcse[serve]'"
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "[::1]")  # as they appear in a Host header
BODY_OVERHEAD = 4096  # bytes of JSON around the texts: keys, brackets, top_k, threshold
BYTES_PER_CHAR = 12  # the longest JSON spelling of one character: a surrogate pair "\ud83d\ude00"


def is_unspecified(host: str) -> bool:
    """True for the any-interface addresses ``0.0.0.0`` and ``::``."""
    try:
        return ipaddress.ip_address(host).is_unspecified
    except ValueError:
        return False


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

    host: str = setting("127.0.0.1", "bind address; anything but loopback requires --api-key")
    port: int = setting(8000, "TCP port (0 = any free port)", min=0)
    api_key: str | None = setting(None, "require this value (8+ characters) in the X-API-Key header of every POST")
    max_texts: int = setting(64, "texts (or queries, or keys) per request", min=1)
    max_chars: int = setting(2000, "characters per text", min=1)
    max_top_k: int = setting(100, "largest top_k (and top_m) for /search", min=1)
    max_document_chars: int = setting(100_000, "characters per document in POST /documents (its body stays "
                                      "within --max-body-bytes)", min=1)
    max_body_bytes: int | None = setting(None, "largest request body, refused with 413 before it is read whole; "
                                         "none = the largest body a request within the text limits can need", min=1)
    allowed_hosts: tuple[str, ...] = setting((), "Host header names accepted besides localhost, 127.0.0.1, [::1] and "
                                             "--host (a defence against DNS rebinding); * = any, e.g. behind a proxy")
    timeout_keep_alive: int = setting(5, "seconds an idle keep-alive connection stays open", min=1)
    request_timeout: float = setting(30.0, "seconds a client has to send a whole request, headers and body, "
                                     "from its first byte (or from connecting); slower connections are closed")
    log_level: Literal["critical", "error", "warning", "info", "debug"] = setting("info", "uvicorn's log level")

    def __post_init__(self) -> None:
        check_fields(self)
        if not is_loopback(self.host) and not self.api_key:
            raise ConfigError(f"refusing to listen on non-loopback host {self.host!r} without --api-key")
        if is_unspecified(self.host) and not self.allowed_hosts:  # clients never send Host: 0.0.0.0
            raise ConfigError(f"--host {self.host} listens on every interface, but requests from other machines "
                              "name this one by its host name or address, which the Host allow-list would refuse "
                              "(400); pass --allowed-hosts with those names (or * behind a proxy that checks Host)")
        if self.api_key is not None and len(self.api_key) < 8:
            raise ConfigError("--api-key must be at least 8 characters")
        if self.port > 65535:
            raise ConfigError(f"port must be in 0..65535, got {self.port}")
        if not self.request_timeout > 0:
            raise ConfigError(f"request_timeout must be > 0 seconds, got {self.request_timeout}")
        for name in self.allowed_hosts:
            if "*" in name.removeprefix("*.") and name != "*":
                raise ConfigError(f"allowed_hosts: {name!r} is not a host name, *.domain or *")

    @property
    def body_limit(self) -> int:
        """``max_body_bytes``, or by default the largest body within the text limits: two
        lists (``/similarity``'s queries and keys) of ``max_texts`` texts of ``max_chars``
        characters, each character in its longest JSON spelling."""
        if self.max_body_bytes is not None:
            return self.max_body_bytes
        return 2 * self.max_texts * (self.max_chars * BYTES_PER_CHAR + 8) + BODY_OVERHEAD

    @property
    def hosts(self) -> list[str]:
        """The Host header names the server answers: loopback, the bind host, ``allowed_hosts``."""
        bind = f"[{self.host}]" if ":" in self.host else self.host
        return list(dict.fromkeys([*LOOPBACK_NAMES, bind.lower(), *(h.lower() for h in self.allowed_hosts)]))


__all__ = ["BODY_OVERHEAD", "BYTES_PER_CHAR", "INSTALL_HINT", "LOOPBACK_NAMES", "ServeConfig", "is_loopback",
           "is_unspecified"]
