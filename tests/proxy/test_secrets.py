"""Credentials inside an upstream URL (``user:password@``, ``?api-key=``) work, and never
show: a canary is searched for in every callback kwargs, the proxy's log output, error
bodies (admin and virtual key, plain and streamed), spend records and ``/metrics``. A
virtual key sees a generic upstream error with a call id; the master key the (masked)
detail. ``/metrics`` and readiness details can be put behind a key."""

from __future__ import annotations

import base64
import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
from proxy_harness import MASTER_KEY, Proxy, start_proxy, wait_until

from fakes.openai_server import Reply
from llmrelay._urls import mask_url, mask_urls_in, split_base, with_query

USER, PASSWORD, QUERY_KEY = "canaryuser", "CANARYPASS1234", "CANARYQUERY5678"
CANARIES = (PASSWORD, QUERY_KEY, base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode())
MESSAGES = [{"role": "user", "content": "hi"}]

RECORDER = '''
import json, os
from llmrelay.integrations.custom_logger import CustomLogger

class Dump(CustomLogger):
    def _w(self, kind, kwargs, response_obj):
        with open(os.environ["DUMP"], "a") as f:
            f.write(json.dumps({"kind": kind, "kwargs": kwargs,
                                "response": str(response_obj)}, default=repr) + "\\n")
    def log_pre_api_call(self, model, messages, kwargs):
        self._w("pre", kwargs, None)
    async def async_log_success_event(self, kwargs, response_obj, start_time, end_time):
        self._w("success", kwargs, response_obj)
    async def async_log_failure_event(self, kwargs, response_obj, start_time, end_time):
        self._w("failure", kwargs, response_obj)

dump = Dump()
'''


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def proxy(module_tmp: Path, fake_server: Any) -> Iterator[Proxy]:
    host = fake_server.url.split("://", 1)[1]  # 127.0.0.1:port/v1
    creds = f"http://{USER}:{PASSWORD}@{host}?api-key={QUERY_KEY}&api-version=2024-06-01"
    down = f"http://{USER}:{PASSWORD}@127.0.0.1:{_closed_port()}/v1?key={QUERY_KEY}"

    def model(name: str, base: str, **extra: Any) -> dict[str, Any]:
        return {"model_name": name, "litellm_params": {"model": "openai/gpt-4o-mini",
                                                       "api_base": base, **extra}}

    config = {
        "model_list": [model("with-key", creds, api_key="sk-upstream-key-0000"),
                       model("basic-only", creds), model("down", down)],
        "litellm_settings": {"callbacks": ["dump_mod.dump"], "num_retries": 0},
        "router_settings": {"num_retries": 0, "allowed_fails": 1000, "cooldown_time": 0},
    }
    p = start_proxy(module_tmp, config, master_key=MASTER_KEY,
                    files={"dump_mod.py": RECORDER},
                    env={"DUMP": str(module_tmp / "dump.jsonl")})
    yield p
    p.stop()


def _clean(text: str, where: str) -> None:
    for canary in CANARIES:
        assert canary not in text, f"{canary} leaked in {where}"


def test_masking_helpers() -> None:
    url = f"https://{USER}:{PASSWORD}@h.example/v1?api-key={QUERY_KEY}&api-version=1"
    assert mask_url(url) == "https://****@h.example/v1?api-key=****&api-version=1"
    assert QUERY_KEY not in mask_urls_in(f"GET {url} failed")
    assert split_base(url) == ("https://h.example/v1", f"api-key={QUERY_KEY}&api-version=1",
                               "Basic " + CANARIES[2])
    assert with_query("https://h/x?api-version=2", "api-version=1&k=v") == \
        "https://h/x?api-version=2&k=v"
    assert mask_url(None) is None and mask_url("https://plain.example/v1") == \
        "https://plain.example/v1"


def test_credentials_in_api_base_work(proxy: Proxy, fake_server: Any) -> None:
    fake_server.reset()
    r = proxy.client().chat.completions.create(model="with-key", messages=MESSAGES)
    assert r.choices[0].message.content
    sent = fake_server.last
    assert sent.path.endswith("/v1/chat/completions")
    assert sent.query == {"api-key": QUERY_KEY, "api-version": "2024-06-01"}
    assert sent.headers["authorization"] == "Bearer sk-upstream-key-0000"
    proxy.client().chat.completions.create(model="basic-only", messages=MESSAGES)
    assert fake_server.last.headers["authorization"] == "Basic " + CANARIES[2]
    chunks = list(proxy.client().chat.completions.create(model="with-key", messages=MESSAGES,
                                                         stream=True))
    assert chunks and fake_server.last.query["api-key"] == QUERY_KEY


