"""The batched spend writer: buffering, batching, retries while the database is away, the
bounded buffer, and the final flush on close."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from keystore_support import (
    FlakyStore,
    Forwarder,
    backend_store,
    drop_schema,
    eventually,
    new_schema,
    pg_url,
    with_schema,
)

from llmrelay.proxy.keys import KeyStore, SpendRecord, SpendWriter, StoreUnavailable, open_store
from llmrelay.proxy.keys.store import new_batch_id


@pytest.fixture(params=["sqlite", "postgres"])
async def store(request: pytest.FixtureRequest, tmp_path: Any) -> AsyncIterator[KeyStore]:
    async with backend_store(request.param, tmp_path) as s:
        yield s


@pytest.fixture
async def sqlite_store(tmp_path: Any) -> AsyncIterator[KeyStore]:
    async with backend_store("sqlite", tmp_path) as s:
        yield s


def rec(key: str | None, cost: float = 0.01, **kw: Any) -> SpendRecord:
    kw.setdefault("call_id", uuid.uuid4().hex)
    return SpendRecord(key_hash=key, cost=cost, **kw)


async def stored_spend(store: KeyStore, token: str) -> float:
    got = await store.get(token)
    assert got is not None
    return got.spend


async def test_background_flush_writes_rows_and_spend(store: KeyStore) -> None:
    _, key = await store.create()
    writer = SpendWriter(store, flush_interval=0.05)
    await writer.start()
    for i in range(5):
        writer.record(rec(key.token, 0.1, call_id=f"c{i}", model="gpt-4o"))
    assert writer.spend_of(key.token, 0.0) == pytest.approx(0.5)
    await eventually(lambda: writer.pending == 0)
    logs = await store.spend_logs(key_hash=key.token)
    assert sorted(r.call_id for r in logs) == [f"c{i}" for i in range(5)]
    assert await stored_spend(store, key.token) == pytest.approx(0.5)
    assert writer.spend_of(key.token, 0.5) == pytest.approx(0.5)
    assert writer.written == 5 and writer.failures == 0
    assert await writer.close() is True


async def test_full_batch_is_written_without_waiting_for_the_timer(
        sqlite_store: KeyStore) -> None:
    flaky = FlakyStore(sqlite_store)
    writer = SpendWriter(flaky, flush_interval=3600, batch_size=200, max_batch=150)
    await writer.start()
    for _ in range(199):
        writer.record(rec(None))
    for _ in range(20):  # let the writer task run, were it woken
        await asyncio.sleep(0)
    assert writer.pending == 199 and "add_spend" not in flaky.calls
    writer.record(rec(None))
    await eventually(lambda: writer.pending == 0)
    assert flaky.batches == [150, 50]
    await writer.close()


async def test_record_from_another_thread_wakes_the_writer(sqlite_store: KeyStore) -> None:
    writer = SpendWriter(sqlite_store, flush_interval=3600, batch_size=50)
    await writer.start()
    thread = threading.Thread(target=lambda: [writer.record(rec(None)) for _ in range(50)])
    thread.start()
    thread.join()
    await eventually(lambda: writer.written == 50)
    await writer.close()


async def test_database_down_keeps_records_and_writes_them_later(
        sqlite_store: KeyStore, caplog: pytest.LogCaptureFixture) -> None:
    _, key = await sqlite_store.create()
    flaky = FlakyStore(sqlite_store)
    flaky.down = True
    writer = SpendWriter(flaky, flush_interval=0.02, retry_initial=0.02, retry_max=0.05)
    with caplog.at_level(logging.WARNING, logger="llmrelay.proxy.keys"):
        await writer.start()
        for i in range(30):
            writer.record(rec(key.token, 0.1, call_id=f"c{i}"))
        await eventually(lambda: writer.failures >= 3)
        assert writer.pending == 30
        assert writer.spend_of(key.token, 0.0) == pytest.approx(3.0)
        assert "StoreUnavailable" in (writer.last_error or "")
        assert writer.stats()["retrying"] is True
        flaky.down = False
        await eventually(lambda: writer.pending == 0)
    assert await stored_spend(sqlite_store, key.token) == pytest.approx(3.0)
    assert len(await sqlite_store.spend_logs()) == 30
    assert writer.unflushed_spend(key.token) == 0.0
    assert writer.stats()["retrying"] is False
    messages = [r.getMessage() for r in caplog.records]
    assert sum("failed" in m for m in messages) == 1  # one warning per outage
    assert any("back" in m for m in messages)
    await writer.close()


async def test_lost_answer_is_not_counted_twice(store: KeyStore) -> None:
    """The commit happened but the writer saw an error: the retry skips known call_ids."""
    _, key = await store.create()
    flaky = FlakyStore(store)
    flaky.lose_answer = True
    writer = SpendWriter(flaky)
    for _ in range(4):
        writer.record(rec(key.token, 0.25))
    assert await writer.flush() is False
    assert writer.pending == 4
    assert await writer.flush() is True
    assert await stored_spend(store, key.token) == pytest.approx(1.0)
    assert len(await store.spend_logs()) == 4


async def test_bounded_buffer_counts_drops(caplog: pytest.LogCaptureFixture) -> None:
    writer = SpendWriter(store=None, max_buffer=5)
    with caplog.at_level(logging.WARNING, logger="llmrelay.proxy.keys"):
        for _ in range(8):
            writer.record(rec("k" * 64, 1.0))
    assert (writer.pending, writer.dropped) == (5, 3)
    assert writer.spend_of("k" * 64) == pytest.approx(5.0)
    assert sum("dropped" in r.getMessage() for r in caplog.records) == 1


async def test_close_flushes_everything(store: KeyStore) -> None:
    _, key = await store.create()
    writer = SpendWriter(store, flush_interval=3600)
    await writer.start()
    for _ in range(20):
        writer.record(rec(key.token, 0.05))
    assert await writer.close() is True
    assert writer.pending == 0 and not writer.running
    assert await stored_spend(store, key.token) == pytest.approx(1.0)
    writer.record(rec(key.token, 1.0))  # after close: dropped, counted
    assert writer.dropped == 1 and writer.pending == 0


async def test_close_without_start_still_flushes(sqlite_store: KeyStore) -> None:
    writer = SpendWriter(sqlite_store)
    writer.record(rec(None))
    assert await writer.close() is True
    assert len(await sqlite_store.spend_logs()) == 1


async def test_close_gives_up_at_its_deadline(sqlite_store: KeyStore,
                                              caplog: pytest.LogCaptureFixture) -> None:
    flaky = FlakyStore(sqlite_store)
    flaky.down = True
    writer = SpendWriter(flaky, retry_initial=0.02)
    await writer.start()
    writer.record(rec(None))
    with caplog.at_level(logging.ERROR, logger="llmrelay.proxy.keys"):
        assert await writer.close(timeout=0.2) is False
    # (how many tries fit in 0.2 s depends on the machine's load; retrying until the
    # database returns is test_close_retries_until_the_database_returns)
    assert writer.pending == 1 and flaky.calls["add_spend"] >= 1
    assert any("could not be written" in r.getMessage() for r in caplog.records)


async def test_close_retries_until_the_database_returns(sqlite_store: KeyStore) -> None:
    flaky = FlakyStore(sqlite_store)
    flaky.down = True
    writer = SpendWriter(flaky, retry_initial=0.02)
    writer.record(rec(None))
    closing = asyncio.ensure_future(writer.close(timeout=30))
    await eventually(lambda: flaky.calls.get("add_spend", 0) >= 2)
    flaky.down = False
    assert await closing is True
    assert len(await sqlite_store.spend_logs()) == 1


async def test_writer_survives_unexpected_store_errors(sqlite_store: KeyStore) -> None:
    class Broken:
        def __init__(self) -> None:
            self.raised = 0

        async def add_spend(self, records: list[SpendRecord], batch_id: str | None = None
                            ) -> bool:
            if self.raised < 2:
                self.raised += 1
                raise RuntimeError("bug in a store")
            return await sqlite_store.add_spend(records, batch_id=batch_id)

    writer = SpendWriter(Broken(), flush_interval=0.02, retry_initial=0.02)
    await writer.start()
    writer.record(rec(None))
    await eventually(lambda: writer.written == 1)
    assert writer.failures == 2 and writer.running
    await writer.close()


async def test_postgres_goes_away_and_comes_back(tmp_path: Any) -> None:
    """The database's TCP connections are cut and refused for a while: records wait in
    the buffer and are written once the database is reachable again."""
    url = pg_url()
    parts = urlsplit(url)
    forwarder = Forwarder(parts.hostname or "127.0.0.1", parts.port or 5432)
    await forwarder.start()
    schema = new_schema()
    userinfo = parts.netloc.rsplit("@", 1)[0] + "@" if "@" in parts.netloc else ""
    proxied = with_schema(
        url.replace(parts.netloc, f"{userinfo}127.0.0.1:{forwarder.port}", 1), schema)
    store = await open_store(proxied, "", connect_timeout=2.0)
    writer = SpendWriter(store, flush_interval=0.02, retry_initial=0.05, retry_max=0.1)
    try:
        _, key = await store.create()
        await writer.start()
        writer.record(rec(key.token, 0.5))
        await eventually(lambda: writer.written == 1)
        await forwarder.stop()
        for _ in range(10):
            writer.record(rec(key.token, 0.25))
        await eventually(lambda: writer.failures >= 2)
        assert writer.pending == 10
        assert await store.healthy() is False
        with pytest.raises(StoreUnavailable):
            await store.get(key.token)
        await forwarder.start()  # forwarding again, on the same port
        await eventually(lambda: writer.pending == 0)
        assert await store.healthy() is True
        assert await stored_spend(store, key.token) == pytest.approx(3.0)
        assert len(await store.spend_logs()) == 11
    finally:
        await writer.close(timeout=2)
        await store.close()
        await forwarder.close()
        drop_schema(schema)


# -- idempotent batches ----------------------------------------------------------------

async def test_thousands_of_records_are_written_exactly_once(store: KeyStore) -> None:
    """5000 records in batches of 1000; the first batch commits but its answer is lost, and
    the retry sends the same records under the same batch id, which the store skips."""
    _, key = await store.create()
    flaky = FlakyStore(store)
    writer = SpendWriter(flaky, max_batch=1000)
    n = 5000
    for i in range(n):
        writer.record(rec(key.token, 0.25, call_id=f"c{i:05d}"))
    flaky.lose_answer = True
    assert await writer.flush() is False
    assert (writer.pending, writer.written) == (n, 0)
    assert await writer.flush() is True
    assert (writer.pending, writer.written) == (0, n)
    assert flaky.batches == [1000] * 6
    assert flaky.batch_ids[0] == flaky.batch_ids[1]  # the retry kept the batch's id
    assert len(set(flaky.batch_ids)) == 5
    logs = await store.spend_logs(limit=100_000)
    assert len(logs) == n
    assert sorted(r.call_id for r in logs) == [f"c{i:05d}" for i in range(n)]
    assert await stored_spend(store, key.token) == n * 0.25  # quarters add up exactly
    assert writer.unflushed_spend(key.token) == 0.0


async def test_one_big_batch_retried_is_skipped_whole(store: KeyStore) -> None:
    _, key = await store.create()
    records = [rec(key.token, 0.5) for _ in range(3000)]
    assert await store.add_spend(records, batch_id="big-batch") is True
    assert await store.add_spend(records, batch_id="big-batch") is False
    assert len(await store.spend_logs(limit=100_000)) == 3000
    assert await stored_spend(store, key.token) == 1500.0


class _AnswerNeverComes:
    """Writes, then hangs as if the commit's answer never arrived (the caller cancels)."""

    def __init__(self, inner: KeyStore) -> None:
        self.inner = inner
        self.hang = True
        self.committed = asyncio.Event()
        self.batch_ids: list[str | None] = []

    async def add_spend(self, records: list[SpendRecord], batch_id: str | None = None) -> bool:
        self.batch_ids.append(batch_id)
        written = await self.inner.add_spend(records, batch_id=batch_id)
        if self.hang:
            self.committed.set()
            await asyncio.Event().wait()
        return written


