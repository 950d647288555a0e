"""The spend writer and its spool: batching, retries while the database is away, records
replayed after a crash (never counted twice), bad rows split out to the dead-letter file,
and the final flush on close."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from keystore_support import (
    FlakyStore,
    backend_store,
    drop_schema,
    eventually,
    new_schema,
    pg_url,
    with_schema,
)
from tcp_relay import Relay

from llmrelay.proxy.keys import (
    KeyStore,
    RowsRejected,
    SpendRecord,
    SpendWriter,
    Spool,
    StoreUnavailable,
    open_store,
)
from llmrelay.proxy.keys.spool import DEAD_LETTER, encode_record

SRC = Path(__file__).resolve().parents[2] / "src"


@pytest.fixture(params=["sqlite", "postgres"])
async def store(request: pytest.FixtureRequest, tmp_path: Any) -> AsyncIterator[KeyStore]:
    async with backend_store(request.param, tmp_path) as s:
        yield s


@pytest.fixture
async def sqlite_store(tmp_path: Any) -> AsyncIterator[KeyStore]:
    async with backend_store("sqlite", tmp_path) as s:
        yield s


@pytest.fixture
def spool_dir(tmp_path: Path) -> str:
    return str(tmp_path / "spool")


def rec(key: str | None, cost: float = 0.01, **kw: Any) -> SpendRecord:
    kw.setdefault("call_id", uuid.uuid4().hex)
    return SpendRecord(key_hash=key, cost=cost, **kw)


async def stored_spend(store: KeyStore, token: str) -> float:
    got = await store.get(token)
    assert got is not None
    return got.spend


def segments(folder: str) -> list[str]:
    return sorted(n for n in os.listdir(folder) if n.endswith(".spool"))


async def test_background_flush_writes_rows_and_spend(store: KeyStore, spool_dir: str) -> None:
    _, key = await store.create()
    writer = SpendWriter(store, spool_dir, flush_interval=0.05)
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
    assert segments(spool_dir) == []  # everything written: nothing left behind


async def test_records_are_in_the_spool_file_at_once(sqlite_store: KeyStore,
                                                     spool_dir: str) -> None:
    writer = SpendWriter(sqlite_store, spool_dir)
    writer.record(rec(None, call_id="on-disk"))
    [name] = segments(spool_dir)
    line = Path(spool_dir, name).read_bytes()
    assert b'"on-disk"' in line and line.endswith(b"\n")
    assert await writer.close() is True


async def test_full_batch_is_written_without_waiting_for_the_timer(
        sqlite_store: KeyStore, spool_dir: str) -> None:
    flaky = FlakyStore(sqlite_store)
    writer = SpendWriter(flaky, spool_dir, flush_interval=3600, batch_size=200,
                         max_batch=150)
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


async def test_record_from_another_thread_wakes_the_writer(sqlite_store: KeyStore,
                                                          spool_dir: str) -> None:
    writer = SpendWriter(sqlite_store, spool_dir, flush_interval=3600, batch_size=50)
    await writer.start()
    thread = threading.Thread(target=lambda: [writer.record(rec(None)) for _ in range(50)])
    thread.start()
    thread.join()
    await eventually(lambda: writer.written == 50)
    await writer.close()


async def test_database_down_keeps_records_and_writes_them_later(
        sqlite_store: KeyStore, spool_dir: str, caplog: pytest.LogCaptureFixture) -> None:
    _, key = await sqlite_store.create()
    flaky = FlakyStore(sqlite_store)
    flaky.down = True
    writer = SpendWriter(flaky, spool_dir, flush_interval=0.02, retry_initial=0.02,
                         retry_max=0.05, stall_after=0.05)
    with caplog.at_level(logging.WARNING, logger="llmrelay.proxy.keys"):
        await writer.start()
        for i in range(30):
            writer.record(rec(key.token, 0.1, call_id=f"c{i}"))
        await eventually(lambda: writer.failures >= 3)
        assert writer.pending == 30
        assert writer.spend_of(key.token, 0.0) == pytest.approx(3.0)
        assert "StoreUnavailable" in (writer.last_error or "")
        await eventually(lambda: writer.stalled)
        stats = writer.stats()
        assert stats["retrying"] is True and stats["stalled"] is True
        assert stats["spool_pending_bytes"] > 0
        flaky.down = False
        await eventually(lambda: writer.pending == 0)
    assert await stored_spend(sqlite_store, key.token) == pytest.approx(3.0)
    assert len(await sqlite_store.spend_logs()) == 30
    assert writer.unflushed_spend(key.token) == 0.0
    assert writer.stats()["retrying"] is False and writer.stalled is False
    messages = [r.getMessage() for r in caplog.records]
    assert sum("failed" in m for m in messages) == 1  # one warning per outage
    assert any("back" in m for m in messages)
    await writer.close()


async def test_lost_answer_is_not_counted_twice(store: KeyStore, spool_dir: str) -> None:
    """The commit happened but the writer saw an error: the retry skips known call ids."""
    _, key = await store.create()
    flaky = FlakyStore(store)
    flaky.lose_answer = True
    writer = SpendWriter(flaky, spool_dir)
    for _ in range(4):
        writer.record(rec(key.token, 0.25))
    assert await writer.flush() is False
    assert writer.pending == 4
    assert await writer.flush() is True
    assert (writer.written, writer.duplicates) == (0, 4)  # the retry found them stored
    assert await stored_spend(store, key.token) == pytest.approx(1.0)
    assert len(await store.spend_logs()) == 4
    await writer.close()


async def test_thousands_of_records_are_written_exactly_once(store: KeyStore,
                                                             spool_dir: str) -> None:
    """5000 records in batches of 1000; the first batch commits but its answer is lost:
    the retry sends the same records again, and the store skips their call ids."""
    _, key = await store.create()
    flaky = FlakyStore(store)
    writer = SpendWriter(flaky, spool_dir, max_batch=1000)
    n = 5000
    for i in range(n):
        writer.record(rec(key.token, 0.25, call_id=f"c{i:05d}"))
    flaky.lose_answer = True
    assert await writer.flush() is False
    assert writer.pending == n
    assert await writer.flush() is True
    assert writer.pending == 0 and writer.written + writer.duplicates == n
    assert flaky.batches == [1000] * 6
    logs = await store.spend_logs(limit=100_000)
    assert sorted(r.call_id for r in logs) == [f"c{i:05d}" for i in range(n)]
    assert await stored_spend(store, key.token) == n * 0.25  # quarters add up exactly
    assert writer.unflushed_spend(key.token) == 0.0
    await writer.close()


async def test_close_flushes_everything(store: KeyStore, spool_dir: str) -> None:
    _, key = await store.create()
    writer = SpendWriter(store, spool_dir, flush_interval=3600)
    await writer.start()
    for _ in range(20):
        writer.record(rec(key.token, 0.05))
    assert await writer.close() is True
    assert writer.pending == 0 and not writer.running
    assert await stored_spend(store, key.token) == pytest.approx(1.0)
    writer.record(rec(key.token, 1.0))  # after close: dropped, counted
    assert writer.dropped == 1


async def test_close_gives_up_at_its_deadline_and_keeps_the_spool(
        sqlite_store: KeyStore, spool_dir: str, caplog: pytest.LogCaptureFixture) -> None:
    flaky = FlakyStore(sqlite_store)
    flaky.down = True
    writer = SpendWriter(flaky, spool_dir, retry_initial=0.02)
    await writer.start()
    writer.record(rec(None, call_id="kept"))
    with caplog.at_level(logging.WARNING, logger="llmrelay.proxy.keys"):
        assert await writer.close(timeout=0.2) is False
    assert flaky.calls["add_spend"] >= 1
    assert any("next start" in r.getMessage() for r in caplog.records)
    assert len(segments(spool_dir)) == 1  # the record waits on disk
    # The next start replays it.
    again = SpendWriter(sqlite_store, spool_dir)
    assert again.pending == 1
    assert await again.flush() is True
    assert [r.call_id for r in await sqlite_store.spend_logs()] == ["kept"]
    assert await again.close() is True
    assert segments(spool_dir) == []


async def test_close_retries_until_the_database_returns(sqlite_store: KeyStore,
                                                        spool_dir: str) -> None:
    flaky = FlakyStore(sqlite_store)
    flaky.down = True
    writer = SpendWriter(flaky, spool_dir, retry_initial=0.02)
    writer.record(rec(None))
    closing = asyncio.ensure_future(writer.close(timeout=30))
    await eventually(lambda: flaky.calls.get("add_spend", 0) >= 2)
    flaky.down = False
    assert await closing is True
    assert len(await sqlite_store.spend_logs()) == 1


async def test_writer_survives_unexpected_store_errors(sqlite_store: KeyStore,
                                                       spool_dir: str) -> None:
    class Broken:
        def __init__(self) -> None:
            self.raised = 0

        async def add_spend(self, records: list[SpendRecord]) -> int:
            if self.raised < 2:
                self.raised += 1
                raise RuntimeError("bug in a store")
            return await sqlite_store.add_spend(records)

    writer = SpendWriter(Broken(), spool_dir, flush_interval=0.02, retry_initial=0.02)
    await writer.start()
    writer.record(rec(None))
    await eventually(lambda: writer.written == 1)
    assert writer.failures == 2 and writer.running
    await writer.close()


async def test_retry_now_skips_the_backoff(sqlite_store: KeyStore, spool_dir: str) -> None:
    flaky = FlakyStore(sqlite_store)
    flaky.down = True
    writer = SpendWriter(flaky, spool_dir, flush_interval=0.01, retry_initial=3600,
                         retry_max=3600)
    await writer.start()
    writer.record(rec(None))
    await eventually(lambda: writer.failures == 1)
    flaky.down = False
    writer.retry_now()  # without it the next try would come in an hour
    await eventually(lambda: writer.pending == 0)
    assert writer.failures == 1
    await writer.close()


# -- bad rows never block good ones -----------------------------------------------------

async def test_a_row_the_database_refuses_is_dead_lettered_and_the_rest_land(
        store: KeyStore, spool_dir: str) -> None:
    """A token count no integer column holds: PostgreSQL (int4) and SQLite (64-bit) both
    refuse the row; the batch is split and every other row lands."""
    _, key = await store.create()
    writer = SpendWriter(store, spool_dir, max_batch=100)
    bad = rec(key.token, 0.5, call_id="poisoned", prompt_tokens=2 ** 70)
    good = [rec(key.token, 0.25, call_id=f"good{i}") for i in range(40)]
    for r in [*good[:17], bad, *good[17:]]:
        writer.record(r)
    assert await writer.flush() is True
    assert writer.dead_lettered == 1 and writer.written == 40
    logged = {r.call_id for r in await store.spend_logs()}
    assert logged == {f"good{i}" for i in range(40)}
    assert await stored_spend(store, key.token) == pytest.approx(10.0)  # bad cost not added
    [entry] = [json.loads(line) for line in Path(spool_dir, DEAD_LETTER).read_text()
               .splitlines()]
    assert entry["record"]["call_id"] == "poisoned" and entry["reason"]
    assert writer.stats()["dead_letter_file"] == str(Path(spool_dir, DEAD_LETTER))
    # The writer goes on: later rows land too.
    writer.record(rec(key.token, 0.25, call_id="later"))
    assert await writer.flush() is True
    assert "later" in {r.call_id for r in await store.spend_logs()}
    await writer.close()


async def test_text_is_made_storable(store: KeyStore, spool_dir: str) -> None:
    """NUL, a lone surrogate and an over-long value: stored (replaced, cut), not refused."""
    writer = SpendWriter(store, spool_dir)
    writer.record(rec(None, call_id="text", request_tags=["a\x00b", "\ud800", "x" * 1000],
                      end_user="u\x00" + "\udfff", key_alias="y" * 5000))
    assert await writer.flush() is True
    [row] = await store.spend_logs()
    assert row.request_tags == ["a\ufffdb", "\ufffd", "x" * 253 + "..."]
    assert row.end_user == "u\ufffd\ufffd"
    assert row.key_alias is not None and len(row.key_alias) == 1024
    assert writer.dead_lettered == 0
    await writer.close()


async def test_rejections_are_split_down_to_the_bad_rows(sqlite_store: KeyStore,
                                                         spool_dir: str) -> None:
    class Picky:
        def __init__(self) -> None:
            self.sizes: list[int] = []

        async def add_spend(self, records: list[SpendRecord]) -> int:
            self.sizes.append(len(records))
            if any(r.model == "bad" for r in records):
                raise RowsRejected("DataError: no")
            return await sqlite_store.add_spend(records)

    picky = Picky()
    writer = SpendWriter(picky, spool_dir, max_batch=64)
    for i in range(64):
        writer.record(rec(None, call_id=f"r{i}", model="bad" if i in (5, 40) else "ok"))
    assert await writer.flush() is True
    assert (writer.written, writer.dead_lettered) == (62, 2)
    assert len(picky.sizes) < 30  # halving, not one row at a time
    await writer.close()


# -- crashes and replays ---------------------------------------------------------------------

_CHILD = """
import os, signal, sys, uuid
from llmrelay.proxy.keys import SpendRecord, Spool
from llmrelay.proxy.keys.spool import encode_record
spool = Spool(sys.argv[1]); spool.open()
for i in range(int(sys.argv[2])):
    spool.append(encode_record(SpendRecord(call_id=f"child-{i}", key_hash=sys.argv[3],
                                           cost=0.5)))
