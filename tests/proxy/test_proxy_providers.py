"""The proxy serving Bedrock, Vertex AI and Cohere deployments from a LiteLLM-style config
(``bedrock/...``, ``vertex_ai/...``, ``cohere/...`` model strings with their litellm_params),
driven with the official openai SDK; callbacks see each call once, priced."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from proxy_harness import Proxy, start_proxy, wait_events

from fakes.bedrock_server import FakeBedrock
from fakes.cohere_server import FakeCohere
from fakes.vertex_server import FakeVertex, service_account_key

AK, SK = "AKIDPROXYTEST", "proxy-secret-key"
COHERE_KEY = "co-proxy-key"
EVENTS_MODULE = '''
import json, os
from llmrelay.integrations.custom_logger import CustomLogger

class Recorder(CustomLogger):
    async def async_log_success_event(self, kwargs, response_obj, start_time, end_time):
        with open(os.environ["PROXY_EVENTS"], "a") as f:
            f.write(json.dumps({"model": kwargs.get("model"), "cost": kwargs.get("response_cost"),
                                "kwargs": json.dumps(kwargs, default=str)}) + "\\n")

recorder = Recorder()
'''


@pytest.fixture(scope="module")
def upstreams() -> Iterator[tuple[FakeBedrock, FakeVertex, FakeCohere]]:
    with FakeBedrock() as brk, FakeVertex() as vtx, FakeCohere() as co:
        brk.credentials = {AK: (SK, None)}
        co.require_api_key = COHERE_KEY
        yield brk, vtx, co


@pytest.fixture(scope="module")
def proxy(module_tmp: Path, upstreams: tuple[FakeBedrock, FakeVertex, FakeCohere]
          ) -> Iterator[Proxy]:
    brk, vtx, co = upstreams
    info, public = service_account_key(vtx.token_uri)
    vtx.add_service_account(info["client_email"], public)
    (module_tmp / "sa.json").write_text(json.dumps(info))
    aws = {"aws_access_key_id": AK, "aws_secret_access_key": SK, "aws_region_name": "us-east-1",
           "aws_bedrock_runtime_endpoint": brk.url}
    vertex = {"vertex_project": "test-project", "vertex_location": "us-central1",
              "vertex_credentials": str(module_tmp / "sa.json"), "api_base": vtx.base}
    config = {
        "model_list": [
            {"model_name": "claude-bedrock", "litellm_params": {
                "model": "bedrock/us.anthropic.claude-3-5-sonnet-20241022-v2:0", **aws}},
            {"model_name": "titan", "litellm_params": {
                "model": "bedrock/amazon.titan-embed-text-v2:0", **aws}},
            {"model_name": "gemini-vertex", "litellm_params": {
                "model": "vertex_ai/gemini-2.5-flash", **vertex}},
            {"model_name": "claude-vertex", "litellm_params": {
                "model": "vertex_ai/claude-sonnet-4@20250514", **vertex}},
            {"model_name": "command", "litellm_params": {
                "model": "cohere/command-r-08-2024", "api_key": COHERE_KEY,
                "api_base": co.url}},
        ],
        "litellm_settings": {"callbacks": ["recorder_mod.recorder"], "num_retries": 0},
    }
    env = {"PROXY_EVENTS": str(module_tmp / "events.jsonl"), "AWS_EC2_METADATA_DISABLED": "true",
           "AWS_CONFIG_FILE": str(module_tmp / "no-aws-config"),
           "AWS_SHARED_CREDENTIALS_FILE": str(module_tmp / "no-aws-credentials")}
    p = start_proxy(module_tmp, config, files={"recorder_mod.py": EVENTS_MODULE}, env=env)
    yield p
    p.stop()


MESSAGES = [{"role": "user", "content": "Say hello"}]
EXPECTED = {"claude-bedrock": "Hello from Bedrock", "gemini-vertex": "Hello from Gemini",
            "claude-vertex": "Hello from fake Claude", "command": "Hello from Cohere"}


@pytest.mark.parametrize("group", sorted(EXPECTED))
def test_chat_and_stream_through_the_proxy(proxy: Proxy, group: str) -> None:
    client = proxy.client()
    raw = client.chat.completions.with_raw_response.create(model=group, messages=MESSAGES)
    resp = raw.parse()
    assert resp.choices[0].message.content == EXPECTED[group]
    assert float(raw.headers["x-llmrelay-response-cost"]) > 0
    stream = client.chat.completions.create(model=group, messages=MESSAGES, stream=True,
                                            stream_options={"include_usage": True})
    chunks = list(stream)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == \
        EXPECTED[group]
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens == 15

    async def run() -> str:
        aclient = proxy.aclient()
        out = await aclient.chat.completions.create(model=group, messages=MESSAGES)
        await aclient.close()
        return str(out.choices[0].message.content)

    assert asyncio.run(run()) == EXPECTED[group]
    events = wait_events(proxy.tmp / "events.jsonl", lambda e: True, n=1)
    assert events and all(e["cost"] for e in events)
    assert all(SK not in e["kwargs"] and "PRIVATE KEY" not in e["kwargs"] for e in events)


def test_embeddings_through_the_proxy(proxy: Proxy) -> None:
    out = proxy.client().embeddings.create(model="titan", input="hello world", dimensions=16)
    assert len(out.data[0].embedding) == 16 and out.usage.prompt_tokens == 2


def test_upstream_error_reaches_the_client(proxy: Proxy,
                                           upstreams: tuple[FakeBedrock, Any, Any]) -> None:
    import openai

    brk = upstreams[0]
    brk.not_ready = {"us.anthropic.claude-3-5-sonnet-20241022-v2:0"}
    try:
        with pytest.raises(openai.APIStatusError) as info:
            proxy.client().chat.completions.create(model="claude-bedrock",
                                                                messages=MESSAGES)
    finally:
        brk.not_ready = set()
    assert info.value.status_code in (429, 503)
    assert "not ready" in str(info.value)
