"""The proxy's /metrics: its own series, the `prometheus` integration's series when that is
configured, numbers added up across `--workers N`; NaN/Infinity bodies refused; `--port 0`
in `serve --help`. Proxies run as subprocesses, called with the `openai` SDK."""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from proxy_harness import MASTER_KEY, Proxy, run_cli, start_proxy, upstream_model

from llmrelay.proxy.metrics import Metrics

HI = [{"role": "user", "content": "hi"}]
CHAT = "/v1/chat/completions"
_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def samples(text: str, name: str, **labels: str) -> list[float]:
    """Values of the samples called ``name`` whose labels include ``labels``."""
    found = []
    for line in text.splitlines():
        m = _SAMPLE.match(line)
        if m is None or m.group(1) != name:
            continue
        have = dict(_LABEL.findall(m.group(2) or ""))
        if all(have.get(k) == v for k, v in labels.items()):
            found.append(float(m.group(3)))
    return found


def total(text: str, name: str, **labels: str) -> float:
    return sum(samples(text, name, **labels))


def scrape(proxy: Proxy) -> str:
    r = httpx.get(proxy.url + "/metrics", headers={"connection": "close"}, timeout=30)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    return r.text


def wait_for(pred: Any, timeout: float = 15.0) -> Any:
    """Poll ``pred`` until it returns something truthy (callback events are delivered off
    the request path); returns the last value."""
    deadline = time.monotonic() + timeout
    value = pred()
    while not value and time.monotonic() < deadline:
        time.sleep(0.05)
        value = pred()
    return value


def config(fake: Any, *callbacks: str) -> dict[str, Any]:
    cfg: dict[str, Any] = {"model_list": [upstream_model(fake)]}
    if callbacks:
        cfg["litellm_settings"] = {"callbacks": list(callbacks)}
    return cfg


# ---- one worker ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def prom_proxy(module_tmp: Path, fake_server: Any) -> Iterator[Proxy]:
    proxy = start_proxy(module_tmp / "prom", config(fake_server, "prometheus"),
                        master_key=MASTER_KEY)
    yield proxy
    proxy.stop()


def test_integration_series_are_in_metrics(prom_proxy: Proxy, fresh_fake: Any) -> None:
    before = scrape(prom_proxy)
    mine = total(before, "llmrelay_requests_total", model="gpt-4o-mini", status="200")
    theirs = total(before, "llmrelay_llm_requests_total", status="success")
    client = prom_proxy.client()
    for _ in range(3):
        assert client.chat.completions.create(model="gpt-4o-mini", messages=HI).choices
    text = wait_for(lambda: (lambda t: t if total(t, "llmrelay_llm_requests_total",
                                                  status="success") >= theirs + 3 else "")(
        scrape(prom_proxy)))
    assert text, "the integration's counter never reached the calls made"
    assert total(text, "llmrelay_requests_total", route=CHAT, model="gpt-4o-mini",
                 status="200") == mine + 3
    assert total(text, "llmrelay_llm_requests_total", status="success") == theirs + 3
    assert total(text, "llmrelay_llm_tokens_total", type="input") >= 30
    # Each family is described once: the two expositions were joined, not repeated.
    for family in ("llmrelay_requests_total", "llmrelay_llm_requests_total"):
        assert text.count(f"# TYPE {family} counter") == 1


def test_no_integration_series_without_the_callback(module_tmp: Path,
                                                    fresh_fake: Any) -> None:
    proxy = start_proxy(module_tmp / "plain", config(fresh_fake), master_key=MASTER_KEY)
    try:
        proxy.client().chat.completions.create(model="gpt-4o-mini", messages=HI)
        text = scrape(proxy)
        assert total(text, "llmrelay_requests_total", model="gpt-4o-mini") == 1
        assert "llmrelay_llm_" not in text
    finally:
        proxy.stop()


# ---- NaN / Infinity --------------------------------------------------------------------------
def test_nan_from_python_json_is_refused(prom_proxy: Proxy, fresh_fake: Any) -> None:
    # The openai SDK refuses NaN itself; Python's json.dumps writes it (allow_nan=True).
    body = json.dumps({"model": "gpt-4o-mini", "messages": HI, "temperature": math.nan})
    assert "NaN" in body
    r = prom_proxy.http.post(CHAT, content=body, headers={
        **prom_proxy.headers(), "content-type": "application/json"})
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert err["param"] == "temperature" and "NaN" in err["message"]
    assert err["code"] == "invalid_json"
    assert fresh_fake.request_count == 0


@pytest.mark.parametrize(("body", "param", "shown"), [
    (b'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], '
     b'"top_p": Infinity}', "top_p", "Infinity"),
    (b'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], '
     b'"tools": [{"type": "function", "function": {"name": "f", "parameters": '
     b'{"type": "object", "properties": {"x": {"maximum": -Infinity}}}}}]}',
     "tools[0].function.parameters.properties.x.maximum", "-Infinity"),
    (b'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}, '
     b'{"role": "user", "content": [{"type": "text", "text": "a", "w": 1e999}]}]}',
     "messages[1].content[0].w", "1e999"),
])
def test_non_finite_numbers_get_a_400_naming_the_field(
        prom_proxy: Proxy, fresh_fake: Any, body: bytes, param: str, shown: str) -> None:
    r = prom_proxy.http.post(CHAT, content=body, headers={
        **prom_proxy.headers(), "content-type": "application/json"})
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert err["type"] == "invalid_request_error" and err["param"] == param
    assert f"`{param}`" in err["message"] and shown in err["message"]
    assert fresh_fake.request_count == 0