print("spooled", flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


async def test_records_of_a_killed_process_are_adopted_and_written(
        store: KeyStore, spool_dir: str) -> None:
    _, key = await store.create()
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    done = subprocess.run([sys.executable, "-c", _CHILD, spool_dir, "25", key.token],
                          env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == -signal.SIGKILL and "spooled" in done.stdout
    [orphan] = segments(spool_dir)
    writer = SpendWriter(store, spool_dir)  # a new process (or another worker) starts
    assert writer.pending == 25 and writer.spool.adopted == 1
    assert writer.spend_of(key.token) == pytest.approx(12.5)  # budgets see them at once
    assert await writer.flush() is True
    assert len(await store.spend_logs()) == 25
    assert await stored_spend(store, key.token) == pytest.approx(12.5)
    assert orphan not in segments(spool_dir)  # written, so deleted
    await writer.close()


async def test_a_replayed_segment_is_never_counted_twice(store: KeyStore, tmp_path: Path,
                                                         spool_dir: str) -> None:
    """A crash after the database committed but before the spool knew: the same segment
    is replayed (here: a copy of it, as another process would find it) and counts 0."""
    _, key = await store.create()
    writer = SpendWriter(store, spool_dir)
    for i in range(10):
        writer.record(rec(key.token, 0.5, call_id=f"r{i}"))
    [name] = segments(spool_dir)
    shutil.copy(Path(spool_dir, name), tmp_path / "copy.spool")
    assert await writer.flush() is True
    await writer.close()
    shutil.copy(tmp_path / "copy.spool", Path(spool_dir, "00000000000000000001-1-x.spool"))
    again = SpendWriter(store, spool_dir)
    assert again.pending == 10
    assert await again.flush() is True
    assert (again.written, again.duplicates) == (0, 10)
    assert len(await store.spend_logs()) == 10
    assert await stored_spend(store, key.token) == pytest.approx(5.0)
    await again.close()


async def test_a_live_process_keeps_its_segment(sqlite_store: KeyStore,
                                                spool_dir: str) -> None:
    one = SpendWriter(sqlite_store, spool_dir)
    one.record(rec(None))
    two = SpendWriter(sqlite_store, spool_dir)  # a second worker: must not take it
    assert two.spool.adopted == 0 and two.pending == 0
    assert await one.close() is True and await two.close() is True


async def test_torn_tail_and_unreadable_lines(sqlite_store: KeyStore, spool_dir: str) -> None:
    os.makedirs(spool_dir)
    good = encode_record(rec(None, call_id="whole"))
    Path(spool_dir, "00000000000000000001-1-a.spool").write_bytes(
        good + b"not json\n" + good[:20])  # the owner died in the middle of a write()
    writer = SpendWriter(sqlite_store, spool_dir)
    assert await writer.flush() is True
    assert [r.call_id for r in await sqlite_store.spend_logs()] == ["whole"]
    assert writer.dead_lettered == 1 and writer.spool.torn == 1
    assert "00000000000000000001-1-a.spool" not in segments(spool_dir)
    await writer.close()


async def test_a_full_spool_refuses_new_requests(sqlite_store: KeyStore,
                                                 spool_dir: str) -> None:
    flaky = FlakyStore(sqlite_store)
    flaky.down = True
    writer = SpendWriter(flaky, Spool(spool_dir, max_bytes=2000))
    assert writer.accepting
    for _ in range(20):
        writer.record(rec(None))
    writer.spool.measure()  # the writer does this every second
    assert not writer.accepting and writer.stats()["accepting"] is False
    flaky.down = False
    assert await writer.flush() is True
    writer.spool.measure()
    assert writer.accepting
    await writer.close()


# -- a real database taken away ------------------------------------------------------------

@pytest.mark.parametrize("fault", ["refuse", "blackhole"])
async def test_postgres_goes_away_and_comes_back(tmp_path: Any, spool_dir: str,
                                                 fault: str) -> None:
    """The database's connections are refused (or silently dropped: no answer, no
    error) for a while: records wait in the spool, no call hangs past its deadline, and
    everything is written once the database is reachable again."""
    url = pg_url()
    parts = urlsplit(url)
    relay = Relay(parts.hostname or "127.0.0.1", parts.port or 5432)
    schema = new_schema()
    userinfo = parts.netloc.rsplit("@", 1)[0] + "@" if "@" in parts.netloc else ""
    proxied = with_schema(
        url.replace(parts.netloc, f"{userinfo}127.0.0.1:{relay.port}", 1), schema)
    store = await open_store(proxied, "", connect_timeout=0.5, statement_timeout=0.5,
                             call_timeout=0.8)
    writer = SpendWriter(store, spool_dir, flush_interval=0.02, retry_initial=0.05,
                         retry_max=0.2)
    try:
        _, key = await store.create()
        await writer.start()
        writer.record(rec(key.token, 0.5))
        await eventually(lambda: writer.written == 1)
        getattr(relay, fault)()
        for _ in range(10):
            writer.record(rec(key.token, 0.25))
        await eventually(lambda: writer.failures >= 2, timeout=20)
        assert writer.pending == 10
        assert await store.healthy() is False
        with pytest.raises(StoreUnavailable):
            await store.get(key.token)
        relay.heal()
        await eventually(lambda: writer.pending == 0, timeout=20)
        assert await store.healthy() is True
        assert await stored_spend(store, key.token) == pytest.approx(3.0)
        assert len(await store.spend_logs()) == 11
    finally:
        await writer.close(timeout=2)
        await store.close()
        relay.close()
        drop_schema(schema)
