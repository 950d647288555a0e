"""LiteLLM users' configs start unchanged: each example config of LiteLLM's proxy docs (and
LiteLLM's own proxy_server_config.yaml), written out in ``litellm_configs/``, is served by
``llmrelay serve --config`` and answers; keys that have no effect are listed in one
summary, keys llmrelay cannot honour are refused all at once, weak master keys are refused
as LiteLLM 1.108.7 refuses them, and a database problem is one line before the banner.

The provider credentials these configs read from the environment are set to the fake
upstreams' (``OPENAI_API_BASE``, ``ANTHROPIC_BASE_URL``), so only deployments without an
``api_base`` of their own are called.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from proxy_harness import (
    HERE,
    PERMIT_NO_KEY,
    REDIS_URL,
    Proxy,
    redis_namespace,
    run_cli,
    start_proxy,
)

from fakes.anthropic_server import FakeAnthropic

CONFIGS = HERE / "litellm_configs"
HI = [{"role": "user", "content": "Hello"}]


@pytest.fixture(scope="module")
def anthropic_fake() -> Iterator[FakeAnthropic]:
    with FakeAnthropic() as srv:
        yield srv


@pytest.fixture
def env(fake_server: Any, anthropic_fake: FakeAnthropic) -> dict[str, str]:
    """What a LiteLLM user's shell holds for these configs, pointed at the fakes."""
    fake_server.reset()
    redis = urlsplit(REDIS_URL)
    return {
        PERMIT_NO_KEY: "true",  # the docs' configs use sk-1234 or no key
        "OPENAI_API_KEY": "sk-test-openai", "OPENAI_API_BASE": fake_server.url,
        "ANTHROPIC_API_KEY": "sk-ant-test", "ANTHROPIC_BASE_URL": anthropic_fake.url,
        "GROQ_API_KEY": "gsk-test", "AZURE_API_KEY": "azure-test",
        "LANGFUSE_PUBLIC_KEY": "pk-lf-test", "LANGFUSE_SECRET_KEY": "sk-lf-test",
        "LANGFUSE_HOST": "http://127.0.0.1:9", "OTEL_SDK_DISABLED": "true",
        "AWS_EC2_METADATA_DISABLED": "true",  # no instance-metadata lookups for Bedrock
        "REDIS_HOST": redis.hostname or "127.0.0.1", "REDIS_PORT": str(redis.port or 6379),
    }


def serve(tmp: Path, name: str, env: dict[str, str], fill: dict[str, str] | None = None,
          master_key: str | None = None) -> Proxy:
    """``llmrelay serve --config <fixture>`` with the fixture's placeholders filled."""
    text = (CONFIGS / f"{name}.yaml").read_text()
    for placeholder, value in (fill or {}).items():
        assert placeholder in text
        text = text.replace(placeholder, value)
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "config.yaml").write_text(text)
    return start_proxy(tmp, None, master_key=master_key, env=env,
                       args=["--config", str(tmp / "config.yaml")])


def chat(proxy: Proxy, key: str | None, model: str, path: str = "/v1/chat/completions"
         ) -> Any:
    return proxy.http.post(path, json={"model": model, "messages": HI},
                           headers={"Authorization": f"Bearer {key}"} if key else {})


def test_configs_quick_start(tmp_path: Path, env: dict[str, str]) -> None:
    proxy = serve(tmp_path, "configs_quick_start", env)
    try:
        out = proxy.output()
        assert "general_settings.alerting: no Slack/e-mail alerting" in out
        assert "set aside" not in out  # bedrock/... deployments are served
        r = chat(proxy, "sk-1234", "gpt-3.5-turbo")  # through "*", key from the environment
        assert r.status_code == 200, r.text
        assert r.headers["x-litellm-model-group"] == "gpt-3.5-turbo"
        assert proxy.http.get("/v1/models", headers=proxy.headers("sk-1234")).status_code == 200
        r = chat(proxy, "sk-1234", "bedrock-claude-v1")  # served: fails on AWS credentials
        assert r.status_code == 401 and "AWS credentials" in r.json()["error"]["message"]
        assert chat(proxy, None, "gpt-3.5-turbo").status_code == 401
    finally:
        proxy.stop()


