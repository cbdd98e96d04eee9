"""The registry of search backends: name -> how to create one and how to load one."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any, Callable, NamedTuple, Protocol

import numpy as np

from simcse.errors import ConfigError
from simcse.index.exact import ExactBackend
from simcse.index.faiss_backend import KIND_PARAMS, FaissBackend, check_params
from simcse.index.quantized import QUANTIZED_PARAMS, QuantizedBackend, check_quantized_params
from simcse.index.store import VectorStore


class Backend(Protocol):
    """Search over a :class:`VectorStore`'s unit vectors by inner product."""

    name: str

    @property
    def params(self) -> dict[str, Any]: ...  # build and search parameters, saved in the manifest
    def add(self, vectors: np.ndarray, ids: np.ndarray) -> None: ...  # rows the store already holds
    def remove(self, ids: np.ndarray, rows: np.ndarray) -> None: ...  # ids the store already dropped, and their rows
    def rebuild(self) -> None: ...  # re-derive everything from the store
    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]: ...  # (Q, k) scores, ids
    def save(self, folder: Path) -> None: ...


class BackendEntry(NamedTuple):
    create: Callable[..., Backend]  # (store, **params) -> Backend
    load: Callable[[Path, VectorStore, dict[str, Any]], Backend]  # (folder, store, params) -> Backend
    defaults: dict[str, int]  # the parameters it accepts, with their defaults
    check: Callable[[dict[str, Any], int], dict[str, Any]]  # (params, dim) -> params with defaults; ConfigError

    @property
    def params(self) -> tuple[str, ...]:
        """The names of the parameters it accepts."""
        return tuple(self.defaults)


def _exact_params(params: dict[str, Any], dim: int) -> dict[str, Any]:
    if params:
        raise ConfigError(f"backend 'exact' takes no parameters, got {sorted(params)}")
    return {}


def _exact(store: VectorStore, **params: Any) -> ExactBackend:
    _exact_params(params, store.dim)
    return ExactBackend(store)


BACKENDS: dict[str, BackendEntry] = {
    "exact": BackendEntry(_exact, ExactBackend.load, {}, _exact_params),
    **{
        kind: BackendEntry(partial(FaissBackend, kind), partial(FaissBackend.load, kind), defaults,
                           partial(check_params, kind))
        for kind, defaults in KIND_PARAMS.items()
    },
    **{
        kind: BackendEntry(partial(QuantizedBackend, kind), partial(QuantizedBackend.load, kind), defaults,
                           partial(check_quantized_params, kind))
        for kind, defaults in QUANTIZED_PARAMS.items()
    },
}


def backend_entry(name: str) -> BackendEntry:
    """The registry entry for ``name``; an unknown name raises ``ConfigError`` (a ``ValueError``)
    listing the valid ones."""
    try:
        return BACKENDS[name]
    except KeyError:
        raise ConfigError(f"unknown index backend {name!r}; valid: {', '.join(BACKENDS)}") from None


__all__ = ["BACKENDS", "Backend", "BackendEntry", "backend_entry"]
