"""Config loading and checking (in-process), and `llmrelay serve` refusing bad configs,
starting on the embedded defaults, with several workers, and `--help` (subprocesses)."""

from __future__ import annotations

import socket
import time
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
import yaml
from proxy_harness import MASTER_KEY, ROOT, run_cli, start_proxy

from llmrelay.proxy.config import ConfigError, load_config


def write(tmp_path: Path, config: Any, name: str = "config.yaml") -> str:
    path = tmp_path / name
    path.write_text(config if isinstance(config, str) else yaml.safe_dump(config))
    return str(path)


MOCK = [{"model_name": "m", "litellm_params": {"model": "mock/mock"}}]


@pytest.fixture(autouse=True)
def _no_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("LLMRELAY_MASTER_KEY", "LLMRELAY_DATABASE_URL", "LLMRELAY_DATA_DIR",
                 "OPENAI_API_KEY", "ANTHROPIC_API_KEY"):
        monkeypatch.delenv(name, raising=False)


def test_full_config_resolves_env_and_settings(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UPSTREAM_KEY", "sk-from-env")
    monkeypatch.setenv("MK", MASTER_KEY)
    (tmp_path / "cfg_cb_one.py").write_text("handler = object()\n")
    cfg = load_config(write(tmp_path, {
        "model_list": [{"model_name": "g", "litellm_params": {
            "model": "openai/gpt-4o-mini", "api_key": "os.environ/UPSTREAM_KEY"},
            "model_info": {"id": "dep-1"}}],
        "litellm_settings": {"callbacks": "cfg_cb_one.handler", "num_retries": 3,
                             "drop_params": True, "turn_off_message_logging": True,
                             "cache": True, "cache_params": {"type": "local"}},
        "router_settings": {"routing_strategy": "least-busy"},
        "general_settings": {"master_key": "os.environ/MK", "max_request_size_mb": 2,
                             "database_url": "sqlite:///x.db"},
    }))
    assert cfg.model_list[0]["litellm_params"]["api_key"] == "sk-from-env"
    import cfg_cb_one  # type: ignore[import-not-found]

    assert cfg.callbacks == [cfg_cb_one.handler]
    assert cfg.settings == {"num_retries": 3, "drop_params": True,
                            "turn_off_message_logging": True}
    assert cfg.cache and cfg.cache_params == {"type": "local"}
    assert cfg.router_settings == {"routing_strategy": "least-busy"}
    assert cfg.master_key == MASTER_KEY and cfg.database_url == "sqlite:///x.db"
    assert cfg.max_request_size == 2 * 1024 * 1024
    assert cfg.warnings == [] and not cfg.defaults


def test_unknown_keys_and_unset_env_warn(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, {
        "model_list": [{"model_name": "g", "litellm_params": {
            "model": "openai/x", "api_key": "os.environ/NOT_SET_ANYWHERE"}, "extra": 1}],
        "litellm_settings": {"set_verbose": True},
        "general_settings": {"alerting": ["slack"]},
        "surprise": 1,
    }))
    text = "\n".join(cfg.warnings)
    for name in ("surprise", "model_list[0].extra", "NOT_SET_ANYWHERE"):
        assert name in text
    # LiteLLM settings naming things llmrelay does not have: reported, not "unknown"
    assert [k for k, _ in cfg.unused] == ["general_settings.alerting",
                                          "litellm_settings.set_verbose"]
    assert "set_verbose" not in text and "alerting" not in text
    assert cfg.model_list[0]["litellm_params"]["api_key"] is None


