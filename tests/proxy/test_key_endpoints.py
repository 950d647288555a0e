"""LiteLLM's key endpoints as LiteLLM users call them: ``aliases``, ``tags`` and
``soft_budget`` on ``/key/generate`` and ``/key/update`` (and the fields llmrelay does not
enforce refused by name), a virtual key reading its own ``/key/info``, ``/key/regenerate``,
and the ``x-litellm-*`` response headers of a key's requests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from llmrelay.proxy.app import create_app
from llmrelay.proxy.config import load_config

MASTER = "sk-key-endpoints-0123456789abcdef"
HI = [{"role": "user", "content": "hi"}]
PRICED = {"input_cost_per_token": 0.001, "output_cost_per_token": 0.002}


@asynccontextmanager
async def proxy(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    models = [{"model_name": name, "litellm_params": {"model": "mock/mock",
                                                      "mock_response": f"from {name}"},
               "model_info": {"id": f"dep-{name}", **PRICED}} for name in ("a", "b")]
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"model_list": models, "general_settings": {
        "master_key": MASTER, "database_url": f"sqlite:///{tmp_path / 'keys.db'}"}}))
    app = create_app(load_config(str(path)))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://proxy") as c:
            yield c


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def generate(c: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    r = await c.post("/key/generate", json=fields, headers=auth(MASTER))
    assert r.status_code == 200, r.text
    return dict(r.json())


async def test_aliases_tags_soft_budget(tmp_path: Path) -> None:
    async with proxy(tmp_path) as c:
        out = await generate(c, aliases={"gpt-4": "b"}, tags=["team-x"], soft_budget=0.00001,
                             metadata={"owner": "ana"}, models=["b"])
        assert out["aliases"] == {"gpt-4": "b"} and out["tags"] == ["team-x"]
        assert out["soft_budget"] == 0.00001 and out["metadata"] == {"owner": "ana"}
        key = out["key"]
        r = await c.post("/v1/chat/completions", json={"model": "gpt-4", "messages": HI},
                         headers=auth(key))
        assert r.status_code == 200, r.text
        assert r.json()["choices"][0]["message"]["content"] == "from b"
        assert r.headers["x-litellm-model-group"] == "b"
        assert r.headers["x-litellm-key-soft-budget"] == "1e-05"
        spent = float(r.headers["x-litellm-key-spend"])
        assert spent == pytest.approx(float(r.headers["x-litellm-response-cost"])) and spent > 0
        r = await c.get("/spend/logs", headers=auth(MASTER))
        assert r.json()[0]["request_tags"] == ["team-x"]
        # updates keep what they do not name
        r = await c.post("/key/update", json={"key": key, "metadata": {"owner": "bo"}},
                         headers=auth(MASTER))
        assert r.json()["aliases"] == {"gpt-4": "b"} and r.json()["metadata"] == {"owner": "bo"}
        r = await c.post("/key/update", json={"key": key, "tags": ["t2"], "aliases": None},
                         headers=auth(MASTER))
        body = r.json()
        assert body["tags"] == ["t2"] and body["aliases"] == {} and body["metadata"] == {
            "owner": "bo"}
        listed = (await c.get("/key/list", headers=auth(MASTER))).json()["keys"][0]
        assert "_llmrelay_key" not in listed["metadata"] and listed["tags"] == ["t2"]


@pytest.mark.parametrize("field", ["model_max_budget", "model_rpm_limit", "guardrails"])
async def test_fields_llmrelay_does_not_enforce_are_refused(tmp_path: Path,
                                                            field: str) -> None:
    async with proxy(tmp_path) as c:
        r = await c.post("/key/generate", json={field: {"a": 1}}, headers=auth(MASTER))
        assert r.status_code == 400 and field in r.json()["error"]["message"]
        assert (await c.get("/key/list", headers=auth(MASTER))).json()["total_count"] == 0
        r = await c.post("/key/generate", json={"aliases": "nope"}, headers=auth(MASTER))
        assert r.status_code == 400 and r.json()["error"]["param"] == "aliases"
        r = await c.post("/key/generate", json={"metadata": {"_llmrelay_key": {}}},
                         headers=auth(MASTER))
        assert r.status_code == 400


async def test_a_virtual_key_reads_its_own_info(tmp_path: Path) -> None:
    async with proxy(tmp_path) as c:
        mine, other = await generate(c, key_alias="mine"), await generate(c, key_alias="x")
        r = await c.get("/key/info", headers=auth(mine["key"]))
        assert r.status_code == 200 and r.json()["info"]["key_alias"] == "mine"
        r = await c.get("/key/info", params={"key": mine["key"]}, headers=auth(mine["key"]))
        assert r.status_code == 200 and r.json()["key"] == mine["token"]
        r = await c.get("/key/info", params={"key": other["token"]}, headers=auth(mine["key"]))
        assert r.status_code == 403
        r = await c.get("/key/info", params={"key": other["token"]}, headers=auth(MASTER))
        assert r.status_code == 200 and r.json()["info"]["key_alias"] == "x"
        assert (await c.get("/key/info", headers=auth("sk-unknown-123456"))).status_code == 401
        assert (await c.get("/key/info", headers=auth(MASTER))).status_code == 400


async def test_regenerate(tmp_path: Path) -> None:
    async with proxy(tmp_path) as c:
        old = await generate(c, key_alias="rot", max_budget=5, tags=["t"], models=["a"])
        r = await c.post("/v1/chat/completions", json={"model": "a", "messages": HI},
                         headers=auth(old["key"]))
        assert r.status_code == 200
        r = await c.post("/key/regenerate", json={"key": old["key"], "max_budget": 7},
                         headers=auth(MASTER))
        assert r.status_code == 200, r.text
        new = r.json()
        assert new["key"] != old["key"] and new["regenerated_from"] == old["token"]
        assert (new["key_alias"], new["max_budget"], new["tags"], new["models"]) == (
            "rot", 7.0, ["t"], ["a"])
        assert new["spend"] > 0  # the old key's spend is kept
        r = await c.post("/v1/chat/completions", json={"model": "a", "messages": HI},
                         headers=auth(old["key"]))
        assert r.status_code == 401
        # a virtual key may rotate itself, through the path form too
        r = await c.post(f"/key/{new['key']}/regenerate", headers=auth(new["key"]))
        assert r.status_code == 200, r.text
        third = r.json()["key"]
        r = await c.post("/v1/chat/completions", json={"model": "a", "messages": HI},
                         headers=auth(third))
        assert r.status_code == 200
        other = await generate(c)
        r = await c.post("/key/regenerate", json={"key": other["key"]}, headers=auth(third))
        assert r.status_code == 403
        r = await c.post("/key/regenerate", json={"key": "sk-no-such-key-99"},
                         headers=auth(MASTER))
        assert r.status_code == 404


async def test_litellm_headers_on_success_and_error(tmp_path: Path) -> None:
    async with proxy(tmp_path) as c:
        key = (await generate(c, rpm_limit=100, max_budget=3))["key"]
        r = await c.post("/v1/chat/completions", json={"model": "a", "messages": HI},
                         headers=auth(key))
        h = r.headers
        assert h["x-litellm-call-id"] == h["x-llmrelay-call-id"]
        assert h["x-litellm-model-id"] == "dep-a" and h["x-litellm-model-name"] == "mock/mock"
        assert h["x-litellm-version"] and float(h["x-litellm-response-duration-ms"]) >= 0
        assert float(h["x-litellm-overhead-duration-ms"]) >= 0
        assert (h["x-litellm-key-rpm-limit"], h["x-litellm-key-max-budget"]) == ("100", "3.0")
        assert (h["x-litellm-attempted-retries"], h["x-litellm-attempted-fallbacks"]) == (
            "0", "0")
        r = await c.post("/v1/chat/completions", json={"model": "nope", "messages": HI},
                         headers=auth(key))
        assert r.status_code == 404 and r.headers["x-litellm-call-id"]
        assert float(r.headers["x-litellm-response-cost"]) == 0.0  # as LiteLLM: "0"


async def test_concurrent_requests_keep_their_own_call_ids(tmp_path: Path) -> None:
    async with proxy(tmp_path) as c:
        rs = await asyncio.gather(*(c.post("/v1/chat/completions", json={
            "model": "a", "messages": HI}, headers=auth(MASTER)) for _ in range(5)))
        ids = {r.headers["x-litellm-call-id"] for r in rs}
        assert len(ids) == 5
