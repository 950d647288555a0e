"""LiteLLM config keys, each honoured as LiteLLM documents it (in-process: the app built
from a config file, requests through httpx's ASGI transport with the app's lifespan run),
and the policy table itself: every documented key is read, reported or refused."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from llmrelay.proxy import litellm_keys
from llmrelay.proxy.app import create_app
from llmrelay.proxy.config import ConfigError, load_config

KEY = "sk-config-keys-0123456789abcdef"
HI = [{"role": "user", "content": "hi"}]


def mock(name: str, reply: str = "ok", **params: Any) -> dict[str, Any]:
    return {"model_name": name, "litellm_params": {"model": "mock/mock",
                                                   "mock_response": reply, **params}}


def config(tmp_path: Path, data: dict[str, Any], name: str = "config.yaml") -> str:
    data.setdefault("general_settings", {}).setdefault("master_key", KEY)
    data["general_settings"].setdefault("database_url", f"sqlite:///{tmp_path / 'k.db'}")
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data))
    return str(path)


@asynccontextmanager
async def client(path: str, peer: str = "127.0.0.1") -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(load_config(path))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=(peer, 5555))
        async with httpx.AsyncClient(transport=transport, base_url="http://proxy",
                                     headers={"Authorization": f"Bearer {KEY}"}) as c:
            yield c


async def chat(c: httpx.AsyncClient, model: str, **extra: Any) -> httpx.Response:
    headers = extra.pop("headers", None)
    return await c.post("/v1/chat/completions", json={"model": model, "messages": HI,
                                                      **extra}, headers=headers)


async def test_completion_model_enforce_user_and_tags(tmp_path: Path) -> None:
    path = config(tmp_path, {"model_list": [mock("a", "from a"), mock("b", "from b")],
                             "general_settings": {"completion_model": "b",
                                                  "enforce_user_param": True,
                                                  "reject_clientside_metadata_tags": True}})
    async with client(path) as c:
        r = await chat(c, "a")
        assert r.status_code == 400 and r.json()["error"]["param"] == "user"
        r = await chat(c, "a", user="u1")
        assert r.status_code == 200 and r.json()["choices"][0]["message"]["content"] == "from b"
        r = await chat(c, "a", user="u1", metadata={"tags": ["free"]})
        assert r.status_code == 400 and r.json()["error"]["param"] == "metadata.tags"


async def test_allowed_ips_and_forwarded_for(tmp_path: Path) -> None:
    path = config(tmp_path, {"model_list": [mock("a")], "general_settings": {
        "allowed_ips": ["10.0.0.0/8", "127.0.0.1"]}})
    async with client(path) as c:
        assert (await chat(c, "a")).status_code == 200
    async with client(path, peer="192.168.1.5") as c:
        r = await chat(c, "a")
        assert r.status_code == 403 and r.json()["error"]["code"] == "ip_not_allowed"
        assert (await c.get("/health/liveliness")).status_code == 403
    path = config(tmp_path, {"model_list": [mock("a")], "general_settings": {
        "allowed_ips": ["10.1.2.3"], "use_x_forwarded_for": True}}, "fwd.yaml")
    async with client(path, peer="192.168.1.5") as c:
        ok = await chat(c, "a", headers={"x-forwarded-for": "10.1.2.3, 192.168.1.5"})
        assert ok.status_code == 200
        assert (await chat(c, "a", headers={"x-forwarded-for": "10.9.9.9"})).status_code == 403
    with pytest.raises(ConfigError, match="allowed_ips"):
        create_app(load_config(config(tmp_path, {"model_list": [mock("a")],
                                                 "general_settings": {
                                                     "allowed_ips": ["not-an-ip"]}},
                                      "bad.yaml")))


async def test_allowed_routes_and_key_header(tmp_path: Path) -> None:
    path = config(tmp_path, {"model_list": [mock("a")], "general_settings": {
        "allowed_routes": ["/v1/chat/completions", "llm_api_routes"],
        "litellm_key_header_name": "X-Litellm-Key"}})
    async with client(path) as c:
        assert (await c.get("/key/list")).status_code == 403
        assert (await c.get("/v1/models")).status_code == 200  # llm_api_routes
        assert (await c.get("/health/readiness")).status_code == 200
        r = await c.post("/v1/chat/completions", json={"model": "a", "messages": HI},
                         headers={"Authorization": "", "X-Litellm-Key": f"Bearer {KEY}"})
        assert r.status_code == 200, r.text


async def test_global_and_per_deployment_parallel_limits(tmp_path: Path,
                                                         fresh_fake: Any) -> None:
    fresh_fake.default_delay = 0.5
    slow = {"model_name": "slow", "litellm_params": {
        "model": "openai/gpt-4o-mini", "api_base": fresh_fake.url, "api_key": "sk-up"}}
    path = config(tmp_path, {"model_list": [slow],
                             "general_settings": {"global_max_parallel_requests": 2}})
    async with client(path) as c:
        results = await asyncio.gather(*(chat(c, "slow") for _ in range(4)))
        codes = sorted(r.status_code for r in results)
        assert codes == [200, 200, 429, 429]
        assert all(r.headers.get("retry-after") == "1" for r in results
                   if r.status_code == 429)
    cfg = load_config(config(tmp_path, {"model_list": [mock("a")], "general_settings": {
        "max_parallel_requests": 3}}, "dep.yaml"))
    assert cfg.router_settings["default_max_parallel_requests"] == 3
    cfg = load_config(config(tmp_path, {"model_list": [mock("a")], "router_settings": {
        "default_max_parallel_requests": 7}}, "dep2.yaml"))
    assert cfg.router_settings["default_max_parallel_requests"] == 7


def test_per_deployment_parallel_limit_in_the_router() -> None:
    from llmrelay.router import Router

    router = Router(model_list=[mock("a", max_parallel_requests=1)])
    dep = router.groups["a"][0]
    assert router.health.try_start(dep)
    assert router.get_available_deployment("a") is None  # full
    router.health.finished(dep)
    assert router.get_available_deployment("a") is dep
    router = Router(model_list=[mock("a")], default_max_parallel_requests=2)
    dep = router.groups["a"][0]
    assert router.health.try_start(dep) and router.health.try_start(dep)
    assert not router.health.try_start(dep)


def test_include_credentials_defaults_environments(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "more.yaml").write_text(yaml.safe_dump({"model_list": [
        {"model_name": "inc", "litellm_params": {"model": "openai/gpt-4o",
                                                 "litellm_credential_name": "shared"}},
        {"model_name": "prod-only", "litellm_params": {"model": "mock/mock"},
         "model_info": {"supported_environments": ["production"]}}]}))
    monkeypatch.setenv("SHARED_KEY", "sk-shared")
    monkeypatch.setenv("LITELLM_ENVIRONMENT", "staging")
    cfg = load_config(config(tmp_path, {
        "include": ["more.yaml"], "model_list": [mock("a")],
        "credential_list": [{"credential_name": "shared", "credential_values": {
            "api_key": "os.environ/SHARED_KEY", "api_base": "http://creds.invalid/v1"},
            "credential_info": {}}],
        "router_settings": {"default_litellm_params": {"temperature": 0.2},
                            "stream_timeout": 7}}))
    names = [m["model_name"] for m in cfg.model_list]
    assert names == ["a", "inc"]  # prod-only is not for this environment
    inc = cfg.model_list[1]["litellm_params"]
    assert inc["api_key"] == "sk-shared" and inc["api_base"] == "http://creds.invalid/v1"
    assert inc["temperature"] == 0.2 and inc["stream_timeout"] == 7.0
    assert "litellm_credential_name" not in inc
    assert any("LITELLM_ENVIRONMENT=staging" in why for _, why in cfg.skipped)
    with pytest.raises(ConfigError, match="no credential named 'nope'"):
        load_config(config(tmp_path, {"model_list": [
            {"model_name": "x", "litellm_params": {"model": "mock/mock",
                                                   "litellm_credential_name": "nope"}}]},
            "nocred.yaml"))


def test_cache_defaults_from_the_environment(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    path = config(tmp_path, {"model_list": [mock("a")], "litellm_settings": {"cache": True}})
    assert load_config(path).cache_params == {"type": "local"}
    monkeypatch.setenv("REDIS_HOST", "redis.internal")
    monkeypatch.setenv("REDIS_PORT", "6380")
    monkeypatch.setenv("REDIS_PASSWORD", "pw")
    params = load_config(path).cache_params
    assert params == {"type": "redis", "host": "redis.internal", "port": 6380, "password": "pw"}
    path = config(tmp_path, {"model_list": [mock("a")], "litellm_settings": {
        "cache": True, "cache_params": {"type": "redis", "ssl": True, "max_connections": 5,
                                        "supported_call_types": ["acompletion", "arerank"]}}},
        "ssl.yaml")
    cfg = load_config(path)
    assert cfg.cache_params["client_kwargs"] == {"ssl": True, "max_connections": 5}
    assert cfg.cache_params["supported_call_types"] == ["acompletion"]
    path = config(tmp_path, {"model_list": [mock("a")], "litellm_settings": {
        "cache": True, "cache_params": {"type": "redis", "sentinel_nodes": [["h", 1]]}}},
        "sentinel.yaml")
    with pytest.raises(ConfigError, match="Sentinel"):
        load_config(path)


def test_unservable_deployments(tmp_path: Path) -> None:
    entries = [mock("a"), {"model_name": "b", "litellm_params": {"model": "nosuch/x"}}]
    cfg = load_config(config(tmp_path, {"model_list": entries, "litellm_settings": {
        "fallbacks": [{"a": ["b"]}]}}))
    assert [m["model_name"] for m in cfg.model_list] == ["a"]
    assert "nosuch" in cfg.unservable["b"]
    assert cfg.router_settings["fallbacks"] == []
    assert any("left out b" in w for w in cfg.warnings)
    with pytest.raises(ConfigError, match="ignore_invalid_deployments"):
        load_config(config(tmp_path, {"model_list": entries, "router_settings": {
            "ignore_invalid_deployments": False}}, "strict.yaml"))
    with pytest.raises(ConfigError, match="no deployment in model_list can be served"):
        load_config(config(tmp_path, {"model_list": entries[1:]}, "none.yaml"))


async def test_unservable_group_answers_400(tmp_path: Path) -> None:
    path = config(tmp_path, {"model_list": [mock("a"), {"model_name": "b", "litellm_params": {
        "model": "nosuch/x"}}]})
    async with client(path) as c:
        r = await chat(c, "b")
        assert r.status_code == 400 and "nosuch" in r.json()["error"]["message"]
        assert [m["id"] for m in (await c.get("/v1/models")).json()["data"]] == ["a"]


def test_every_honoured_key_is_read(tmp_path: Path) -> None:
    """A key the table calls honoured but no loader reads would be skipped silently:
    loading a config with every honoured key must not trip the loader's check."""
    values: dict[str, dict[str, Any]] = {"general_settings": {}, "litellm_settings": {},
                                         "router_settings": {}}
    for section, table in (("general_settings", litellm_keys.GENERAL),
                           ("litellm_settings", litellm_keys.LITELLM),
                           ("router_settings", litellm_keys.ROUTER)):
        for key, (policy, _) in table.items():
            if policy == litellm_keys.HONOURED:
                values[section][key] = None  # present, unset: read but no effect
    path = config(tmp_path, {"model_list": [mock("a")], **values})
    cfg = load_config(path)
    assert not [k for k, _ in cfg.unused if "settings." in k and k.split(".")[1] in
                {k for k, (p, _) in litellm_keys.GENERAL.items() if p == "honoured"}]


