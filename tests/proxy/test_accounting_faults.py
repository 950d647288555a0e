"""Accounting under faults, on SQLite and PostgreSQL, with ``llmrelay serve`` as users run
it: a poisoned request never blocks spend writing; ``kill -9`` mid-load then a restart
loses no acknowledged row and counts none twice; a blackholed database delays rows but
loses none, and readiness says why meanwhile."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from keystore_support import drop_schema, new_schema, pg_url, with_schema
from proxy_harness import MASTER_KEY, Load, Proxy, readiness, start_proxy, wait_until
from tcp_relay import Relay

PRICE = {"input_cost_per_token": 0.00001, "output_cost_per_token": 0.00002}
MOCK = [{"model_name": "m", "litellm_params": {"model": "mock/mock"}, "model_info": PRICE}]
BODY = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'proxy.db'}"
        return
    schema = new_schema()
    try:
        yield with_schema(pg_url(), schema)
    finally:
        drop_schema(schema)


def config(database_url: str, **general: Any) -> dict[str, Any]:
    return {"model_list": MOCK,
            "general_settings": {"database_url": database_url, **general}}


def all_rows(proxy: Proxy, key: str, n: int, timeout: float = 30.0) -> list[dict[str, Any]]:
    """The key's spend rows once there are ``n`` (a complete report), else what is there."""
    def ready() -> list[dict[str, Any]] | None:
        r = proxy.http.get("/spend/logs", params={"api_key": key, "limit": "100000"},
                           headers=proxy.headers())
        if r.status_code != 200:
            return None
        rows = list(r.json())
        return rows if len(rows) >= n else None
    return wait_until(ready, timeout) or []


# -- poisoned text ------------------------------------------------------------------------

def test_a_poisoned_request_is_stored_and_blocks_nothing(tmp_path: Path,
                                                         database_url: str) -> None:
    proxy = start_proxy(tmp_path, config(database_url), master_key=MASTER_KEY)
    try:
        key = proxy.create_key(key_alias="poison")["key"]
        headers = {**proxy.headers(key), "content-type": "application/json"}
        # A lone surrogate (a JSON escape a client's json.dumps writes) is no text: a
        # 400 naming the field, before anything is called.
        raw = ('{"model": "m", "messages": [{"role": "user", "content": "hi"}], '
               '"tags": ["ok", "\\ud800"]}')
        r = proxy.http.post("/v1/chat/completions", content=raw.encode(), headers=headers)
        assert r.status_code == 400 and r.json()["error"]["param"] == "tags[1]", r.text
        # NUL (and over-long tags, refused by the request contract) is answered and stored
        # made storable.
        raw = ('{"model": "m", "messages": [{"role": "user", "content": "hi"}], '
               '"tags": ["a\\u0000b", "%s"], "user": "u\\u0000"}' % ("t" * 200))
        r = proxy.http.post("/v1/chat/completions", content=raw.encode(), headers=headers)
        assert r.status_code == 200, r.text
        poisoned = r.headers["x-llmrelay-call-id"]
        later = [proxy.http.post("/v1/chat/completions", json=BODY, headers=headers)
                 .headers["x-llmrelay-call-id"] for _ in range(5)]
        rows = all_rows(proxy, key, 6)
        assert {row["call_id"] for row in rows} == {poisoned, *later}
        [row] = [row for row in rows if row["call_id"] == poisoned]
        assert row["request_tags"] == ["a\ufffdb", "t" * 200]
        assert row["end_user"] == "u\ufffd"
        ready = readiness(proxy)
        assert ready["status"] == "healthy", ready["reasons"]
        assert ready["spend_writer"]["dead_lettered"] == 0
    finally:
        proxy.stop()


