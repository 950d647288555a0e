"""The proxy on PostgreSQL (``LLMRELAY_TEST_POSTGRES_URL``, default
``postgresql://postgres@127.0.0.1:5432/test``), reached through a TCP relay the test can cut:
keys and spend end to end, then the database going away and coming back -- cached keys keep
working, usage records wait in the spend writer's buffer, ``/health/readiness`` says so, and
the records are written once the database is back.

Skipped when the server is unreachable, unless ``LLMRELAY_REQUIRE_SERVICES=1``.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import openai
import pytest
from proxy_harness import MASTER_KEY, Proxy, readiness, start_proxy, wait_until
from tcp_relay import Relay

PG_URL = os.environ.get("LLMRELAY_TEST_POSTGRES_URL",
                        "postgresql://postgres@127.0.0.1:5432/test")
MESSAGES = [{"role": "user", "content": "hi"}]


def _reachable() -> str | None:
    try:
        import psycopg

        with psycopg.connect(PG_URL, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


@pytest.fixture(scope="module")
def pg() -> Iterator[str]:
    problem = _reachable()
    if problem is not None:
        if os.environ.get("LLMRELAY_REQUIRE_SERVICES") == "1":
            pytest.fail(f"PostgreSQL at {PG_URL} is required but unreachable: {problem}")
        pytest.skip(f"PostgreSQL at {PG_URL} is unreachable: {problem}")
    schema = f"llmrelay_proxy_{uuid.uuid4().hex[:10]}"
    yield schema
    import psycopg

    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture(scope="module")
def relay() -> Iterator[Relay]:
    parts = urlsplit(PG_URL)
    r = Relay(parts.hostname or "127.0.0.1", parts.port or 5432)
    yield r
    r.close()


@pytest.fixture(scope="module")
def proxy(module_tmp: Path, pg: str, relay: Relay) -> Iterator[Proxy]:
    parts = urlsplit(PG_URL)
    netloc = parts.netloc.rsplit("@", 1)
    host = f"127.0.0.1:{relay.port}"
    netloc_new = f"{netloc[0]}@{host}" if len(netloc) == 2 else host
    url = urlunsplit(parts._replace(netloc=netloc_new, query=f"schema={pg}"))
    config = {"model_list": [{"model_name": "m", "litellm_params": {"model": "mock/mock"},
                              "model_info": {"input_cost_per_token": 0.001,
                                             "output_cost_per_token": 0.001}}],
              "general_settings": {"database_url": url}}
    p = start_proxy(module_tmp, config, master_key=MASTER_KEY)
    yield p
    p.stop()




def test_keys_and_spend_on_postgres(proxy: Proxy) -> None:
    ready = readiness(proxy)
    assert ready["database"] == "postgresql" and ready["status"] == "healthy"
    made = proxy.create_key(key_alias="pg-key", max_budget=10)
    r = proxy.client(made["key"]).chat.completions.with_raw_response.create(
        model="m", messages=MESSAGES)
    rows = proxy.spend_logs(1, api_key=made["key"])
    assert [row["call_id"] for row in rows] == [r.headers["x-llmrelay-call-id"]]
    assert rows[0]["cost"] > 0 and rows[0]["key_alias"] == "pg-key"


def test_database_outage(proxy: Proxy, relay: Relay) -> None:
    made = proxy.create_key(key_alias="survivor")
    client = proxy.client(made["key"])
    client.chat.completions.create(model="m", messages=MESSAGES)  # the key is now cached
    proxy.spend_logs(1, api_key=made["key"])
    relay.cut()
    try:
        down = wait_until(lambda: readiness(proxy)["db"] == "disconnected" and
                          readiness(proxy))
        assert down["status"] == "degraded"
        ids = [client.chat.completions.with_raw_response.create(
            model="m", messages=MESSAGES).headers["x-llmrelay-call-id"] for _ in range(3)]
        backlog = wait_until(lambda: readiness(proxy)["spend_writer"]["pending"] >= 3
                             and readiness(proxy))
        assert backlog["spend_writer"]["pending"] >= 3
        with pytest.raises(openai.APIStatusError) as info:  # a key never seen: no answer
            proxy.client("sk-never-seen-0123456789").chat.completions.create(
                model="m", messages=MESSAGES)
        assert info.value.status_code == 503
    finally:
        relay.restore()
    assert wait_until(lambda: readiness(proxy)["status"] == "healthy"
                      and readiness(proxy)["spend_writer"]["pending"] == 0)
    logged = {row["call_id"] for row in proxy.spend_logs(4, api_key=made["key"])}
    assert set(ids) <= logged