def test_configs_load_balancing(tmp_path: Path, env: dict[str, str]) -> None:
    proxy = serve(tmp_path, "configs_load_balancing", env)
    try:
        r = chat(proxy, None, "gpt-4")  # model_group_alias gpt-4 -> gpt-4o
        assert r.status_code == 200, r.text
        assert r.headers["x-litellm-model-group"] == "gpt-4"
        assert r.headers["x-litellm-model-name"] == "gpt-4o"
        names = [m["id"] for m in proxy.http.get("/v1/models").json()["data"]]
        assert names == ["zephyr-beta", "gpt-4o", "gpt-3.5-turbo-16k", "gpt-4"]
    finally:
        proxy.stop()


def test_quick_start_needs_a_master_key_as_in_litellm(tmp_path: Path,
                                                      env: dict[str, str]) -> None:
    (tmp_path / "config.yaml").write_text((CONFIGS / "quick_start.yaml").read_text())
    refused = {k: v for k, v in env.items() if k != PERMIT_NO_KEY}
    done = run_cli(tmp_path, "serve", "--config", "config.yaml", "--port", "0", env=refused)
    assert done.returncode == 2
    assert "no master key is set" in done.stderr
    assert "LITELLM_DANGEROUSLY_PERMIT_WEAK_OR_UNSET_MASTER_KEY" in done.stderr
    assert "Traceback" not in done.stderr and "Try it" not in done.stdout
    proxy = serve(tmp_path / "permitted", "quick_start", env)
    try:
        assert "AUTHENTICATION IS OFF" in proxy.output()
        assert [m["id"] for m in proxy.http.get("/v1/models").json()["data"]] == [
            "gpt-3.5-turbo", "vllm-model"]
    finally:
        proxy.stop()


def test_openai_anthropic_quick_start(tmp_path: Path, env: dict[str, str],
                                      anthropic_fake: FakeAnthropic) -> None:
    key = "sk-4Jd0o2bqP9kYx7RZt1WmVnE3sLc8aHfG6uTiQyXwK5M"
    proxy = serve(tmp_path, "openai_anthropic_quick_start",
                  {k: v for k, v in env.items() if k != PERMIT_NO_KEY})
    try:
        assert chat(proxy, key, "gpt-4o-mini").status_code == 200
        r = chat(proxy, key, "claude-sonnet-4-6")
        assert r.status_code == 200, r.text
        assert r.json()["choices"][0]["message"]["content"] == "Hello from fake Claude"
    finally:
        proxy.stop()


def test_proxy_server_config(tmp_path: Path, env: dict[str, str]) -> None:
    proxy = serve(tmp_path, "proxy_server_config", env)
    try:
        out = proxy.output()
        for reported in ("general_settings.store_model_in_db", "finetune_settings",
                         "files_settings", "litellm_settings.default_team_settings",
                         "sagemaker"):
            assert reported in out
        for model in ("gpt-3.5-turbo-large", "some-unlisted-model",  # openai/* via "*"
                      "anthropic/claude-3-5-haiku-latest", "my-special-fake-model-alias-name"):
            if model.startswith("my-special"):  # the alias resolves (its api_base is remote)
                r = proxy.http.get("/v1/models", headers=proxy.headers("sk-1234"))
                assert model in [m["id"] for m in r.json()["data"]]
                continue
            r = chat(proxy, "sk-1234", model)
            assert r.status_code == 200, (model, r.text)
        r = chat(proxy, "sk-1234", "sagemaker-completion-model")
        assert r.status_code == 400 and "sagemaker" in r.json()["error"]["message"]
    finally:
        proxy.stop()


def test_complete_schema(tmp_path: Path, env: dict[str, str]) -> None:
    proxy = serve(tmp_path, "complete_schema", env,
                  fill={"postgresql://...": f"sqlite:///{tmp_path / 'schema.db'}"})
    try:
        out = proxy.output()
        for reported in ("lunary", "sentry", "general_settings.store_model_in_db",
                         "litellm_settings.set_verbose", "claude-2"):
            assert reported in out
        assert "model_group_alias 'gpt-4' is also a model group" in out
        # allowed_routes: chat/completions and embeddings only, exact paths as in LiteLLM
        assert chat(proxy, "sk-1234", "no-such-model", "/chat/completions").status_code == 404
        r = chat(proxy, "sk-1234", "no-such-model")
        assert r.status_code == 403 and "/v1/chat/completions" in r.json()["error"]["message"]
        r = proxy.http.get("/key/list", headers=proxy.headers("sk-1234"))
        assert r.status_code == 403 and r.json()["error"]["code"] == "route_not_allowed"
        assert proxy.http.get("/health/liveliness").status_code == 200
    finally:
        proxy.stop()


