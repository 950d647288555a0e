"""Limits, budgets and spend across 3 ``llmrelay serve`` instances x 2 workers on one
PostgreSQL and one Redis (LiteLLM's ``router_settings.redis_host``/``redis_port``), with
requests spread over every instance: a limit means what it says however many processes
serve it; Redis refusing or vanishing follows the declared policy; ``kill -9`` of an
instance mid-load loses no acknowledged spend row."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from cluster import Cluster
from keystore_support import drop_schema, new_schema, pg_url, redis_url, with_schema
from proxy_harness import readiness, wait_until
from tcp_relay import Relay

BODY = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 5}


@pytest.fixture(scope="module")
def relay() -> Iterator[Relay]:
    parts = urlsplit(redis_url())
    r = Relay(parts.hostname or "127.0.0.1", parts.port or 6379)
    yield r
    r.close()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, relay: Relay,
            fake_server: Any) -> Iterator[Cluster]:
    schema = new_schema()
    tmp = tmp_path_factory.mktemp("cluster")
    made = Cluster(tmp, with_schema(pg_url(), schema), relay, fake_server.url)
    try:
        yield made
    finally:
        made.stop()
        drop_schema(schema)


@pytest.fixture
def up(fresh_fake: Any) -> Any:
    return fresh_fake


def new_key(cluster: Cluster, **fields: Any) -> str:
    return str(cluster.proxies[0].create_key(**fields)["key"])


def chat(key: str, body: dict[str, Any] | None = None) -> Any:
    headers = {"Authorization": f"Bearer {key}"}
    return lambda client: client.post("/v1/chat/completions", json=body or BODY,
                                      headers=headers)


def statuses(responses: list[httpx.Response]) -> dict[int, int]:
    out: dict[int, int] = {}
    for r in responses:
        out[r.status_code] = out.get(r.status_code, 0) + 1
    return out


def limits_up_everywhere(cluster: Cluster) -> bool:
    """Every worker of every instance reaches Redis again (the gauge is the smallest
    over an instance's workers)."""
    return all("llmrelay_limits_backend_up 1.0" in p.http.get("/metrics").text
               for p in cluster.proxies)


def test_every_instance_and_worker_is_up(cluster: Cluster) -> None:
    for proxy in cluster.proxies:
        ready = readiness(proxy)
        assert ready["status"] == "healthy", ready["reasons"]
        assert ready["limits"]["backend"] == "redis"


def test_rpm_is_exact_across_instances(cluster: Cluster, up: Any) -> None:
    key = new_key(cluster, rpm_limit=10)
    got = statuses(cluster.fan_out(60, chat(key)))
    assert got == {200: 10, 429: 50}


def test_max_parallel_requests_across_instances(cluster: Cluster, up: Any) -> None:
    up.default_delay = 0.3
    key = new_key(cluster, max_parallel_requests=2)
    got = statuses(cluster.fan_out(30, chat(key)))
    assert up.max_in_flight <= 2  # never more than 2 at the upstream at once
    assert got.get(200, 0) >= 2 and set(got) <= {200, 429}


def test_the_budget_race_across_instances(cluster: Cluster, up: Any) -> None:
    """50 requests at once of $0.0002 each on a $0.001 budget: the spend ends at or
    under the budget plus one request's cost."""
    key = new_key(cluster, max_budget=0.001)
    got = statuses(cluster.fan_out(50, chat(key)))
    assert set(got) <= {200, 400} and got.get(200, 0) >= 1
    proxy = cluster.proxies[1]

    def all_written() -> list[dict[str, Any]] | None:
        r = proxy.http.get("/spend/logs", params={"api_key": key}, headers=proxy.headers())
        rows = r.json() if r.status_code == 200 else []
        ok = sum(row["status"] == "success" for row in rows) == got[200]
        return rows if ok else None

    rows = wait_until(all_written)  # the other instances' rows arrive within a second
    assert rows
    spend = sum(row["cost"] for row in rows)
    assert spend <= 0.001 + 0.0002 + 1e-9, (got, spend)
    info = proxy.http.get("/key/info", params={"key": key}, headers=proxy.headers()).json()
    assert info["info"]["spend"] == pytest.approx(spend)


def test_key_changes_reach_every_instance_within_a_second(cluster: Cluster, up: Any) -> None:
    key = new_key(cluster)
    for proxy in cluster.proxies:  # cached everywhere
        assert proxy.http.post("/v1/chat/completions", json=BODY,
                               headers=proxy.headers(key)).status_code == 200
    started = time.monotonic()
    r = cluster.proxies[0].http.post("/key/update", json={"key": key, "blocked": True},
                                     headers=cluster.proxies[0].headers())
    assert r.status_code == 200, r.text

    def refused_everywhere() -> bool:
        return all(p.http.post("/v1/chat/completions", json=BODY, headers=p.headers(key))
                   .status_code == 401 for p in cluster.proxies[1:])

    assert wait_until(refused_everywhere, timeout=10, every=0.05)
    elapsed = time.monotonic() - started
    assert elapsed < 3.0, elapsed  # 1 s by design (0.5 s polls); slack for a busy machine


def test_redis_refused_then_healed_follows_fail_open(cluster: Cluster, relay: Relay,
                                                     up: Any) -> None:
    key = new_key(cluster, rpm_limit=1000)
    proxy = cluster.proxies[2]
    relay.refuse()
    try:
        codes = [proxy.http.post("/v1/chat/completions", json=BODY,
                                 headers=proxy.headers(key)).status_code for _ in range(6)]
        assert codes == [200] * 6  # fail_open: served, limits not checked ...
        ready = wait_until(lambda: (lambda r: r if r["status"] == "degraded" else None)(
            readiness(proxy)))
        assert any("fail_open" in reason for reason in ready["reasons"])  # ... and said so
        metrics = proxy.http.get("/metrics").text
        assert "llmrelay_limits_unchecked_total" in metrics
        assert "llmrelay_limits_backend_up 0.0" in metrics
    finally:
        relay.heal()
    assert wait_until(lambda: limits_up_everywhere(cluster), timeout=20)


def test_redis_blackholed_then_healed(cluster: Cluster, relay: Relay, up: Any) -> None:
    """Redis stops answering without an error: requests are not held up past the
    limits backend's deadline, then counts resume on fresh connections."""
    key = new_key(cluster, rpm_limit=3)
    proxy = cluster.proxies[0]
    relay.blackhole()
    try:
        started = time.monotonic()
        codes = [proxy.http.post("/v1/chat/completions", json=BODY,
                                 headers=proxy.headers(key)).status_code for _ in range(4)]
        assert codes == [200] * 4
        assert time.monotonic() - started < 10  # each worker waits one deadline at most
    finally:
        relay.heal()
    assert wait_until(lambda: limits_up_everywhere(cluster), timeout=20)
    fresh = new_key(cluster, rpm_limit=3)
    got = statuses(cluster.fan_out(9, chat(fresh)))
    assert got == {200: 3, 429: 6}  # exact again


class Load:
    """Threads sending requests to one instance; keeps the call ids answered 200."""

    def __init__(self, url: str, key: str, threads: int = 4) -> None:
        self.acked: list[str] = []
        self.failed = 0
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(url, key))
                         for _ in range(threads)]
        for t in self._threads:
            t.start()

    def _run(self, url: str, key: str) -> None:
        with httpx.Client(base_url=url, timeout=10,
                          headers={"Authorization": f"Bearer {key}"}) as client:
            while not self._stop.is_set():
                try:
                    r = client.post("/v1/chat/completions", json=BODY)
                except httpx.HTTPError:
                    self.failed += 1
                    continue
                if r.status_code == 200:
                    self.acked.append(r.headers["x-llmrelay-call-id"])

    def stop(self) -> list[str]:
        self._stop.set()
        for t in self._threads:
            t.join(30)
        return self.acked


