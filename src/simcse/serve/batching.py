"""Coalescing concurrent encode calls into one forward pass (dynamic batching).

Request threads hand their texts to a single worker thread and wait; the worker takes
everything queued (up to ``max_batch`` texts), encodes it in one call and hands each
caller its rows. Under load this turns 16 one-sentence forward passes into one pass of 16,
and the model is only ever used from one thread.

A failure stays with the caller that caused it: when a merged pass raises, each job is
encoded again on its own, so only the job that fails alone gets the error and its neighbours
get their rows (callers should still check texts first: a retry costs one pass per job).

:meth:`EncodeBatcher.close` (the server shutting down) lets the batch in progress finish and
fails every job still queued, and every later call, with a ``RuntimeError``: no caller is left
waiting for a worker that has stopped.
"""

from __future__ import annotations

import queue
import threading
from concurrent.futures import Future
from typing import Callable, NamedTuple

import numpy as np

SHUTTING_DOWN = "the server is shutting down"


class _Job(NamedTuple):
    texts: list[str]
    future: Future


class EncodeBatcher:
    """``encode(texts) -> (n, dim)`` through one worker thread that batches concurrent calls."""

    def __init__(self, encode: Callable[[list[str]], np.ndarray], max_batch: int = 64) -> None:
        self._encode, self.max_batch = encode, max_batch
        self._queue: queue.Queue[_Job | None] = queue.Queue()
        self._lock = threading.Lock()  # orders encode()'s put against close()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="simcse-encode", daemon=True)
        self._thread.start()

    def encode(self, texts: list[str]) -> np.ndarray:
        """Embeddings (len(texts), dim) as ``encode`` gives them; blocks until they are ready.
        ``RuntimeError`` once :meth:`close` was called."""
        job = _Job(list(texts), Future())
        with self._lock:
            if self._closed:
                raise RuntimeError(SHUTTING_DOWN)
            self._queue.put(job)
        return job.future.result()

    def close(self) -> None:
        """Stop the worker after the batch it is encoding; the jobs still queued fail at once."""
        with self._lock:
            self._closed = True
            pending = []
            while True:
                try:
                    job = self._queue.get_nowait()
                except queue.Empty:
                    break
                if job is not None:
                    pending.append(job)
            self._queue.put(None)
        for job in pending:
            job.future.set_exception(RuntimeError(SHUTTING_DOWN))
        self._thread.join(timeout=10)

    def _take_batch(self, first: _Job) -> list[_Job]:
        jobs, n = [first], len(first.texts)
        while n < self.max_batch:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                break
            if job is None:  # close() was called: finish this batch, then stop
                self._queue.put(None)
                break
            jobs.append(job)
            n += len(job.texts)
        return jobs

    def _run(self) -> None:
        while (first := self._queue.get()) is not None:
            jobs = self._take_batch(first)
            try:
                emb = self._encode([t for job in jobs for t in job.texts])
            except Exception as err:
                if len(jobs) == 1:
                    first.future.set_exception(err)
                else:  # find the culprit: each job alone, so the others still get their rows
                    for job in jobs:
                        self._encode_alone(job)
                continue
            start = 0
            for job in jobs:
                job.future.set_result(emb[start : start + len(job.texts)])
                start += len(job.texts)

    def _encode_alone(self, job: _Job) -> None:
        try:
            job.future.set_result(self._encode(job.texts))
        except Exception as err:
            job.future.set_exception(err)


__all__ = ["SHUTTING_DOWN", "EncodeBatcher"]
