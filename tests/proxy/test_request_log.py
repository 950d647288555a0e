"""What the dashboard's request log and models page read: usage rows with their request
and response bodies when ``store_prompts_in_spend_logs`` is on (never with
``turn_off_message_logging``), and ``/model/info`` with each deployment's health from the
router and its group's last 24 hours from the database."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

from asgi_support import in_process

HI = [{"role": "user", "content": "secret question"}]
MOCK = {"model_name": "m", "litellm_params": {"model": "mock/mock",
                                              "mock_response": "secret answer"}}


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def rows(p: Any) -> list[dict[str, Any]]:
    r = await p.http.get("/spend/logs", headers=p.headers())
    assert r.status_code == 200
    return list(r.json())


async def test_bodies_are_kept_when_asked(tmp_path: Path) -> None:
    def config(**extra: Any) -> dict[str, Any]:
        return {"model_list": [MOCK], "general_settings": {"store_prompts_in_spend_logs": True},
                **extra}

    async with in_process(tmp_path, config()) as p:
        r = await p.post("/v1/chat/completions", {"model": "m", "messages": HI})
        assert r.status_code == 200
        r = await p.post("/v1/chat/completions", {"model": "m", "messages": HI,
                                                  "stream": True})
        assert r.status_code == 200
        streamed, whole = await rows(p)
        assert json.loads(whole["messages"])["messages"] == HI
        assert json.loads(whole["response"])["choices"][0]["message"]["content"] == (
            "secret answer")
        assert json.loads(streamed["response"])["choices"][0]["message"]["content"] == (
            "secret answer")
    quiet = config(litellm_settings={"turn_off_message_logging": True})
    async with in_process(tmp_path / "quiet", quiet) as p:
        await p.post("/v1/chat/completions", {"model": "m", "messages": HI})
        [row] = await rows(p)
        assert row["messages"] is None and row["response"] is None
    async with in_process(tmp_path / "default", {"model_list": [MOCK]}) as p:
        await p.post("/v1/chat/completions", {"model": "m", "messages": HI})
        [row] = await rows(p)
        assert row["messages"] is None and "secret" not in json.dumps(row)


async def test_model_info_shows_health_and_usage(tmp_path: Path) -> None:
    broken = {"model_name": "down", "litellm_params": {
        "model": "openai/x", "api_base": f"http://user:pw@127.0.0.1:{closed_port()}/v1",
        "api_key": "sk-upstream-secret"}, "model_info": {"id": "dep-down"}}
    twin = {**broken, "model_info": {"id": "dep-down-2"}}  # one deployment never cools
    config = {"model_list": [MOCK, broken, twin], "litellm_settings": {"num_retries": 0},
              "router_settings": {"num_retries": 0, "allowed_fails": 0, "cooldown_time": 60}}
    async with in_process(tmp_path, config) as p:
        for _ in range(2):
            await p.post("/v1/chat/completions", {"model": "m", "messages": HI})
        r = await p.post("/v1/chat/completions", {"model": "down", "messages": HI})
        assert r.status_code >= 500
        await rows(p)  # the usage rows are written
        r = await p.http.get("/model/info", headers=p.headers())
        assert r.status_code == 200
        assert "sk-upstream-secret" not in r.text and ":pw@" not in r.text
        info = {d["model_name"]: d for d in r.json()["data"]}
        down = [d for d in r.json()["data"] if d["model_name"] == "down"]
        assert any(d["health"]["cooling_down"] and d["health"]["cooldown_reason"]
                   for d in down)
        assert info["down"]["usage_24h"]["error_rate"] == 1.0
        assert info["m"]["usage_24h"]["requests"] == 2
        assert info["m"]["health"]["cooling_down"] is False
        one = await p.http.get("/model/info", params={"litellm_model_id": "dep-down"},
                               headers=p.headers())
        assert [d["model_info"]["id"] for d in one.json()["data"]] == ["dep-down"]
        assert len(down) == 2
        key = (await p.post("/key/generate", {"models": ["m"]})).json()["key"]
        mine = await p.http.get("/model/info", headers=p.headers(key))
        assert [d["model_name"] for d in mine.json()["data"]] == ["m"]
