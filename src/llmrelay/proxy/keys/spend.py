"""The spend writer: usage records leave the request path through an in-memory buffer and
reach the database in batches, so a request never waits for (or fails with) the database.

* :meth:`SpendWriter.record` appends to a bounded buffer (``max_buffer``, 100 000 by
  default); when it is full new records are dropped and counted (``dropped``).
* A background task writes the buffer through ``store.add_spend`` every ``flush_interval``
  (0.5 s), or as soon as ``batch_size`` (200) records wait, in transactions of at most
  ``max_batch`` rows.
* When the database fails, the records stay buffered (in order) and the write is retried
  after ``retry_initial`` seconds, doubling up to ``retry_max`` (or at once after
  :meth:`retry_now`, e.g. when a health check finds the database back); the first success
  writes the backlog.
* Each batch gets an id when it is first sent, and a failed or interrupted batch is sent
  again with the same records and the same id: the store skips a batch id it already
  holds, so a batch whose commit happened but whose answer was lost is never counted
  twice.
* :meth:`spend_of` adds the spend still in the buffer to a key's stored spend, so budget
  checks see requests not yet written.
* :meth:`close` stops the task and makes a final flush, retrying until its deadline.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import threading
from collections import deque
from typing import Any

from .models import SpendRecord
from .store import new_batch_id

__all__ = ["SpendWriter"]

log = logging.getLogger("llmrelay.proxy.keys")


class SpendWriter:
    """Batched background writer of :class:`SpendRecord` rows; see the module docstring."""

    def __init__(self, store: Any, *, flush_interval: float = 0.5, batch_size: int = 200,
                 max_batch: int = 1000, max_buffer: int = 100_000,
                 retry_initial: float = 0.5, retry_max: float = 30.0) -> None:
        self.store = store
        self.flush_interval = flush_interval
        self.batch_size = batch_size
        self.max_batch = max(max_batch, 1)
        self.max_buffer = max_buffer
        self.retry_initial = retry_initial
        self.retry_max = retry_max
        self.dropped = 0
        self.written = 0
        self.failures = 0
        self.last_error: str | None = None
        self._buffer: deque[SpendRecord] = deque()
        self._unflushed: dict[str, float] = {}
        self._lock = threading.Lock()
        self._backoff = 0.0
        self._closing = False
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._wake: asyncio.Event | None = None
        self._drain_lock: asyncio.Lock | None = None
        # The batch being written: its id and size, kept until it is known to be stored.
        self._inflight: tuple[str, int] | None = None

    # -- request path ------------------------------------------------------------------
    def record(self, rec: SpendRecord) -> None:
        """Queue one usage record; never blocks, never raises for a full buffer (the
        record is dropped and counted). Callable from any thread."""
        with self._lock:
            if self._closing or len(self._buffer) >= self.max_buffer:
                self.dropped += 1
                first = self.dropped == 1
            else:
                first = False
                self._buffer.append(rec)
                if rec.key_hash and rec.cost:
                    key = rec.key_hash
                    self._unflushed[key] = self._unflushed.get(key, 0.0) + float(rec.cost)
                if len(self._buffer) >= self.batch_size and not self._backoff:
                    self._wake_up()
                return
        if first:
            log.warning("llmrelay spend writer: %s; usage records are being dropped",
                        "closed" if self._closing else
                        f"buffer full ({self.max_buffer} records)")

    def _wake_up(self) -> None:
        loop, wake = self._loop, self._wake
        if loop is None or wake is None or wake.is_set():
            return
        if threading.get_ident() == self._loop_thread:
            wake.set()
        else:
            loop.call_soon_threadsafe(wake.set)

    def spend_of(self, token: str | None, stored: float = 0.0) -> float:
        """``stored`` plus the cost of this key's records not yet written."""
        return float(stored or 0.0) + (self._unflushed.get(token, 0.0) if token else 0.0)

    def unflushed_spend(self, token: str) -> float:
        """Cost of this key's records still in the buffer."""
        return self._unflushed.get(token, 0.0)

    @property
    def pending(self) -> int:
        """Records waiting to be written."""
        return len(self._buffer)

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def stats(self) -> dict[str, Any]:
        return {"pending": self.pending, "written": self.written, "dropped": self.dropped,
                "failures": self.failures, "last_error": self.last_error,
                "retrying": bool(self._backoff), "running": self.running}

    # -- background task ---------------------------------------------------------------
    async def start(self) -> None:
        """Start the background flush task on the running loop (idempotent)."""
        if self.running:
            return
        self._closing = False
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._wake = asyncio.Event()
        self._task = self._loop.create_task(self._run(), name="llmrelay-spend-writer")

    async def _run(self) -> None:
        wake = self._wake
        assert wake is not None
        while not self._closing:
            try:
                await asyncio.wait_for(wake.wait(), self._backoff or self.flush_interval)
            except asyncio.TimeoutError:
                pass
            wake.clear()
            if self._closing:
                break
            try:
                await self.flush()
            except Exception:  # never let the writer die: the next tick tries again
                log.exception("llmrelay spend writer: unexpected error")

    async def flush(self) -> bool:
        """Write everything buffered now; True when the buffer was emptied, False when the
        store failed (records kept for the next try)."""
        if self._drain_lock is None:
            self._drain_lock = asyncio.Lock()
        async with self._drain_lock:
            return await self._drain()

    async def _drain(self) -> bool:
        while True:
            with self._lock:
                if self._inflight is None:
                    batch = list(itertools.islice(self._buffer, self.max_batch))
                    if not batch:
                        return True
                    self._inflight = (new_batch_id(), len(batch))
                batch_id, size = self._inflight
                # The buffer's head is only popped once written: the same records again.
                batch = list(itertools.islice(self._buffer, size))
            try:
                await self.store.add_spend(batch, batch_id=batch_id)
            except Exception as exc:
                self._failed(exc, len(batch))
                return False
            self._written(batch)

    def _written(self, batch: list[SpendRecord]) -> None:
        with self._lock:
            self._inflight = None
            for rec in batch:
                self._buffer.popleft()
                if rec.key_hash and rec.cost:
                    left = self._unflushed.get(rec.key_hash, 0.0) - float(rec.cost)
                    if left > 1e-12:
                        self._unflushed[rec.key_hash] = left
                    else:
                        self._unflushed.pop(rec.key_hash, None)
            self.written += len(batch)
        if self._backoff:
            self._backoff = 0.0
            log.warning("llmrelay spend writer: the database is back; writing the backlog "
                        "(%d records pending)", self.pending)

    def retry_now(self) -> None:
        """While retrying after a failure, try again now rather than after the backoff
        (call it when the database is known to be back). Callable from any thread."""
        if self._backoff:
            self._wake_up()

    def _failed(self, exc: Exception, size: int) -> None:
        self.failures += 1
        self.last_error = f"{type(exc).__name__}: {exc}"
        if not self._backoff:
            log.warning("llmrelay spend writer: writing %d usage records failed (%s); "
                        "keeping them and retrying", size, self.last_error)
        self._backoff = min(self.retry_max, (self._backoff * 2) or self.retry_initial)

    async def close(self, timeout: float = 5.0) -> bool:
        """Stop the task and flush what is buffered, retrying until ``timeout`` seconds have
        passed. True when everything was written; otherwise the records left are logged as
        lost. Records arriving after close are dropped (counted)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        self._closing = True
        task = self._task
        if task is not None and not task.done():
            if self._wake is not None:
                self._wake.set()
            done, _ = await asyncio.wait({task}, timeout=max(deadline - loop.time(), 0.0))
            if not done:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        delay = self.retry_initial
        while True:
            left = deadline - loop.time()
            try:
                if left > 0 and await asyncio.wait_for(self.flush(), left):
                    return True
            except asyncio.TimeoutError:
                pass
            left = deadline - loop.time()
            if left <= 0:
                break
            await asyncio.sleep(min(delay, left))
            delay = min(delay * 2, self.retry_max)
        if self.pending:
            log.error("llmrelay spend writer: %d usage records could not be written before "
                      "the close deadline (%s)", self.pending, self.last_error)
        return self.pending == 0
