"""Harness for proxy tests: the proxy runs as a subprocess (``llmrelay serve``) on a free
port, with the fake OpenAI upstream behind it and the official ``openai`` SDK in front.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
SRC = ROOT / "src"
MASTER_KEY = "sk-master-0123456789abcdef"
PERMIT_NO_KEY = "LLMRELAY_DANGEROUSLY_PERMIT_WEAK_OR_UNSET_MASTER_KEY"
BANNER_URL = re.compile(r"proxy on (http://[0-9.]+:[0-9]+)")

def proxy_command(*args: str) -> list[str]:
    """``python -m llmrelay.cli <args>`` with the test interpreter."""
    return [sys.executable, "-m", "llmrelay.cli", *args]


def proxy_env(tmp: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.endswith("_API_KEY") and not k.startswith("LLMRELAY_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SRC), env.get("PYTHONPATH")]))
    env["LLMRELAY_DATA_DIR"] = str(tmp)
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env


class Proxy:
    """A running ``llmrelay serve`` subprocess.

    The proxy is started with ``--port 0``: it binds a free port itself and names it in its
    banner, which :meth:`wait_ready` reads (no window in which another process could take
    a port chosen in advance)."""

    def __init__(self, proc: subprocess.Popen[bytes], tmp: Path,
                 master_key: str | None) -> None:
        self.proc = proc
        self.tmp = tmp
        self.master_key = master_key
        self.port = 0
        self.url = ""
        self.http = httpx.Client(timeout=30)

    @property
    def base_url(self) -> str:
        return self.url + "/v1"

    def headers(self, key: str | None = None) -> dict[str, str]:
        key = key or self.master_key
        return {"Authorization": f"Bearer {key}"} if key else {}

    def client(self, key: str | None = None, **kw: Any) -> Any:
        import openai

        return openai.OpenAI(base_url=self.base_url, api_key=key or self.master_key or "none",
                             max_retries=0, **kw)

    def aclient(self, key: str | None = None, **kw: Any) -> Any:
        import openai

        return openai.AsyncOpenAI(base_url=self.base_url,
                                  api_key=key or self.master_key or "none", max_retries=0, **kw)

    def output(self) -> str:
        return (self.tmp / "proxy.out").read_text(errors="replace")

    def _find_url(self) -> bool:
        """Read the URL from the banner (complete lines only: the file is being written)."""
        text = self.output()
        match = BANNER_URL.search(text[: text.rfind("\n") + 1])
        if match is None:
            return False
        self.url = match.group(1)
        self.port = int(self.url.rsplit(":", 1)[1])
        self.http = httpx.Client(base_url=self.url, timeout=30)
        return True

    def wait_ready(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"proxy exited with {self.proc.returncode}:\n"
                                   f"{self.output()}")
            try:
                if (self.url or self._find_url()) and self.http.get(
                        "/health/liveliness").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"proxy not ready after {timeout}s:\n{self.output()}")

    def stop(self, sig: int = signal.SIGINT) -> None:
        """Stop gracefully (``sig``: SIGINT as Ctrl-C, SIGTERM as an orchestrator)."""
        self.http.close()
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def kill9(self) -> None:
        """``kill -9`` of the proxy and all its workers, mid-whatever."""
        self.http.close()
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()

    def create_key(self, **fields: Any) -> dict[str, Any]:
        r = self.http.post("/key/generate", json=fields, headers=self.headers())
        assert r.status_code == 200, r.text
        return dict(r.json())

    def spend_logs(self, n: int, timeout: float = 10.0, **params: str) -> list[dict[str, Any]]:
        """Wait until at least ``n`` usage records (matching ``params``) are stored."""
        deadline = time.monotonic() + timeout
        while True:
            r = self.http.get("/spend/logs", params=params, headers=self.headers())
            assert r.status_code == 200, r.text
            rows = list(r.json())
            if len(rows) >= n or time.monotonic() > deadline:
                return rows
            time.sleep(0.05)


class Load:
    """Threads POSTing ``body`` to ``url``'s chat route with ``key`` until stopped.
    ``acked``: the call ids answered 200; ``failed``: requests sent and cut off (the server
    went away mid-request: not acknowledged, though perhaps charged and recorded)."""

    def __init__(self, url: str, key: str, body: dict[str, Any], threads: int = 4) -> None:
        self.acked: list[str] = []
        self.failed = 0
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(url, key, body))
                         for _ in range(threads)]
        for t in self._threads:
            t.start()

    def _run(self, url: str, key: str, body: dict[str, Any]) -> None:
        with httpx.Client(base_url=url, timeout=10,
                          headers={"Authorization": f"Bearer {key}"}) as client:
            while not self._stop.is_set():
                try:
                    r = client.post("/v1/chat/completions", json=body)
                except httpx.ConnectError:  # never reached the server
                    time.sleep(0.02)
                    continue
                except httpx.HTTPError:
                    self.failed += 1
                    continue
                if r.status_code == 200:
                    self.acked.append(r.headers["x-llmrelay-call-id"])

    def stop(self) -> list[str]:
        self._stop.set()
        for t in self._threads:
            t.join(30)
        return list(self.acked)


def start_proxy(tmp: Path, config: dict[str, Any] | None, *, master_key: str | None = None,
                files: dict[str, str] | None = None, env: dict[str, str] | None = None,
                args: list[str] | None = None, timeout: float = 20.0,
                wait: bool = True) -> Proxy:
    """Write ``config`` (and ``files``) into ``tmp`` and start ``llmrelay serve`` there
    (``wait`` False: return at once; call ``wait_ready`` later)."""
    tmp.mkdir(parents=True, exist_ok=True)
    for name, text in (files or {}).items():
        (tmp / name).write_text(text)
    cli = ["serve", "--port", "0", *(args or [])]
    if config is not None:
        if master_key:
            config.setdefault("general_settings", {}).setdefault("master_key", master_key)
        config.setdefault("general_settings", {}).setdefault(
            "database_url", f"sqlite:///{tmp / 'proxy.db'}")
        (tmp / "config.yaml").write_text(yaml.safe_dump(config))
        cli += ["--config", str(tmp / "config.yaml")]
    env = dict(env or {})
    if config is not None and not master_key and not config.get(
            "general_settings", {}).get("master_key"):
        # a config without a master key runs only when explicitly permitted (as LiteLLM)
        env.setdefault(PERMIT_NO_KEY, "true")
    with open(tmp / "proxy.out", "wb") as out:
        # Its own process group: kill9() takes the supervisor and its workers at once.
        proc = subprocess.Popen(proxy_command(*cli), cwd=tmp, env=proxy_env(tmp, env),
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    proxy = Proxy(proc, tmp, master_key)
    if not wait:
        return proxy
    try:
        proxy.wait_ready(timeout)
    except BaseException:
        proxy.stop()
        raise
    return proxy


def run_cli(tmp: Path, *args: str, env: dict[str, str] | None = None,
            timeout: float = 30) -> subprocess.CompletedProcess[str]:
    """Run ``llmrelay <args>`` to completion (for config errors and ``keys`` commands)."""
    tmp.mkdir(parents=True, exist_ok=True)
    return subprocess.run(proxy_command(*args), cwd=tmp, env=proxy_env(tmp, env),
                          capture_output=True, text=True, timeout=timeout)


def read_events(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    # The proxy's hook threads append while we read: a last line without its newline is
    # still being written, so only whole lines count.
    text = path.read_text()
    whole = text[: text.rfind("\n") + 1]
    return [json.loads(line) for line in whole.splitlines() if line.strip()]


def wait_events(path: Path, pred: Any, n: int = 1, timeout: float = 10.0) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        found = [e for e in read_events(path) if pred(e)]
        if len(found) >= n or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def wait_until(pred: Any, timeout: float = 20.0, every: float = 0.05) -> Any:
    """Poll ``pred`` until it returns something true (the timeout is a safety net); returns
    its last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(every)


