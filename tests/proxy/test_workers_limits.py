"""Limits and budgets on one machine without Redis: ``llmrelay serve --workers 2`` on
SQLite, requests on fresh connections (so both workers take some), as the accounting issue
first tried it (``rpm_limit: 10``, 50 at once: 20 passed, 10 per worker). The workers
count in the machine's limits file: a limit means what it says on that machine too."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from cluster import Cluster, chat, statuses
from proxy_harness import readiness, wait_until


@pytest.fixture(scope="module")
def machine(tmp_path_factory: pytest.TempPathFactory, fake_server: Any) -> Iterator[Cluster]:
    tmp = tmp_path_factory.mktemp("machine")
    made = Cluster(tmp, f"sqlite:///{tmp / 'proxy.db'}", None, fake_server.url, n=1,
                   workers=2)
    try:
        yield made
    finally:
        made.stop()


def new_key(machine: Cluster, **fields: Any) -> str:
    return str(machine.proxies[0].create_key(**fields)["key"])


def test_the_limits_backend_is_the_machines(machine: Cluster) -> None:
    ready = readiness(machine.proxies[0])
    assert ready["status"] == "healthy", ready["reasons"]
    assert ready["limits"]["backend"] == "machine"


def test_rpm_is_exact_across_workers(machine: Cluster, fresh_fake: Any) -> None:
    key = new_key(machine, rpm_limit=10)
    assert statuses(machine.fan_out(50, chat(key))) == {200: 10, 429: 40}


def test_max_parallel_requests_across_workers(machine: Cluster, fresh_fake: Any) -> None:
    fresh_fake.default_delay = 0.3
    key = new_key(machine, max_parallel_requests=2)
    got = statuses(machine.fan_out(20, chat(key)))
    assert fresh_fake.max_in_flight <= 2
    assert got.get(200, 0) >= 2 and set(got) <= {200, 429}


def test_the_budget_race_across_workers(machine: Cluster, fresh_fake: Any) -> None:
    """50 at once of $0.0002 each (10 + 5 tokens) on a $0.001 budget: the spend ends at
    or under the budget plus one request's cost, and the key's spend is its rows'."""
    key = new_key(machine, max_budget=0.001)
    got = statuses(machine.fan_out(50, chat(key)))
    assert set(got) <= {200, 400} and got.get(200, 0) >= 1, got
    proxy = machine.proxies[0]
    rows = proxy.spend_logs(50, api_key=key)  # refusals are logged too, at no cost
    assert sum(row["status"] == "success" for row in rows) == got[200]
    spend = sum(row["cost"] for row in rows)
    assert spend <= 0.001 + 0.0002 + 1e-9, (got, spend)
    info = proxy.http.get("/key/info", params={"key": key}, headers=proxy.headers()).json()
    assert info["info"]["spend"] == pytest.approx(spend)


def test_a_budget_window_resets_for_every_worker(machine: Cluster, fresh_fake: Any) -> None:
    """``budget_duration``: the budget runs out, and the next window opens on both
    workers (fresh connections after the reset are all served)."""
    key = new_key(machine, max_budget=0.0005, budget_duration="3s")
    first = statuses(machine.fan_out(8, chat(key)))
    assert first.get(400, 0) >= 1 and 1 <= first.get(200, 0) <= 3, first
    proxy = machine.proxies[0]
    reset_at = proxy.http.get("/key/info", params={"key": key},
                              headers=proxy.headers()).json()["info"]["budget_reset_at"]

    def next_window() -> dict[int, int] | None:
        time.sleep(0.25)
        got = statuses(machine.fan_out(2, chat(key)))
        return got if got == {200: 2} else None

    assert wait_until(next_window, timeout=10), "the budget window never reset"
    info = proxy.http.get("/key/info", params={"key": key}, headers=proxy.headers()).json()
    assert info["info"]["budget_reset_at"] != reset_at
    assert info["info"]["spend"] <= 0.0005 + 0.0002 + 1e-9  # this window's only