@pytest.mark.parametrize(("config", "named"), [
    ({"model_list": "gpt-4o"}, "model_list"),
    ({"model_list": []}, "model_list"),
    ({"model_list": [{"litellm_params": {"model": "a/b"}}]}, "model_list[0].model_name"),
    ({"model_list": [{"model_name": "x"}]}, "model_list[0].litellm_params"),
    ({"model_list": [{"model_name": "x", "litellm_params": {"api_key": "k"}}]},
     "model_list[0].litellm_params.model"),
    ({"model_list": MOCK, "litellm_settings": {"num_retries": "two"}},
     "litellm_settings.num_retries"),
    ({"model_list": MOCK, "litellm_settings": {"num_retries": -1}},
     "litellm_settings.num_retries"),
    ({"model_list": MOCK, "litellm_settings": {"drop_params": "yes"}},
     "litellm_settings.drop_params"),
    ({"model_list": MOCK, "litellm_settings": {"cache_params": ["local"]}},
     "litellm_settings.cache_params"),
    ({"model_list": MOCK, "litellm_settings": {"callbacks": ["no_such_module_xyz.h"]}},
     "litellm_settings.callbacks[0]"),
    ({"model_list": MOCK, "litellm_settings": {"callbacks": "definitely-not-an-integration"}},
     "litellm_settings.callbacks"),
    ({"model_list": MOCK, "general_settings": {"database_url": "mysql://x"}},
     "general_settings.database_url"),
    ({"model_list": MOCK, "general_settings": {"max_request_size_mb": 0}},
     "general_settings.max_request_size_mb"),
    ({"model_list": MOCK, "router_settings": "fast"}, "router_settings"),
    ({"model_list": [{"model_name": "m", "litellm_params": {"model": "mock/mock"},
                      "model_info": {"input_cost_per_token": "cheap"}}]},
     "model_list[0].model_info.input_cost_per_token"),
    ({"model_list": [{"model_name": "m", "litellm_params": {
        "model": "mock/mock", "output_cost_per_token": -1}}]},
     "model_list[0].litellm_params.output_cost_per_token"),
    ({"model_list": MOCK, "litellm_settings": {"cache": True, "cache_params": {
        "type": "redis", "port": "not-a-port"}}}, "litellm_settings.cache_params.port"),
    ({"model_list": MOCK, "litellm_settings": {"cache_params": {"ttl": -5}}},
     "litellm_settings.cache_params.ttl"),
    ({"model_list": MOCK, "litellm_settings": {"cache_params": {"host": 6379}}},
     "litellm_settings.cache_params.host"),
    ("model_list: [unclosed", "not valid YAML"),
    ("- just\n- a list\n", "top level"),
])
def test_invalid_values_name_the_key(tmp_path: Path, config: Any, named: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, config))
    assert named in str(info.value)


def test_numbers_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PRICE_IN", "0.001")
    monkeypatch.setenv("CACHE_PORT", "6390")
    cfg = load_config(write(tmp_path, {
        "model_list": [{"model_name": "m", "litellm_params": {"model": "mock/mock"},
                        "model_info": {"input_cost_per_token": "os.environ/PRICE_IN"}}],
        "litellm_settings": {"cache_params": {"type": "redis", "port": "os.environ/CACHE_PORT",
                                              "ttl": 60}}}))
    assert cfg.model_list[0]["model_info"]["input_cost_per_token"] == 0.001
    assert cfg.cache_params == {"type": "redis", "port": 6390, "ttl": 60}


def test_embedded_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    cfg = load_config(None)
    assert cfg.defaults and cfg.model_names() == ["mock"] and cfg.cache
    assert cfg.master_key is None and cfg.database_url is None
    assert cfg.sqlite_path == "./llmrelay.db"
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant")
    monkeypatch.setenv("LLMRELAY_DATA_DIR", str(tmp_path))
    cfg = load_config(None)
    names = cfg.model_names()
    assert names[0] == "mock" and "gpt-4o-mini" in names and "claude-3-5-haiku" in names
    gpt = next(m for m in cfg.model_list if m["model_name"] == "gpt-4o-mini")
    assert gpt["litellm_params"]["api_key"] == "sk-openai"
    assert cfg.sqlite_path == str(tmp_path / "llmrelay.db")


# ---- the command line --------------------------------------------------------------------
@pytest.mark.parametrize(("config", "named"), [
    ({"model_list": MOCK, "litellm_settings": {"num_retries": "many"}},
     "litellm_settings.num_retries"),
    ({"model_list": MOCK, "litellm_settings": {"callbacks": "missing_cb_mod.handler"}},
     "litellm_settings.callbacks"),
    ({"model_list": MOCK, "router_settings": {"routing_strategy": "random-guess"}},
     "routing_strategy"),
])
def test_serve_refuses_bad_config(tmp_path: Path, config: Any, named: str) -> None:
    path = write(tmp_path, config)
    done = run_cli(tmp_path, "serve", "--config", path, "--port", "0")
    assert done.returncode == 2
    assert named in done.stderr and "refusing to start" in done.stderr
    assert "Traceback" not in done.stderr