def readiness(proxy: Proxy) -> dict[str, Any]:
    """``GET /health/readiness`` (always 200; the body says what is reachable)."""
    r = proxy.http.get("/health/readiness")
    assert r.status_code == 200
    return dict(r.json())


def upstream_model(fake: Any, name: str = "gpt-4o-mini", **params: Any) -> dict[str, Any]:
    """A model_list entry pointing at the fake upstream."""
    return {"model_name": name, "litellm_params": {
        "model": f"openai/{name}", "api_base": fake.url, "api_key": "sk-upstream-key",
        **params}}


REDIS_URL = os.environ.get("LLMRELAY_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def redis_namespace(prefix: str) -> Any:
    """A generator for a fixture: a fresh key prefix on the test Redis, its keys deleted
    afterwards; skips (or fails, with ``LLMRELAY_REQUIRE_SERVICES=1``) without Redis."""
    import uuid

    import pytest

    try:
        import redis

        client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2, socket_timeout=2)
        client.ping()
    except Exception as exc:
        message = f"Redis at {REDIS_URL} is unusable: {type(exc).__name__}: {exc}"
        if os.environ.get("LLMRELAY_REQUIRE_SERVICES") == "1":
            pytest.fail(message)
        pytest.skip(message)
    ns = f"{prefix}-{uuid.uuid4().hex[:12]}"
    yield ns
    try:
        keys = list(client.scan_iter(match=f"{ns}*"))
        if keys:
            client.delete(*keys)
    finally:
        client.close()