def test_same_and_absent_keys_never_refuse(tmp_path: Path) -> None:
    general = {k: True for k, (p, _) in litellm_keys.GENERAL.items()
               if p in (litellm_keys.SAME, litellm_keys.ABSENT)}
    litellm = {k: True for k, (p, _) in litellm_keys.LITELLM.items()
               if p in (litellm_keys.SAME, litellm_keys.ABSENT)}
    router = {k: True for k, (p, _) in litellm_keys.ROUTER.items()
              if p in (litellm_keys.SAME, litellm_keys.ABSENT)}
    cfg = load_config(config(tmp_path, {"model_list": [mock("a")], "general_settings": general,
                                        "litellm_settings": litellm,
                                        "router_settings": router}))
    reported = {k for k, _ in cfg.unused}
    absent = {f"general_settings.{k}" for k, (p, _) in litellm_keys.GENERAL.items()
              if p == litellm_keys.ABSENT}
    assert absent <= reported
    assert not any("unknown key" in w for w in cfg.warnings)


async def test_pass_through_endpoints(tmp_path: Path, fresh_fake: Any,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UPSTREAM_TOKEN", "tok-123")
    target = f"{fresh_fake.url}/chat/completions"
    path = config(tmp_path, {"model_list": [mock("a")], "general_settings": {
        "pass_through_endpoints": [
            {"path": "/v1/rerank", "target": target, "forward_headers": True,
             "headers": {"Authorization": "Bearer os.environ/UPSTREAM_TOKEN"}},
            {"path": "/open", "target": target, "auth": False}]}})
    body = {"model": "gpt-4o-mini", "messages": HI}
    async with client(path) as c:
        r = await c.post("/v1/rerank?x=1", json=body, headers={"x-trace": "t1"})
        assert r.status_code == 200 and r.json()["object"] == "chat.completion"
        seen = fresh_fake.requests[-1]
        assert seen.path.endswith("/chat/completions") and seen.query == {"x": "1"}
        assert seen.headers["authorization"] == "Bearer tok-123"  # not the proxy's key
        assert seen.headers["x-trace"] == "t1" and seen.body == body
        r = await c.post("/v1/rerank", json=body, headers={"Authorization": "Bearer bad"})
        assert r.status_code == 401
        r = await c.post("/open", json=body, headers={"Authorization": ""})
        assert r.status_code == 200
        assert "x-trace" not in fresh_fake.requests[-1].headers  # forward_headers off
    with pytest.raises(ConfigError, match=r"pass_through_endpoints\[0\]\.target"):
        load_config(config(tmp_path, {"model_list": [mock("a")], "general_settings": {
            "pass_through_endpoints": [{"path": "/x", "target": "ftp://no"}]}}, "bad.yaml"))


async def test_custom_provider_map_serves_a_python_handler(tmp_path: Path) -> None:
    # LiteLLM's custom LLM server: litellm_settings.custom_provider_map names a CustomLLM
    # instance as module.attribute next to the config.
    (tmp_path / "my_handler_mod.py").write_text(
        "import llmrelay\n"
        "class Shout(llmrelay.CustomLLM):\n"
        "    def completion(self, *args, **kwargs):\n"
        "        text = kwargs['messages'][-1]['content'].upper()\n"
        "        return {'choices': [{'message': {'role': 'assistant', 'content': text}}]}\n"
        "shout = Shout()\n")
    path = config(tmp_path, {
        "model_list": [{"model_name": "loud", "litellm_params": {"model": "shout-llm/x"}}],
        "litellm_settings": {"custom_provider_map": [
            {"provider": "shout-llm", "custom_handler": "my_handler_mod.shout"}]}})
    try:
        async with client(path) as c:
            r = await chat(c, "loud")
            assert r.status_code == 200
            assert r.json()["choices"][0]["message"]["content"] == "HI"
        with pytest.raises(ConfigError, match="custom_provider_map"):
            load_config(config(tmp_path, {"model_list": [mock("a")], "litellm_settings": {
                "custom_provider_map": [{"provider": "p", "custom_handler": "nope_mod.x"}]}},
                "bad.yaml"))
    finally:
        import llmrelay

        llmrelay.custom_provider_map = []