async def test_cancelled_flush_after_commit_is_not_counted_twice(store: KeyStore) -> None:
    _, key = await store.create()
    slow = _AnswerNeverComes(store)
    writer = SpendWriter(slow)
    for _ in range(10):
        writer.record(rec(key.token, 0.25))
    flushing = asyncio.ensure_future(writer.flush())
    await slow.committed.wait()
    flushing.cancel()  # e.g. a report's flush giving up at its timeout
    await asyncio.gather(flushing, return_exceptions=True)
    assert writer.pending == 10
    slow.hang = False
    assert await writer.flush() is True
    assert slow.batch_ids[0] == slow.batch_ids[1]
    assert len(await store.spend_logs()) == 10
    assert await stored_spend(store, key.token) == 2.5


async def test_old_batch_ids_are_pruned(store: KeyStore) -> None:
    from llmrelay.proxy.keys.store import batch_cutoff

    old_id = batch_cutoff() + "-0-old"  # made more than a day ago
    assert old_id < batch_cutoff(time.time_ns())
    recent_id = new_batch_id()
    assert await store.add_spend([rec(None)], batch_id=old_id) is True
    assert await store.add_spend([rec(None)], batch_id=recent_id) is True
    store._writes = 0  # the next write prunes
    assert await store.add_spend([rec(None)]) is True
    assert await store.add_spend([rec(None)], batch_id=old_id) is True  # forgotten
    assert await store.add_spend([rec(None)], batch_id=recent_id) is False  # remembered


async def test_retry_now_skips_the_backoff(sqlite_store: KeyStore) -> None:
    flaky = FlakyStore(sqlite_store)
    flaky.down = True
    writer = SpendWriter(flaky, flush_interval=0.01, retry_initial=3600, retry_max=3600)
    await writer.start()
    writer.record(rec(None))
    await eventually(lambda: writer.failures == 1)
    flaky.down = False
    writer.retry_now()  # without it the next try would come in an hour
    await eventually(lambda: writer.pending == 0)
    assert writer.failures == 1
    await writer.close()