def test_finite_numbers_still_pass(prom_proxy: Proxy, fresh_fake: Any) -> None:
    r = prom_proxy.http.post(CHAT, content=b'{"model": "gpt-4o-mini", "messages": [{"role": '
                             b'"user", "content": "hi"}], "temperature": 1e-400, '
                             b'"top_p": 0.5}',
                             headers={**prom_proxy.headers(),
                                      "content-type": "application/json"})
    assert r.status_code == 200, r.text
    sent = fresh_fake.last.body
    assert sent["temperature"] == 0.0 and sent["top_p"] == 0.5


def test_nan_in_a_key_request_is_refused(prom_proxy: Proxy) -> None:
    r = prom_proxy.http.post("/key/generate", content=b'{"max_budget": NaN}', headers={
        **prom_proxy.headers(), "content-type": "application/json"})
    assert r.status_code == 400 and r.json()["error"]["param"] == "max_budget"


# ---- several workers ---------------------------------------------------------------------------
def _pids(folder: Path, prefix: str) -> set[str]:
    return {p.stem.rsplit("_", 1)[1] for p in folder.glob(f"{prefix}_*.db")}


def test_workers_share_their_numbers(tmp_path: Path, fresh_fake: Any) -> None:
    shared = tmp_path / "prom-multiproc"
    shared.mkdir()
    proxy = start_proxy(tmp_path / "proxy", config(fresh_fake, "prometheus"),
                        master_key=MASTER_KEY, args=["--workers", "2"],
                        env={"PROMETHEUS_MULTIPROC_DIR": str(shared)}, timeout=30)
    try:
        # New connections until both workers have served (each writes its own files).
        sent = 0
        while len(_pids(shared, "counter")) < 2 and sent < 200:
            client = proxy.client(http_client=httpx.Client(headers={"connection": "close"}))
            assert client.chat.completions.create(model="gpt-4o-mini", messages=HI).choices
            sent += 1
        assert len(_pids(shared, "counter")) >= 2, "one worker served every request"

        def complete() -> str:
            t = scrape(proxy)
            return t if total(t, "llmrelay_llm_requests_total", status="success") == sent \
                else ""

        assert wait_for(complete), "the integration's series never added up"
        # Whichever worker answers a scrape, it reports every worker's requests.
        for _ in range(6):
            text = scrape(proxy)
            assert total(text, "llmrelay_requests_total", route=CHAT, model="gpt-4o-mini",
                         status="200") == sent
            assert total(text, "llmrelay_request_duration_seconds_count",
                         model="gpt-4o-mini") == sent
            assert total(text, "llmrelay_tokens_total", type="prompt") == 10 * sent
            assert total(text, "llmrelay_llm_requests_total", status="success") == sent
            assert total(text, "llmrelay_requests_in_flight") == 0
            assert "llmrelay_callback_failures_total" in text
    finally:
        proxy.stop()
    # Stopped workers took their live gauges out of the sums.
    assert proxy.proc.returncode == 0
    assert not _pids(shared, "gauge_livesum")


def test_serve_makes_and_removes_a_metrics_folder(tmp_path: Path, fresh_fake: Any) -> None:
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    proxy = start_proxy(tmp_path / "proxy", config(fresh_fake), master_key=MASTER_KEY,
                        args=["--workers", "2"], env={"TMPDIR": str(scratch)}, timeout=30)
    try:
        made = list(scratch.glob("llmrelay-metrics-*"))
        assert len(made) == 1
        proxy.client().chat.completions.create(model="gpt-4o-mini", messages=HI)
        assert total(scrape(proxy), "llmrelay_requests_total", model="gpt-4o-mini") == 1
        assert list(made[0].glob("counter_*.db"))
    finally:
        proxy.stop()
    assert not made[0].exists()


def test_one_process_keeps_numbers_in_memory() -> None:
    m = Metrics()
    assert not m.shared
    m.in_flight += 1
    m.observe(CHAT, "g", 200, 3, 4, 0.5, 0.2)
    m.in_flight -= 1
    text = m.render({"cb": {"failed": 2}}, {"llmrelay_spend_writer_pending": 7,
                                           "llmrelay_limit_refusals": {"rpm": 3}})
    assert total(text, "llmrelay_requests_total", model="g", status="200") == 1
    assert total(text, "llmrelay_tokens_total", model="g", type="completion") == 4
    assert total(text, "llmrelay_callback_failures_total", callback="cb", kind="failed") == 2
    assert total(text, "llmrelay_spend_writer_pending") == 7
    assert total(text, "llmrelay_limit_refusals_total", limit="rpm") == 3
    assert total(text, "llmrelay_requests_in_flight") == 0


# ---- CLI -----------------------------------------------------------------------------------
def test_serve_help_explains_port_zero(tmp_path: Path) -> None:
    done = run_cli(tmp_path, "serve", "--help")
    assert done.returncode == 0
    assert "0 picks a free port" in " ".join(done.stdout.split())