def test_a_row_the_database_refuses_is_dead_lettered_and_readiness_says_so(
        tmp_path: Path, database_url: str, fresh_fake: Any) -> None:
    """An upstream reporting more tokens than a database integer holds: that row goes to
    the dead-letter file, the others land, readiness and /metrics say so."""
    model = {"model_name": "up", "litellm_params": {
        "model": "openai/gpt-4o-mini", "api_base": fresh_fake.url, "api_key": "sk-up"}}
    cfg = {"model_list": [model], "general_settings": {"database_url": database_url}}
    proxy = start_proxy(tmp_path, cfg, master_key=MASTER_KEY)
    try:
        key = proxy.create_key()["key"]
        client = proxy.client(key)
        fresh_fake.default_usage = {"prompt_tokens": 2 ** 70, "completion_tokens": 1}
        client.chat.completions.create(model="up", messages=BODY["messages"])
        fresh_fake.default_usage = {"prompt_tokens": 10, "completion_tokens": 5}
        good = [client.chat.completions.with_raw_response.create(
            model="up", messages=BODY["messages"]).headers["x-llmrelay-call-id"]
            for _ in range(3)]
        rows = all_rows(proxy, key, 3)
        assert {row["call_id"] for row in rows} == set(good)
        ready = wait_until(lambda: (lambda r: r if r["status"] == "degraded" else None)(
            readiness(proxy)))
        assert any("dead-letter.jsonl" in reason for reason in ready["reasons"])
        assert ready["spend_writer"]["dead_lettered"] == 1
        metrics = proxy.http.get("/metrics").text
        assert "llmrelay_spend_rows_dead_lettered_total 1.0" in metrics
        dead = tmp_path / "llmrelay-spool" / "dead-letter.jsonl"
        assert dead.exists() and len(dead.read_text().splitlines()) == 1
        dead.unlink()  # an operator dealt with it
        assert readiness(proxy)["status"] == "healthy"
    finally:
        proxy.stop()


# -- kill -9 ----------------------------------------------------------------------------------

def test_kill_9_mid_load_loses_no_acknowledged_row(tmp_path: Path, database_url: str) -> None:
    """Twice: load on two workers, ``kill -9`` of the whole server, restart. Every
    acknowledged call id has its row, none has two, and the key's spend is the rows'.
    A request the kill cut off after its record was spooled but before its answer
    arrived (the upstream did charge for it) has a row too: at most one per request in
    flight at the kill, each one the client saw fail."""
    cfg = config(database_url)
    proxy = start_proxy(tmp_path, cfg, master_key=MASTER_KEY, args=["--workers", "2"])
    key = proxy.create_key(key_alias="survivor")["key"]
    acked: list[str] = []
    cut_off = 0
    try:
        for _ in range(2):
            load = Load(proxy.url, key, BODY, threads=6)
            wait_until(lambda load=load: len(load.acked) >= 150, timeout=30)
            proxy.kill9()
            acked += load.stop()
            cut_off += load.failed
            proxy = start_proxy(tmp_path, cfg, master_key=MASTER_KEY,
                                args=["--workers", "2"])
        rows = all_rows(proxy, key, len(acked))
        ids = [row["call_id"] for row in rows]
        assert len(ids) == len(set(ids))  # none twice
        assert set(acked) <= set(ids)  # none missing
        assert len(set(ids) - set(acked)) <= cut_off
        info = proxy.http.get("/key/info", params={"key": key}, headers=proxy.headers())
        spend = info.json()["info"]["spend"]
        assert spend == pytest.approx(sum(row["cost"] for row in rows))
    finally:
        proxy.stop()


# -- a blackholed database -------------------------------------------------------------------

def test_blackholed_postgres_delays_rows_but_loses_none(tmp_path: Path) -> None:
    """Traffic to PostgreSQL silently dropped (no error, no close) for a while: requests
    of cached keys are answered, readiness is degraded with the reason, no database call
    hangs past its deadline, and every row lands after the partition heals (the dead
    connections are replaced, never waited on)."""
    url = pg_url()
    parts = urlsplit(url)
    relay = Relay(parts.hostname or "127.0.0.1", parts.port or 5432)
    schema = new_schema()
    proxy = start_proxy(tmp_path, config(with_schema(relay.via(url), schema),
                                         database_timeout=1), master_key=MASTER_KEY)
    try:
        key = proxy.create_key(key_alias="partition")["key"]
        client = proxy.client(key)
        client.chat.completions.create(**BODY)  # the key is cached now
        relay.blackhole()
        started = time.monotonic()
        ids = [client.chat.completions.with_raw_response.create(**BODY)
               .headers["x-llmrelay-call-id"] for _ in range(5)]
        assert time.monotonic() - started < 5  # the request path never waits on the database
        down = wait_until(lambda: (lambda r: r if r["status"] != "healthy" else None)(
            readiness(proxy)), timeout=20)
        assert down["status"] == "degraded"
        assert any("database unreachable" in reason for reason in down["reasons"])
        relay.heal()
        rows = all_rows(proxy, key, 6, timeout=30)
        assert set(ids) <= {row["call_id"] for row in rows} and len(rows) == 6
        assert wait_until(lambda: readiness(proxy)["status"] == "healthy", timeout=20)
    finally:
        proxy.stop()
        relay.close()
        drop_schema(schema)