def test_all_settings(tmp_path: Path, env: dict[str, str]) -> None:
    proxy = serve(tmp_path, "all_settings", env, master_key="sk-all-settings-0123456789abcdef")
    try:
        out = proxy.output()
        for reported in ("mcp_aliases", "sentry", "general_settings.alerting",
                         "callback_settings", "atranscription"):
            assert reported in out
        # completion_model: every chat request uses the "string" model group
        r = chat(proxy, "sk-all-settings-0123456789abcdef", "whatever-the-client-says")
        assert r.status_code == 200, r.text
        assert r.headers["x-litellm-model-group"] == "string"
    finally:
        proxy.stop()


@pytest.mark.parametrize("name", ["load_balancer", "aliases_config"])
def test_example_configs_start(tmp_path: Path, env: dict[str, str], name: str) -> None:
    proxy = serve(tmp_path, name, env)
    try:
        models = [m["id"] for m in proxy.http.get("/v1/models").json()["data"]]
        entries = yaml.safe_load((CONFIGS / f"{name}.yaml").read_text())["model_list"]
        expected = {e["model_name"] for e in entries if "mistralai" not in
                    e["litellm_params"]["model"]}
        assert set(models) == expected
    finally:
        proxy.stop()


@pytest.fixture
def namespace() -> Iterator[str]:
    yield from redis_namespace("llmrelay-litellm-config-test")


def test_redis_caching(tmp_path: Path, env: dict[str, str], fake_server: Any,
                       namespace: str) -> None:
    proxy = serve(tmp_path, "redis_caching", env,
                  fill={"litellm.caching.caching": namespace})
    try:
        assert "atranscription: calls llmrelay does not serve yet" in proxy.output()
        for _ in range(2):
            assert chat(proxy, None, "gpt-3.5-turbo").status_code == 200
        assert len(fake_server.requests) == 1  # the second answer came from Redis
        health = proxy.http.get("/health/readiness").json()
        assert health["cache"]["type"] == "redis" and health["cache"]["hits"] == 1
    finally:
        proxy.stop()


# ---- refusals ------------------------------------------------------------------------------
def write(tmp: Path, config: dict[str, Any]) -> str:
    tmp.mkdir(parents=True, exist_ok=True)
    path = tmp / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return str(path)


MOCK = [{"model_name": "m", "litellm_params": {"model": "mock/mock"}}]


def test_refused_settings_are_named_all_at_once(tmp_path: Path, env: dict[str, str]) -> None:
    path = write(tmp_path, {
        "model_list": MOCK,
        "general_settings": {"master_key": "sk-strong-0123456789abcdef",
                             "enable_jwt_auth": True, "disable_spend_logs": True,
                             "enforce_user_param": False},
        "litellm_settings": {"max_budget": 10},
        "router_settings": {"provider_budget_config": {"openai": {"budget_limit": 1}}},
        "guardrails": [{"guardrail_name": "g", "litellm_params": {"guardrail": "aporia"}}],
    })
    done = run_cli(tmp_path, "serve", "--config", path, "--port", "0", env=env)
    assert done.returncode == 2
    line = done.stderr.splitlines()[0]
    for key in ("general_settings.enable_jwt_auth", "general_settings.disable_spend_logs",
                "litellm_settings.max_budget", "router_settings.provider_budget_config",
                "guardrails"):
        assert key in line
    assert "enforce_user_param" not in line and "Traceback" not in done.stderr


