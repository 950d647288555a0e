"""``GET /health`` on a running ``llmrelay serve``: one small real call per deployment the
key may use; healthy and unhealthy endpoints without secrets; no spend record."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from proxy_harness import MASTER_KEY, Proxy, start_proxy

KEY = "sk-upstream-secret-0123456789"


@pytest.fixture
def proxy(tmp_path: Path, fake: Any) -> Any:
    config = {"model_list": [
        {"model_name": "good", "litellm_params": {
            "model": "openai/gpt-4o-mini", "api_base": fake.url, "api_key": KEY},
         "model_info": {"id": "good-1"}},
        {"model_name": "good", "litellm_params": {"model": "mock/echo"},
         "model_info": {"id": "good-2"}},
        {"model_name": "down", "litellm_params": {
            "model": "openai/gpt-4o-mini", "api_base": "http://127.0.0.1:9/v1",
            "api_key": KEY}, "model_info": {"id": "down-1", "health_check_timeout": 5}},
        {"model_name": "emb", "litellm_params": {
            "model": "openai/text-embedding-3-small", "api_base": fake.url, "api_key": KEY}},
        {"model_name": "any/*", "litellm_params": {"model": "openai/*", "api_key": KEY}},
    ]}
    p = start_proxy(tmp_path, config, master_key=MASTER_KEY)
    yield p
    p.stop()


def test_health_checks_every_deployment(proxy: Proxy, fake: Any) -> None:
    r = proxy.http.get(proxy.url + "/health", headers=proxy.headers())
    assert r.status_code == 200, r.text
    body = r.json()
    healthy = {e["model_id"]: e for e in body["healthy_endpoints"]}
    unhealthy = {e["model_id"]: e for e in body["unhealthy_endpoints"]}
    assert set(healthy) == {"good-1", "good-2", _id(body, "emb")}
    assert set(unhealthy) == {"down-1"}
    assert body["healthy_count"] == 3 and body["unhealthy_count"] == 1
    assert unhealthy["down-1"]["error"].startswith("APIConnectionError")
    assert healthy["good-1"]["model"] == "openai/gpt-4o-mini"
    assert healthy["good-1"]["model_name"] == "good"
    assert [e["model"] for e in body["skipped_endpoints"]] == ["openai/*"]
    assert KEY not in r.text and "api_key" not in r.text
    paths = sorted(req.path for req in fake.requests)
    assert paths == ["/v1/chat/completions", "/v1/embeddings"]
    assert proxy.http.get(proxy.url + "/spend/logs", headers=proxy.headers()).json() == []


def _id(body: dict[str, Any], group: str) -> str:
    return next(e["model_id"] for e in body["healthy_endpoints"] if e["model_name"] == group)


def test_health_of_one_model_and_auth(proxy: Proxy, fake: Any) -> None:
    r = proxy.http.get(proxy.url + "/health", params={"model": "down"},
                       headers=proxy.headers())
    body = r.json()
    assert body["healthy_count"] == 0 and body["unhealthy_count"] == 1
    assert fake.requests == []
    missing = proxy.http.get(proxy.url + "/health", params={"model": "nope"},
                             headers=proxy.headers())
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "model_not_found"
    wild = proxy.http.get(proxy.url + "/health", params={"model": "any/*"},
                          headers=proxy.headers()).json()
    assert wild["healthy_count"] == wild["unhealthy_count"] == 0
    assert [e["model_name"] for e in wild["skipped_endpoints"]] == ["any/*"]
    assert proxy.http.get(proxy.url + "/health").status_code == 401
    key = proxy.create_key(models=["good"])["key"]
    mine = proxy.http.get(proxy.url + "/health", headers=proxy.headers(key)).json()
    assert {e["model_name"] for e in mine["healthy_endpoints"]} == {"good"}
    assert mine["unhealthy_endpoints"] == []