def test_serve_port_in_use(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = run_cli(tmp_path, "serve", "--port", str(port))
    assert done.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr
    assert "Try it" not in done.stdout  # no banner for a proxy that is not running
    assert "Traceback" not in done.stderr


def test_serve_missing_config_file(tmp_path: Path) -> None:
    done = run_cli(tmp_path, "serve", "--config", str(tmp_path / "nope.yaml"))
    assert done.returncode == 2 and "nope.yaml" in done.stderr


def test_serve_defaults_banner_and_warnings(tmp_path: Path) -> None:
    proxy = start_proxy(tmp_path / "defaults", None)
    try:
        r = proxy.client().chat.completions.create(
            model="mock", messages=[{"role": "user", "content": "hi"}])
        assert r.choices[0].message.content
        out = proxy.output()
        assert f"http://127.0.0.1:{proxy.port}" in out
        assert f"curl http://127.0.0.1:{proxy.port}/v1/chat/completions" in out
        assert "from openai import OpenAI" in out and 'model="mock"' in out
        assert "AUTHENTICATION IS OFF" in out
        assert (tmp_path / "defaults" / "llmrelay.db").exists()  # $LLMRELAY_DATA_DIR
    finally:
        proxy.stop()


def test_serve_unknown_key_warns_but_starts(tmp_path: Path) -> None:
    proxy = start_proxy(tmp_path, {"model_list": MOCK, "litellm_settings": {"mystery": 1}},
                        master_key=MASTER_KEY)
    try:
        assert "litellm_settings.mystery" in proxy.output()
        assert "AUTHENTICATION IS OFF" not in proxy.output()
        assert proxy.client().models.list().data[0].id == "m"
    finally:
        proxy.stop()


def test_example_config_runs(tmp_path: Path) -> None:
    examples = ROOT / "examples"
    (tmp_path / "custom_callbacks.py").write_text((examples / "custom_callbacks.py").read_text())
    config = yaml.safe_load((examples / "proxy_config.yaml").read_text())
    proxy = start_proxy(tmp_path, config, master_key=MASTER_KEY,
                        env={"LLMRELAY_MASTER_KEY": MASTER_KEY})
    try:
        client = proxy.client()
        raw = client.chat.completions.with_raw_response.create(
            model="mock", messages=[{"role": "user", "content": "Hello"}])
        assert raw.headers["x-litellm-custom-header"] == "my-value"
        assert float(raw.headers["x-llmrelay-response-cost"]) > 0  # model_info prices
        assert raw.parse().choices[0].message.content
        with pytest.raises(openai.BadRequestError) as info:
            client.chat.completions.create(model="mock", messages=[{"role": "user",
                                                                    "content": " "}])
        assert info.value.body["message"] == "empty prompts are not allowed"
    finally:
        proxy.stop()


def test_serve_workers(tmp_path: Path) -> None:
    proxy = start_proxy(tmp_path, {"model_list": MOCK}, master_key=MASTER_KEY,
                        args=["--workers", "2"], timeout=30)
    hi = [{"role": "user", "content": "hi"}]
    try:
        client = proxy.client()
        for _ in range(4):
            assert client.chat.completions.create(model="m", messages=hi).choices
        assert "2 workers" in proxy.output()
        # A key used on every worker (each has its own key cache), then revoked through
        # one of them: the others stop accepting it too, well before their entries expire.
        key = proxy.create_key(key_alias="everywhere")["key"]

        def use_key() -> int:  # a new connection each time, so that both workers serve
            return httpx.post(proxy.base_url + "/chat/completions", json={
                "model": "m", "messages": hi}, headers={**proxy.headers(key),
                                                        "connection": "close"}).status_code

        assert [use_key() for _ in range(20)] == [200] * 20
        r = proxy.http.post("/key/delete", json={"keys": [key]}, headers=proxy.headers())
        assert r.status_code == 200 and r.json()["deleted"] == 1
        deadline = time.monotonic() + 20  # a safety net: workers look every second
        refused = 0
        while refused < 20 and time.monotonic() < deadline:
            refused = refused + 1 if use_key() == 401 else 0
        assert refused == 20
    finally:
        proxy.stop()


@pytest.mark.parametrize("args", [["--help"], ["serve", "--help"], ["keys", "--help"],
                                  ["keys", "create", "--help"], ["keys", "list", "--help"],
                                  ["keys", "revoke", "--help"]])
def test_help_everywhere(tmp_path: Path, args: list[str]) -> None:
    done = run_cli(tmp_path, *args)
    assert done.returncode == 0 and "usage: llmrelay" in done.stdout


# ---- accounting: where Redis is, spool, failure policy ------------------------------------
@pytest.mark.parametrize(("config", "env", "url", "source"), [
    ({}, {}, None, None),
    ({"router_settings": {"redis_host": "r1", "redis_port": 6380, "redis_password": "p w"}},
     {}, "redis://:p%20w@r1:6380/0", "router_settings"),
    ({"router_settings": {"redis_url": "redis://r2:6379/3"}}, {}, "redis://r2:6379/3",
     "router_settings"),
    ({"general_settings": {"redis_host": "g"}, "router_settings": {"redis_host": "r"}}, {},
     "redis://g:6379/0", "general_settings"),
    ({"litellm_settings": {"cache": True, "cache_params": {"type": "redis", "host": "c",
                                                           "port": "6390"}}},
     {}, "redis://c:6390/0", "litellm_settings.cache_params"),
    ({"litellm_settings": {"cache": True, "cache_params": {"type": "redis"}}},
     {"REDIS_HOST": "envhost", "REDIS_PASSWORD": "pw"}, "redis://:pw@envhost:6379/0",
     "litellm_settings.cache_params"),
    ({"router_settings": {"redis_host": "r"}}, {"LLMRELAY_REDIS_URL": "redis://e:1/2"},
     "redis://e:1/2", "LLMRELAY_REDIS_URL"),
    ({"litellm_settings": {"cache": True, "cache_params": {"type": "local"}}},
     {"REDIS_HOST": "ignored"}, None, None),
])
def test_redis_url_is_found_where_litellm_users_put_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, config: dict[str, Any],
        env: dict[str, str], url: str | None, source: str | None) -> None:
    for name in ("LLMRELAY_REDIS_URL", "REDIS_URL", "REDIS_HOST", "REDIS_PORT",
                 "REDIS_PASSWORD", "REDIS_USERNAME"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    cfg = load_config(write(tmp_path, {"model_list": MOCK, **config}))
    assert (cfg.redis_url, cfg.accounting.redis_source) == (url, source)
    assert not any(k.startswith("redis_") for k in cfg.router_settings)
    assert not any("redis" in w for w in cfg.warnings)


def test_accounting_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLMRELAY_DATA_DIR", str(tmp_path))
    cfg = load_config(write(tmp_path, {"model_list": MOCK}))
    acct = cfg.accounting
    assert acct.spool_dir == str(tmp_path / "llmrelay-spool")
    assert (acct.spool_fsync, acct.limits_failure_policy) == ("interval", "fail_open")
    cfg = load_config(write(tmp_path, {"model_list": MOCK, "general_settings": {
        "spool_dir": "/x/spool", "spool_max_size_mb": 2, "spool_fsync": "always",
        "limits_failure_policy": "fail_closed", "database_timeout": 1.5}}))
    acct = cfg.accounting
    assert (acct.spool_dir, acct.spool_max_bytes, acct.spool_fsync) == (
        "/x/spool", 2 * 1024 * 1024, "always")
    assert (acct.limits_failure_policy, acct.database_timeout) == ("fail_closed", 1.5)
    for bad, named in ((("spool_fsync", "sometimes")), "spool_fsync"), (
            ("limits_failure_policy", "maybe"), "limits_failure_policy"), (
            ("database_timeout", 0), "database_timeout"), (
            ("redis_port", "x"), "redis_port"):
        with pytest.raises(ConfigError, match=named):
            load_config(write(tmp_path, {"model_list": MOCK, "general_settings": {
                bad[0]: bad[1], **({"redis_host": "h"} if named == "redis_port" else {})}}))