def test_unknown_callback_names(tmp_path: Path, env: dict[str, str]) -> None:
    path = write(tmp_path, {"model_list": MOCK,
                            "litellm_settings": {"success_callback": ["lunary", "langfuze"]}})
    done = run_cli(tmp_path, "config", "check", path, "--no-db", env=env)
    assert done.returncode == 2 and "langfuze" in done.stderr  # a typo: nobody knows it
    path = write(tmp_path, {"model_list": MOCK,
                            "litellm_settings": {"success_callback": ["lunary", "sentry"]}})
    done = run_cli(tmp_path, "config", "check", path, "--no-db", env=env)
    assert done.returncode == 0, done.stderr
    assert "lunary: a LiteLLM integration llmrelay does not have" in done.stderr
    assert "sentry" in done.stderr
    # an integration llmrelay has, named without its keys: reported, as LiteLLM starts
    path = write(tmp_path, {"model_list": MOCK,
                            "litellm_settings": {"success_callback": ["langfuse"]}})
    no_keys = {k: v for k, v in env.items() if not k.startswith("LANGFUSE_")}
    done = run_cli(tmp_path, "config", "check", path, "--no-db", env=no_keys)
    assert done.returncode == 0, done.stderr
    assert "langfuse: cannot send" in done.stderr and "LANGFUSE_PUBLIC_KEY" in done.stderr


@pytest.mark.parametrize(("key", "override", "ok"), [
    ("sk-1234", None, False), ("sk-1234", "LITELLM_DANGEROUSLY_PERMIT_WEAK_OR_UNSET_MASTER_KEY",
                               True),
    ("sk-1234", PERMIT_NO_KEY, True), ("  ", None, False), ("sk-ok-but-short", None, True),
])
def test_weak_master_keys(tmp_path: Path, env: dict[str, str], key: str,
                          override: str | None, ok: bool) -> None:
    path = write(tmp_path, {"model_list": MOCK, "general_settings": {"master_key": key}})
    run_env = {k: v for k, v in env.items() if k != PERMIT_NO_KEY}
    if override:
        run_env[override] = "True"
    done = run_cli(tmp_path, "config", "check", path, "--no-db", env=run_env)
    assert (done.returncode == 0) is ok, done.stderr
    if not ok:
        assert "general_settings.master_key" in done.stderr
    if key == "sk-ok-but-short":
        assert "only 15 characters long" in done.stderr


def test_embedded_defaults_need_a_key_beyond_loopback(tmp_path: Path) -> None:
    assert run_cli(tmp_path, "config", "check", "--no-db").returncode == 0
    done = run_cli(tmp_path, "config", "check", "--no-db", "--host", "0.0.0.0")
    assert done.returncode == 2 and "--host 0.0.0.0" in done.stderr
    done = run_cli(tmp_path, "config", "check", "--no-db", "--host", "0.0.0.0",
                   env={"LITELLM_MASTER_KEY": "sk-from-litellm-env-0123456789"})
    assert done.returncode == 0 and "auth on" in done.stdout


def test_database_problem_is_one_line_before_the_banner(tmp_path: Path,
                                                        env: dict[str, str]) -> None:
    path = write(tmp_path, {"model_list": MOCK, "general_settings": {
        "master_key": "sk-strong-0123456789abcdef",
        "database_url": "postgresql://postgres@127.0.0.1:1/nowhere"}})
    done = run_cli(tmp_path, "serve", "--config", path, "--port", "0", env=env)
    assert done.returncode == 3
    assert "cannot open the database at postgresql://postgres@127.0.0.1:1/nowhere" in \
        done.stderr
    assert "Traceback" not in done.stderr and "Try it" not in done.stdout
    done = run_cli(tmp_path, "config", "check", path, env=env)
    assert done.returncode == 3 and "cannot open the database" in done.stderr


def test_config_check_and_version(tmp_path: Path, env: dict[str, str]) -> None:
    import llmrelay

    done = run_cli(tmp_path, "--version")
    assert done.returncode == 0 and done.stdout.strip() == f"llmrelay {llmrelay.__version__}"
    path = write(tmp_path, {"model_list": [
        *MOCK, {"model_name": "*", "litellm_params": {"model": "*"}}],
        "general_settings": {"master_key": "sk-strong-0123456789abcdef",
                             "database_url": f"sqlite:///{tmp_path / 'check.db'}"}})
    done = run_cli(tmp_path, "config", "check", path, env=env)
    assert done.returncode == 0, done.stderr
    assert "OK: 2 model name(s) (m, *)" in done.stdout and "database opened" in done.stdout
    assert (tmp_path / "check.db").exists()
    done = run_cli(tmp_path, "config", "check", str(tmp_path / "missing.yaml"), env=env)
    assert done.returncode == 2 and "missing.yaml" in done.stderr
