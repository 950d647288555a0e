"""The proxy's Responses store: the client's ``responses_store`` (see
:mod:`llmrelay._responses_state`) kept in the key store's database (table
``response_states``), so every worker and instance sharing it can continue or retrieve a
conversation, with a bounded in-process copy in front.

Writes go to memory at once and to the database as well (awaited for whole responses;
for a stream, started when it ends), so the next request of the same client, on this
process, always finds its turn. Reads look in memory first, then in the database. Records
older than ``retention_days`` (30, as OpenAI keeps stored responses) are pruned now and
then. A database that cannot be read is a 503 for the request that needed it; one that
cannot be written is logged (this process still has the turn).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

from .._responses_state import MemoryResponsesStore

__all__ = ["ProxyResponsesStore"]

log = logging.getLogger("llmrelay.proxy")
_PRUNE_EVERY = 500  # writes between two prunes


class ProxyResponsesStore:
    """See the module docstring. :meth:`bind` gives it the key store once it is open."""

    def __init__(self, memory_entries: int = 2000, retention_days: float = 30.0) -> None:
        self.memory = MemoryResponsesStore(memory_entries)
        self.retention = retention_days * 86400.0
        self.db: Any = None
        self._writes = 0
        self._tasks: set[asyncio.Task[Any]] = set()

    def bind(self, key_store: Any) -> None:
        self.db = key_store

    async def close(self) -> None:
        """Wait for the writes still in flight, then forget the database."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=5.0)
        self.db = None

    # ---- the database -----------------------------------------------------------------
    async def _write(self, response_id: str, record: dict[str, Any]) -> None:
        db = self.db
        if db is None:
            return
        now = time.time()
        text = json.dumps(record, separators=(",", ":"), default=str)
        self._writes += 1
        prune = self._writes % _PRUNE_EVERY == 1

        def program() -> Any:
            yield ("INSERT INTO response_states (response_id, key_hash, model_group, record, "
                   "created_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (response_id) DO UPDATE "
                   "SET record = excluded.record",
                   (response_id, record.get("owner"), record.get("model"), text, now))
            if prune:
                yield ("DELETE FROM response_states WHERE created_at < ?",
                       (now - self.retention,))
            return None

        try:
            await db.run_program(program)
        except Exception:
            log.warning("llmrelay proxy: storing response %s failed (kept in this process "
                        "only)", response_id, exc_info=True)

    async def _read(self, response_id: str) -> dict[str, Any] | None:
        db = self.db
        if db is None:
            return None

        def program() -> Any:
            rows = yield ("SELECT record FROM response_states WHERE response_id = ?",
                          (response_id,))
            return rows[0][0] if rows else None

        text = await db.run_program(program, write=False)
        if text is None:
            return None
        record: dict[str, Any] = json.loads(text)
        return record

    async def _remove(self, response_id: str) -> bool:
        db = self.db
        if db is None:
            return False

        def program() -> Any:
            rows = yield ("DELETE FROM response_states WHERE response_id = ? "
                          "RETURNING response_id", (response_id,))
            return bool(rows)

        found: bool = await db.run_program(program)
        return found

    def _spawn(self, coro: Any) -> None:
        try:
            task = asyncio.get_running_loop().create_task(coro)
        except RuntimeError:  # no loop (a sync call): memory only
            coro.close()
            return
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ---- the store protocol -----------------------------------------------------------
    def get(self, response_id: str) -> dict[str, Any] | None:
        return self.memory.get(response_id)

    def put(self, response_id: str, record: dict[str, Any]) -> None:
        self.memory.put(response_id, record)
        self._spawn(self._write(response_id, record))

    def delete(self, response_id: str) -> bool:
        found = self.memory.delete(response_id)
        self._spawn(self._remove(response_id))
        return found

    async def aget(self, response_id: str) -> dict[str, Any] | None:
        found = self.memory.get(response_id)
        if found is None:
            found = await self._read(response_id)
            if found is not None:
                self.memory.put(response_id, found)
        return found

    async def aput(self, response_id: str, record: dict[str, Any]) -> None:
        self.memory.put(response_id, record)
        await self._write(response_id, record)

    async def adelete(self, response_id: str) -> bool:
        here = self.memory.delete(response_id)
        there = await self._remove(response_id)
        return here or there