def test_upstream_errors_hide_detail_from_virtual_keys(proxy: Proxy,
                                                       fake_server: Any) -> None:
    key = proxy.create_key()["key"]
    echo = f"bad gateway at http://{USER}:{PASSWORD}@internal.example/v1?api-key={QUERY_KEY}"
    fake_server.reset()
    fake_server.enqueue(Reply.error(502, echo, type="server_error"))
    with pytest.raises(openai.APIStatusError) as info:
        proxy.client(key).chat.completions.create(model="with-key", messages=MESSAGES)
    err = info.value
    assert err.status_code == 502
    call_id = err.response.headers["x-llmrelay-call-id"]
    body = err.response.text
    assert call_id in body and "internal.example" not in body
    _clean(body, "a virtual key's error body")
    fake_server.enqueue(Reply.error(502, echo, type="server_error"))
    with pytest.raises(openai.APIStatusError) as info:
        proxy.client().chat.completions.create(model="with-key", messages=MESSAGES)
    assert "internal.example" in info.value.response.text  # the admin sees the detail
    _clean(info.value.response.text, "the master key's error body")
    # an error the caller can fix keeps its message, URLs removed
    fake_server.enqueue(Reply.error(400, f"bad tool schema (see {echo})"))
    with pytest.raises(openai.BadRequestError) as bad:
        proxy.client(key).chat.completions.create(model="with-key", messages=MESSAGES)
    assert "bad tool schema" in bad.value.response.text
    _clean(bad.value.response.text, "a 400 error body")
    wait_until(lambda: call_id in proxy.output())  # the log has the detail, masked


@pytest.mark.parametrize("stream", [False, True])
def test_connection_errors_do_not_leak(proxy: Proxy, stream: bool) -> None:
    key = proxy.create_key()["key"]
    for client in (proxy.client(key), proxy.client()):
        with pytest.raises(openai.APIStatusError) as info:
            client.chat.completions.create(model="down", messages=MESSAGES, stream=stream)
        assert info.value.status_code >= 500
        _clean(info.value.response.text, "a connection error body")


def test_no_canary_anywhere(proxy: Proxy, fake_server: Any) -> None:
    fake_server.reset()
    proxy.client().chat.completions.create(model="with-key", messages=MESSAGES)
    with pytest.raises(openai.APIStatusError):
        proxy.client().chat.completions.create(model="down", messages=MESSAGES)
    dump = proxy.tmp / "dump.jsonl"
    assert wait_until(lambda: dump.exists() and '"failure"' in dump.read_text()
                      and '"success"' in dump.read_text())
    events = [json.loads(line) for line in dump.read_text().splitlines() if line.strip()]
    assert {e["kind"] for e in events} >= {"pre", "success", "failure"}
    bases = {e["kwargs"]["litellm_params"].get("api_base") for e in events}
    assert any(b and "****@" in b for b in bases), bases
    _clean(dump.read_text(), "callback kwargs")
    for path in ("/metrics", "/spend/logs", "/spend/keys", "/key/list",
                 "/health/readiness"):
        r = proxy.http.get(path, headers=proxy.headers())
        assert r.status_code == 200, (path, r.text)
        _clean(r.text, path)
    rows = proxy.spend_logs(1)
    assert any("****@" in (row.get("api_base") or "") for row in rows)
    _clean(proxy.output(), "the proxy's log output")


def test_metrics_and_readiness_details_can_require_a_key(tmp_path: Path) -> None:
    config = {"model_list": [{"model_name": "mock", "litellm_params": {"model": "mock/mock"}}],
              "general_settings": {"require_auth_for_metrics_endpoint": "admin",
                                   "require_auth_for_health_details": True}}
    p = start_proxy(tmp_path, config, master_key=MASTER_KEY)
    try:
        key = p.create_key()["key"]
        assert p.http.get("/metrics").status_code == 401
        assert p.http.get("/metrics", headers=p.headers(key)).status_code == 403
        assert p.http.get("/metrics", headers=p.headers()).status_code == 200
        assert p.http.get("/health/readiness").json() == {"status": "healthy"}
        detail = p.http.get("/health/readiness", headers=p.headers(key)).json()
        assert "version" in detail and "spend_writer" in detail
        assert p.http.get("/health/liveliness").status_code == 200
    finally:
        p.stop()
