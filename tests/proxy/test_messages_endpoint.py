"""``/v1/messages`` and ``/v1/messages/count_tokens`` driven with the official
``anthropic`` SDK (``x-api-key`` auth, as Claude Code sends it through
``ANTHROPIC_BASE_URL``): relayed to a fake Anthropic upstream as written, and served by a
fake OpenAI upstream through its chat API (tools, images, thinking, stop reasons, usage
with cache tokens); streams in Anthropic's event sequence; errors in Anthropic's shape;
one callback event per call, priced, and spend against the key."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import pytest
from proxy_harness import MASTER_KEY, Proxy, start_proxy, wait_events

from fakes.anthropic_server import FakeAnthropic
from fakes.anthropic_server import Reply as AReply
from fakes.openai_server import FakeOpenAI

EVENTS = '''
import json, os
from llmrelay.integrations.custom_logger import CustomLogger

class Recorder(CustomLogger):
    async def async_log_success_event(self, kwargs, response_obj, start_time, end_time):
        with open(os.environ["PROXY_EVENTS"], "a") as f:
            f.write(json.dumps({"call_type": kwargs.get("call_type"), "model": kwargs.get("model"),
                                "cost": kwargs.get("response_cost"), "stream": kwargs.get("stream"),
                                "provider": kwargs.get("custom_llm_provider")}) + "\\n")

recorder = Recorder()
'''
WEATHER = {"name": "get_weather", "description": "Weather in a city",
           "input_schema": {"type": "object", "properties": {"city": {"type": "string"}},
                            "required": ["city"]}}
HI = [{"role": "user", "content": "Hello"}]


@pytest.fixture(scope="module")
def upstreams() -> Iterator[tuple[FakeAnthropic, FakeOpenAI]]:
    with FakeAnthropic() as an, FakeOpenAI() as oa:
        yield an, oa


@pytest.fixture
def fakes(upstreams: tuple[FakeAnthropic, FakeOpenAI]) -> tuple[FakeAnthropic, FakeOpenAI]:
    an, oa = upstreams
    an.reset()
    an.configure_defaults()
    oa.reset()
    oa.tool_call = None
    oa.default_usage = {"prompt_tokens": 10, "completion_tokens": 5}
    return an, oa


@pytest.fixture(scope="module")
def proxy(module_tmp: Path, upstreams: tuple[FakeAnthropic, FakeOpenAI]) -> Iterator[Proxy]:
    an, oa = upstreams
    config = {
        "model_list": [
            {"model_name": "claude", "litellm_params": {
                "model": "anthropic/claude-3-5-sonnet-20241022", "api_base": an.base,
                "api_key": "sk-ant-upstream-0123456789"}},
            {"model_name": "gpt", "litellm_params": {
                "model": "openai/gpt-4o-mini", "api_base": oa.url,
                "api_key": "sk-upstream-0123456789"}},
            {"model_name": "mock", "litellm_params": {"model": "mock/claude-like"}},
        ],
        "litellm_settings": {"callbacks": "events.recorder", "num_retries": 0},
    }
    p = start_proxy(module_tmp, config, master_key=MASTER_KEY, files={"events.py": EVENTS},
                    env={"PROXY_EVENTS": str(module_tmp / "events.jsonl"),
                         "PYTHONPATH": str(module_tmp)})
    yield p
    p.stop()


def client(proxy: Proxy, key: str | None = None) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=proxy.url, api_key=key or MASTER_KEY, max_retries=0)


def _events(proxy: Proxy, n: int) -> list[dict[str, Any]]:
    found = wait_events(proxy.tmp / "events.jsonl", lambda e: True, n)
    assert len(found) >= n
    return found


def test_anthropic_upstream_gets_the_request_as_written(proxy: Proxy, fakes: Any) -> None:
    an, _ = fakes
    an.default_usage = {"input_tokens": 7, "output_tokens": 5,
                        "cache_creation_input_tokens": 100, "cache_read_input_tokens": 1000}
    system = [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}]
    raw = client(proxy).messages.with_raw_response.create(
        model="claude", max_tokens=64, system=system, messages=HI,
        metadata={"user_id": "u-1"}, extra_body={"temperature": 0.3, "top_k": 5},
        extra_headers={"anthropic-beta": "prompt-caching-2024-07-31"})
    msg = raw.parse()
    assert msg.content[0].text == "Hello from fake Claude" and msg.stop_reason == "end_turn"
    assert msg.usage.cache_read_input_tokens == 1000 and msg.usage.input_tokens == 7
    body = an.last.body
    assert body["model"] == "claude-3-5-sonnet-20241022" and body["system"] == system
    assert body["top_k"] == 5 and body["max_tokens"] == 64 and body["messages"] == HI
    assert an.last.headers["x-api-key"] == "sk-ant-upstream-0123456789"
    assert an.last.headers["anthropic-beta"] == "prompt-caching-2024-07-31"
    expected = (7 * 3e-6 + 100 * 3.75e-6 + 1000 * 0.3e-6 + 5 * 15e-6)
    assert float(raw.headers["x-llmrelay-response-cost"]) == pytest.approx(expected)


def test_anthropic_stream_is_relayed_event_by_event(proxy: Proxy, fakes: Any) -> None:
    an, _ = fakes
    an.tool_use = {"name": "get_weather", "input": {"city": "Paris"}}
    with client(proxy).messages.stream(model="claude", max_tokens=64, messages=HI,
                                       tools=[WEATHER]) as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_message()
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop"
    assert final.content[0].type == "tool_use" and final.content[0].input == {"city": "Paris"}
    assert final.stop_reason == "tool_use" and final.usage.output_tokens == 5
    rows = proxy.spend_logs(1, model="claude")
    assert rows and rows[0]["prompt_tokens"] == 10 and rows[0]["completion_tokens"] == 5


def test_an_openai_upstream_serves_anthropic_clients(proxy: Proxy, fakes: Any) -> None:
    _, oa = fakes
    oa.default_usage = {"prompt_tokens": 30, "completion_tokens": 4,
                        "prompt_tokens_details": {"cached_tokens": 20}}
    msg = client(proxy).messages.create(
        model="gpt", max_tokens=50, system="You are terse.", stop_sequences=["END"],
        messages=[{"role": "user", "content": [
            {"type": "text", "text": "What is this?"},
            {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                         "data": "iVBORw0KGgo="}}]}])
    sent = oa.last.body
    assert sent["messages"][0] == {"role": "system", "content": "You are terse."}
    assert sent["messages"][1]["content"][1] == {
        "type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}
    assert sent["stop"] == ["END"] and sent["max_tokens"] == 50
    assert msg.content[0].text == "Hello from fake" and msg.stop_reason == "end_turn"
    assert (msg.usage.input_tokens, msg.usage.cache_read_input_tokens,
            msg.usage.output_tokens) == (10, 20, 4)


def test_tool_round_trip_through_an_openai_upstream(proxy: Proxy, fakes: Any) -> None:
    _, oa = fakes
    oa.tool_call = {"name": "get_weather", "arguments": {"city": "Oslo"}}
    c = client(proxy)
    first = c.messages.create(model="gpt", max_tokens=50, messages=HI, tools=[WEATHER],
                              tool_choice={"type": "any"})
    use = first.content[0]
    assert use.type == "tool_use" and use.input == {"city": "Oslo"}
    assert first.stop_reason == "tool_use"
    sent = oa.last.body
    assert sent["tool_choice"] == "required"
    assert sent["tools"][0]["function"]["parameters"] == WEATHER["input_schema"]
    oa.tool_call = None
    c.messages.create(model="gpt", max_tokens=50, tools=[WEATHER], messages=[
        *HI, {"role": "assistant", "content": [use.model_dump()]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id,
                                      "content": "12 degrees"}]}])
    msgs = oa.last.body["messages"]
    assert msgs[1]["tool_calls"][0]["id"] == use.id
    assert json.loads(msgs[1]["tool_calls"][0]["function"]["arguments"]) == {"city": "Oslo"}
    assert msgs[2] == {"role": "tool", "tool_call_id": use.id, "content": "12 degrees"}


def test_openai_upstream_stream_in_anthropic_events(proxy: Proxy, fakes: Any) -> None:
    _, oa = fakes
    with client(proxy).messages.stream(model="gpt", max_tokens=50, messages=HI) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == "Hello from fake" and final.usage.output_tokens == 5
    assert oa.last.body["stream"] is True
    assert oa.last.body["stream_options"] == {"include_usage": True}
    events = _events(proxy, 1)
    assert any(e["call_type"] == "aanthropic_messages" and e["stream"] and e["cost"]
               for e in events)


def test_async_client_and_mock(proxy: Proxy) -> None:
    import asyncio

    async def go() -> Any:
        ac = anthropic.AsyncAnthropic(base_url=proxy.url, api_key=MASTER_KEY, max_retries=0)
        msg = await ac.messages.create(model="mock", max_tokens=20, messages=HI)
        async with ac.messages.stream(model="mock", max_tokens=20, messages=HI) as s:
            streamed = await s.get_final_text()
        return msg, streamed

    msg, streamed = asyncio.run(go())
    assert msg.content[0].text == "This is a mock response from llmrelay."
    assert streamed == msg.content[0].text


def test_count_tokens(proxy: Proxy, fakes: Any) -> None:
    an, _ = fakes
    c = client(proxy)
    counted = c.messages.count_tokens(model="claude", system="be brief", messages=HI,
                                      tools=[WEATHER])
    assert counted.input_tokens == 3 + 8  # the fake counts words, 8 per tool
    assert an.last.path == "/v1/messages/count_tokens" and "max_tokens" not in an.last.body
    estimate = c.messages.count_tokens(model="gpt", messages=HI)
    assert estimate.input_tokens > 0


def test_errors_in_anthropic_shape(proxy: Proxy, fakes: Any) -> None:
    an, _ = fakes
    c = client(proxy)
    with pytest.raises(anthropic.AuthenticationError):
        client(proxy, "sk-wrong-key-000000").messages.create(model="claude", max_tokens=5,
                                                            messages=HI)
    with pytest.raises(anthropic.NotFoundError) as missing:
        c.messages.create(model="nope", max_tokens=5, messages=HI)
    assert missing.value.body["type"] == "error"
    with pytest.raises(anthropic.BadRequestError) as bad:
        c.messages.create(model="claude", max_tokens=5, messages=[{"role": "tool",
                                                                   "content": "x"}])
    assert bad.value.body["error"]["type"] == "invalid_request_error"
    an.enqueue(AReply.rate_limited())
    with pytest.raises(anthropic.RateLimitError):
        c.messages.create(model="claude", max_tokens=5, messages=HI)
    r = proxy.http.post("/v1/messages", json={"model": "claude", "messages": HI},
                        headers={"x-api-key": MASTER_KEY})
    assert r.status_code == 400 and r.json()["error"]["type"] == "invalid_request_error"


def test_mid_conversation_system_messages_as_claude_code_sends_them(
        proxy: Proxy, fakes: Any) -> None:
    """Claude Code (2.1, beta ``mid-conversation-system-2026-04-07``) puts ``system``
    messages between turns: relayed as written to Anthropic, in place over chat."""
    an, oa = fakes
    turns = [{"role": "user", "content": "Hello"},
             {"role": "system", "content": [{"type": "text", "text": "Now be terse."}]},
             {"role": "assistant", "content": "Hi"}, {"role": "user", "content": "More"}]
    headers = {"anthropic-beta": "mid-conversation-system-2026-04-07"}
    c = client(proxy)
    c.messages.create(model="claude", max_tokens=5, messages=turns, extra_headers=headers)
    assert an.last.body["messages"] == turns
    sent = {k.lower(): v for k, v in an.last.headers.items()}
    assert "mid-conversation-system-2026-04-07" in sent.get("anthropic-beta", "")
    with c.messages.stream(model="gpt", max_tokens=5, system="sys", messages=turns,
                           extra_headers=headers) as s:
        assert s.get_final_message().content[0].text == "Hello from fake"
    assert oa.last.body["messages"] == [
        {"role": "system", "content": "sys"}, {"role": "user", "content": "Hello"},
        {"role": "system", "content": "Now be terse."},
        {"role": "assistant", "content": "Hi"}, {"role": "user", "content": "More"}]


def test_virtual_key_with_x_api_key(proxy: Proxy, fakes: Any) -> None:
    key = proxy.create_key(models=["mock"])["key"]
    msg = client(proxy, key).messages.create(model="mock", max_tokens=10, messages=HI)
    assert msg.role == "assistant"
    with pytest.raises(anthropic.APIStatusError) as denied:
        client(proxy, key).messages.create(model="claude", max_tokens=10, messages=HI)
    assert denied.value.status_code in (401, 403)
    assert proxy.spend_logs(1, api_key=key)
