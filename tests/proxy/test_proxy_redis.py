"""The proxy with its response cache on Redis (``LLMRELAY_TEST_REDIS_URL``, default
``redis://127.0.0.1:6379/0``), reached through a TCP relay the test can cut: Redis going
away never fails a request (calls go upstream uncached), ``/health/readiness`` says so, and
the cache serves again once Redis is back.

Skipped when Redis is unreachable, unless ``LLMRELAY_REQUIRE_SERVICES=1``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from proxy_harness import (
    MASTER_KEY,
    REDIS_URL,
    Proxy,
    readiness,
    redis_namespace,
    start_proxy,
    upstream_model,
    wait_until,
)
from tcp_relay import Relay


@pytest.fixture(scope="module")
def namespace() -> Iterator[str]:
    yield from redis_namespace("llmrelay-proxy-test")


@pytest.fixture(scope="module")
def relay(namespace: str) -> Iterator[Relay]:
    parts = urlsplit(REDIS_URL)
    r = Relay(parts.hostname or "127.0.0.1", parts.port or 6379)
    yield r
    r.close()


@pytest.fixture(scope="module")
def proxy(module_tmp: Path, fake_server: Any, relay: Relay, namespace: str) -> Iterator[Proxy]:
    db = (urlsplit(REDIS_URL).path or "/0").lstrip("/") or "0"
    config = {
        "model_list": [upstream_model(fake_server)],
        "litellm_settings": {"cache": True, "cache_params": {
            "type": "redis", "url": f"redis://127.0.0.1:{relay.port}/{db}",
            "namespace": namespace, "timeout": 1, "retry_after": 0}},
        "router_settings": {"num_retries": 0, "cooldown_time": 0},
    }
    p = start_proxy(module_tmp, config, master_key=MASTER_KEY)
    yield p
    p.stop()



def ask(proxy: Proxy, text: str) -> str:
    r = proxy.client().chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": text}])
    return str(r.choices[0].message.content)



def test_redis_goes_away_and_comes_back(proxy: Proxy, relay: Relay, fresh_fake: Any) -> None:
    fake = fresh_fake
    ready = readiness(proxy)
    assert ready["status"] == "healthy"
    assert ready["cache"]["type"] == "redis" and ready["cache"]["reachable"] is True

    text = f"cache me {uuid.uuid4().hex}"
    assert ask(proxy, text) == ask(proxy, text) == "Hello from fake"
    assert fake.request_count == 1  # the second answer came from Redis

    relay.cut()
    try:
        down = readiness(proxy)
        assert down["status"] == "degraded" and down["cache"]["reachable"] is False
        assert down["db"] == "connected"
        other = f"uncached {uuid.uuid4().hex}"
        assert ask(proxy, other) == ask(proxy, other) == "Hello from fake"
        assert fake.request_count == 3  # both went upstream: no cache, no failure
    finally:
        relay.restore()

    assert wait_until(lambda: readiness(proxy)["status"] == "healthy")
    assert readiness(proxy)["cache"]["reachable"] is True
    again = f"cached again {uuid.uuid4().hex}"
    ask(proxy, again)
    ask(proxy, again)
    assert fake.request_count == 4