def test_kill_9_of_an_instance_mid_load(cluster: Cluster, up: Any) -> None:
    """Load on two instances; one is killed with ``kill -9`` and restarted. Every
    acknowledged call id has exactly one row (none lost, none twice)."""
    key = new_key(cluster)
    victim, survivor = 1, 2
    loads = [Load(cluster.proxies[i].url, key) for i in (victim, survivor)]
    wait_until(lambda: len(loads[0].acked) >= 100, timeout=30)
    cluster.proxies[victim].kill9()
    acked = loads[0].stop() + loads[1].stop()
    cut_off = loads[0].failed
    proxy = cluster.restart(victim)  # adopts the spool the killed workers left
    rows = wait_until(lambda: (lambda r: r.json() if r.status_code == 200
                               and len(r.json()) >= len(acked) else None)(
        proxy.http.get("/spend/logs", params={"api_key": key, "limit": "100000"},
                       headers=proxy.headers())), timeout=30)
    ids = [row["call_id"] for row in rows]
    assert len(ids) == len(set(ids))
    assert set(acked) <= set(ids)
    assert len(set(ids) - set(acked)) <= cut_off


def test_fail_closed_refuses_while_redis_is_away(tmp_path: Path, up: Any) -> None:
    """One instance with ``limits_failure_policy: fail_closed``: while Redis refuses,
    requests of keys with limits get a 503 and readiness is 503 ``unavailable``; keys
    without limits are served; when Redis is back so is everything."""
    parts = urlsplit(redis_url())
    relay = Relay(parts.hostname or "127.0.0.1", parts.port or 6379)
    schema = new_schema()
    one = Cluster(tmp_path, with_schema(pg_url(), schema), relay, up.url, n=1, workers=1,
                  general={"limits_failure_policy": "fail_closed"})
    proxy = one.proxies[0]
    try:
        limited = proxy.create_key(rpm_limit=100)["key"]
        free = proxy.create_key()["key"]
        relay.refuse()
        r = proxy.http.post("/v1/chat/completions", json=BODY, headers=proxy.headers(limited))
        assert r.status_code == 503 and r.json()["error"]["code"] == "limits_unavailable"
        assert proxy.http.post("/v1/chat/completions", json=BODY,
                               headers=proxy.headers(free)).status_code == 200
        r = proxy.http.get("/health/readiness")
        assert r.status_code == 503 and r.json()["status"] == "unavailable"
        relay.heal()
        assert wait_until(lambda: proxy.http.post(
            "/v1/chat/completions", json=BODY, headers=proxy.headers(limited)
        ).status_code == 200, timeout=20)
        assert readiness(proxy)["status"] == "healthy"
    finally:
        one.stop()
        relay.close()
        drop_schema(schema)


