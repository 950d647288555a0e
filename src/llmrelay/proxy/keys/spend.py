"""The spend writer: usage records leave the request path through the local spool
(``spool.py``) and reach the database in batches, so a request never waits for (or fails
with) the database, and a record the proxy acknowledged is never lost.

* :meth:`SpendWriter.record` makes the record's text storable (``storable.py``) and
  appends it to this process's spool segment (one ``write()``) before the response is
  sent. Should the spool be unwritable (disk full), the record is kept in memory and new
  requests are refused (``accepting`` is False) until the spool works again.
* A background task reads the spool back every ``flush_interval`` (0.5 s), or as soon as
  ``batch_size`` (200) records wait, and writes batches of at most ``max_batch`` rows
  through ``store.add_spend``, which is idempotent by call id: a batch retried after an
  unclear failure, or records replayed after a crash, are never counted twice.
* The database is away (``StoreUnavailable``, a timeout): the batch is kept and retried
  after ``retry_initial`` seconds, doubling up to ``retry_max`` (or at once after
  :meth:`retry_now`); the backlog waits in the spool, on disk, however long it takes.
* The database refuses the rows (``RowsRejected``): the batch is split in halves until
  every good row is in and each bad row is alone; a bad row goes to the dead-letter file
  (``<spool>/dead-letter.jsonl``) with the database's reason, and is counted.
* Every ``adopt_every`` seconds (and at start) the spool folder is searched for segments
  of processes that died (``kill -9``, a crash): they are adopted and written too.
* :meth:`spend_of` adds the spend not yet written (this process's, adopted records
  included) to a key's stored spend.
* :meth:`close` stops the task and writes what it can until its deadline; what is left
  stays in the spool for the next start.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import Any

from .models import SpendRecord
from .spool import Chunk, Spool, SpoolError, decode_record, encode_record
from .storable import storable_record
from .store import RowsRejected

__all__ = ["SpendWriter"]

log = logging.getLogger("llmrelay.proxy.keys")


class SpendWriter:
    """Spooled, batched background writer of :class:`SpendRecord` rows; see the module
    docstring. ``spool`` is a :class:`Spool` or the folder of one (opened here)."""

    def __init__(self, store: Any, spool: Spool | str, *, flush_interval: float = 0.5,
                 batch_size: int = 200, max_batch: int = 250, retry_initial: float = 0.5,
                 retry_max: float = 30.0, stall_after: float = 10.0,
                 adopt_every: float = 5.0, sync_every: float = 1.0) -> None:
        self.store = store
        if isinstance(spool, str):
            spool = Spool(spool)
        if spool._current is None:
            spool.open()
        self.spool = spool
        self.flush_interval = flush_interval
        self.batch_size = batch_size
        self.max_batch = max(max_batch, 1)
        self.retry_initial = retry_initial
        self.retry_max = retry_max
        self.stall_after = stall_after
        self.adopt_every = adopt_every
        self.sync_every = sync_every
        self.written = 0  # rows inserted
        self.duplicates = 0  # rows skipped: their call id was stored already (replays)
        self.dead_lettered = 0
        self.failures = 0
        self.dropped = 0  # records lost: neither spooled nor kept (after close)
        self.last_error: str | None = None
        self.dead_letter_path: str | None = None
        self._pending = 0
        self._unflushed: dict[str, float] = {}
        self._memory: list[bytes] = []  # lines the spool could not take
        self._lock = threading.Lock()
        self._backoff = 0.0
        self._closing = False
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._wake: asyncio.Event | None = None
        self._drain_lock: asyncio.Lock | None = None
        self._chunk: tuple[Chunk, list[SpendRecord]] | None = None
        self._last_write = time.monotonic()  # last success, or last time nothing waited
        self._housekeeping = {"adopt": 0.0, "sync": time.monotonic(), "measure": 0.0}
        self._account_adopted(self.spool.adopt())

    # -- request path ------------------------------------------------------------------
    def record(self, rec: SpendRecord) -> None:
        """Spool one usage record; never raises (a record the spool cannot take is kept in
        memory, and new requests are refused meanwhile: see ``accepting``). Callable
        from any thread."""
        storable_record(rec)
        line = encode_record(rec)
        try:
            self.spool.append(line)
        except SpoolError as exc:
            with self._lock:
                if self.spool.closed:
                    self.dropped += 1
                    return
                first = not self._memory
                self._memory.append(line)
            if first:
                log.error("llmrelay spend writer: %s; keeping usage records in memory and "
                          "refusing new requests until the spool can be written", exc)
        with self._lock:
            self._pending += 1
            if rec.key_hash and rec.cost:
                key = rec.key_hash
                self._unflushed[key] = self._unflushed.get(key, 0.0) + float(rec.cost)
            wake = self._pending >= self.batch_size and not self._backoff
        if wake:
            self._wake_up()

    @property
    def accepting(self) -> bool:
        """False while the spool is full or cannot be written: the proxy then refuses new
        LLM requests (503) rather than answer ones it could not account for."""
        return not self._memory and not self.spool.full

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
        """Cost of this key's records not yet in the database."""
        return self._unflushed.get(token, 0.0)

    @property
    def pending(self) -> int:
        """Records not yet in the database (adopted ones included)."""
        return self._pending

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def seconds_behind(self) -> float:
        """Seconds since the writer last wrote a batch while records waited (0 when
        nothing waits)."""
        if not self._pending:
            return 0.0
        return max(time.monotonic() - self._last_write, 0.0)

    @property
    def stalled(self) -> bool:
        """Records wait and nothing was written for ``stall_after`` seconds."""
        return self.seconds_behind() >= self.stall_after

    def stats(self) -> dict[str, Any]:
        return {"pending": self.pending, "written": self.written,
                "duplicates_skipped": self.duplicates, "dead_lettered": self.dead_lettered,
                "dead_letter_file": self.dead_letter_path, "dropped": self.dropped,
                "failures": self.failures, "last_error": self.last_error,
                "retrying": bool(self._backoff), "running": self.running,
                "stalled": self.stalled, "seconds_behind": round(self.seconds_behind(), 3),
                "spool_dir": self.spool.folder, "spool_bytes": self.spool.folder_bytes,
                "spool_pending_bytes": self.spool.pending_bytes,
                "spool_max_bytes": self.spool.max_bytes, "spool_fsync": self.spool.fsync,
                "spool_writable": not self._memory, "accepting": self.accepting,
                "adopted_segments": self.spool.adopted}

    # -- background task ---------------------------------------------------------------
    async def start(self) -> None:
        """Start the background task on the running loop (idempotent)."""
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
                await self._housekeep()
                await self.flush()
            except Exception:  # never let the writer die: the next tick tries again
                log.exception("llmrelay spend writer: unexpected error")

    async def _housekeep(self) -> None:
        """Adopt orphaned segments, fsync new records (policy ``interval``), measure the
        spool folder, and move records kept in memory back into the spool."""
        now, done = time.monotonic(), self._housekeeping
        if now - done["adopt"] >= self.adopt_every:
            done["adopt"] = now
            self._account_adopted(self.spool.adopt())
        if now - done["measure"] >= 1.0:
            done["measure"] = now
            self.spool.measure()
        if now - done["sync"] >= self.sync_every:
            done["sync"] = now
            await asyncio.get_running_loop().run_in_executor(None, self.spool.sync)
        if self._memory:
            self._respool()

    def _account_adopted(self, segments: list[Any]) -> None:
        if not segments:
            return
        lines = self.spool.pending_lines(segments)
        with self._lock:
            self._pending += len(lines)
            for line in lines:
                try:
                    rec = decode_record(line)
                except (ValueError, TypeError):
                    continue
                if rec.key_hash and rec.cost:
                    key = rec.key_hash
                    self._unflushed[key] = self._unflushed.get(key, 0.0) + float(rec.cost)
        if lines:
            self._wake_up()

    def _respool(self) -> None:
        with self._lock:
            lines, self._memory = self._memory, []
        for i, line in enumerate(lines):
            try:
                self.spool.append(line)
            except SpoolError:
                with self._lock:
                    self._memory[:0] = lines[i:]
                return
        log.warning("llmrelay spend writer: the spool can be written again (%d records "
                    "moved there from memory)", len(lines))

    async def flush(self) -> bool:
        """Write everything spooled now; True when nothing is left, False when the store
        failed (the records stay spooled for the next try)."""
        if self._drain_lock is None:
            self._drain_lock = asyncio.Lock()
        async with self._drain_lock:
            return await self._drain()

    async def _drain(self) -> bool:
        if self._memory and not await self._drain_memory():
            return False
        while True:
            if self._chunk is None:
                chunk = self.spool.read(self.max_batch)
                if chunk is None:
                    self._last_write = time.monotonic()  # caught up with the spool
                    return True
                self._chunk = (chunk, self._decode(chunk.lines))
            chunk, records = self._chunk
            try:
                await self._store(records)
            except Exception as exc:
                self._failed(exc, len(records))
                return False
            self.spool.done(chunk)
            self._chunk = None
            self._written(records, len(chunk.lines))

    async def _drain_memory(self) -> bool:
        """Write records the spool could not take straight to the database."""
        with self._lock:
            lines = list(self._memory[: self.max_batch])
        records = self._decode(lines)
        try:
            await self._store(records)
        except Exception as exc:
            self._failed(exc, len(records))
            return False
        with self._lock:
            del self._memory[: len(lines)]
        self._written(records, len(lines))
        return True

    def _decode(self, lines: list[bytes]) -> list[SpendRecord]:
        records = []
        for line in lines:
            try:
                records.append(decode_record(line))
            except (ValueError, TypeError) as exc:
                self._dead_letter({"spool_line": line.decode("ascii", "replace")},
                                  f"unreadable spool line: {exc}")
        return records

    async def _store(self, records: list[SpendRecord]) -> None:
        """Write ``records``; rows the database refuses are found by halving and
        dead-lettered. Raises what the store raises otherwise."""
        if not records:
            return
        try:
            inserted = int(await self.store.add_spend(records))
        except RowsRejected as exc:
            if len(records) == 1:
                self._dead_letter(records[0].to_dict(), str(exc))
                return
            mid = len(records) // 2
            await self._store(records[:mid])
            await self._store(records[mid:])
            return
        self.written += inserted
        self.duplicates += len(records) - inserted

    def _dead_letter(self, record: dict[str, Any], reason: str) -> None:
        self.dead_lettered += 1
        try:
            self.dead_letter_path = self.spool.dead_letter(record, reason)
        except OSError as exc:
            log.error("llmrelay spend writer: cannot write the dead-letter file: %s; "
                      "lost record %s (%s)", exc, record, reason)
            return
        log.error("llmrelay spend writer: the database refused usage record %s (%s); "
                  "written to %s", record.get("call_id"), reason, self.dead_letter_path)

    def _written(self, records: list[SpendRecord], lines: int) -> None:
        with self._lock:
            self._pending = max(self._pending - lines, 0)
            for rec in records:
                if rec.key_hash and rec.cost:
                    left = self._unflushed.get(rec.key_hash, 0.0) - float(rec.cost)
                    if left > 1e-12:
                        self._unflushed[rec.key_hash] = left
                    else:
                        self._unflushed.pop(rec.key_hash, None)
        self._last_write = time.monotonic()
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
            log.warning("llmrelay spend writer: writing %d usage records failed (%s); they "
                        "stay in the spool and are retried", size, self.last_error)
        self._backoff = min(self.retry_max, (self._backoff * 2) or self.retry_initial)

    async def close(self, timeout: float = 5.0) -> bool:
        """Stop the task and write what is spooled, retrying until ``timeout`` seconds
        have passed. True when everything was written; otherwise what is left stays in the
        spool for the next start (logged)."""
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
                    break
            except asyncio.TimeoutError:
                pass
            left = deadline - loop.time()
            if left <= 0:
                break
            await asyncio.sleep(min(delay, left))
            delay = min(delay * 2, self.retry_max)
        if self._chunk is not None:
            self.spool.rewind(self._chunk[0])
            self._chunk = None
        with self._lock:
            lost = len(self._memory)
            self._memory.clear()
        left_bytes = self.spool.close()
        if lost:
            self.dropped += lost
            log.error("llmrelay spend writer: %d usage records could be neither spooled nor "
                      "written (%s)", lost, self.last_error)
        if left_bytes:
            log.warning("llmrelay spend writer: %d usage records (%d bytes) are not in the "
                        "database yet (%s); they stay in %s and are written at the next "
                        "start", self.pending - lost, left_bytes, self.last_error,
                        self.spool.folder)
        return not left_bytes and not lost
