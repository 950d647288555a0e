"""Several ``llmrelay serve`` instances (each with several workers) on one PostgreSQL and
one Redis, as a platform team runs the gateway behind a load balancer. Redis is reached
through a TCP relay the test can make refuse, blackhole or heal; each instance has its
own folder (its own spool: its own "machine"). Without a relay (``redis_relay=None``):
no Redis, as one machine runs ``llmrelay serve --workers N`` on its own."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
from proxy_harness import MASTER_KEY, Proxy, start_proxy
from tcp_relay import Relay

PRICE = {"input_cost_per_token": 0.00001, "output_cost_per_token": 0.00002}
BODY = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 5}


def chat(key: str, body: dict[str, Any] | None = None) -> Callable[[httpx.Client],
                                                                    httpx.Response]:
    """A request :meth:`Cluster.fan_out` sends: ``body`` to the chat route with ``key``."""
    headers = {"Authorization": f"Bearer {key}"}
    return lambda client: client.post("/v1/chat/completions", json=body or BODY,
                                      headers=headers)


def statuses(responses: list[httpx.Response]) -> dict[int, int]:
    """How many responses had each status code."""
    out: dict[int, int] = {}
    for r in responses:
        out[r.status_code] = out.get(r.status_code, 0) + 1
    return out


class Cluster:
    """``n`` instances x ``workers`` workers; ``proxies[i]`` is instance ``i``."""

    def __init__(self, tmp: Path, database_url: str, redis_relay: Relay | None, upstream: str,
                 n: int = 3, workers: int = 2, general: dict[str, Any] | None = None) -> None:
        self.tmp = tmp
        self.workers = workers
        self.config = {
            "model_list": [{"model_name": "m", "litellm_params": {
                "model": "openai/gpt-4o-mini", "api_base": upstream, "api_key": "sk-up"},
                "model_info": PRICE}],
            "router_settings": {"num_retries": 0} if redis_relay is None else {
                "redis_host": "127.0.0.1", "redis_port": redis_relay.port, "num_retries": 0},
            "general_settings": {"database_url": database_url, **(general or {})},
        }
        self.proxies: list[Proxy] = []
        for i in range(n):  # started together, waited for together
            self.proxies.append(self._launch(i))
        for proxy in self.proxies:
            proxy.wait_ready(60)

    def _launch(self, i: int) -> Proxy:
        return start_proxy(self.tmp / f"instance{i}", dict(self.config),
                           master_key=MASTER_KEY, args=["--workers", str(self.workers)],
                           wait=False)

    def restart(self, i: int) -> Proxy:
        self.proxies[i] = proxy = self._launch(i)
        proxy.wait_ready(60)
        return proxy

    def stop(self) -> None:
        for proxy in self.proxies:
            proxy.stop()

    def fan_out(self, n: int, send: Callable[[httpx.Client], httpx.Response],
                timeout: float = 60) -> list[httpx.Response]:
        """``n`` requests at once, spread round-robin over the instances (their own
        connections, so every worker gets some)."""
        barrier = threading.Barrier(n)

        def one(i: int) -> httpx.Response:
            proxy = self.proxies[i % len(self.proxies)]
            with httpx.Client(base_url=proxy.url, timeout=timeout) as client:
                barrier.wait(timeout)
                return send(client)

        with ThreadPoolExecutor(max_workers=n) as pool:
            return list(pool.map(one, range(n)))
