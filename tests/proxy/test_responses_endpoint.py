"""``/v1/responses`` driven with the official ``openai`` SDK (``responses.create``,
``responses.stream``, ``retrieve``, ``delete``, ``previous_response_id``): relayed to a fake
OpenAI upstream that keeps its responses, and served by a fake Anthropic upstream through
its chat API with the conversation kept in the proxy's database (so a second proxy on the
same database continues it); typed events in OpenAI's order; tools and structured output
translated; one priced callback event per call; other keys cannot see a response."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
from proxy_harness import MASTER_KEY, Proxy, start_proxy, wait_events

from fakes.anthropic_server import FakeAnthropic
from fakes.openai_server import FakeOpenAI

EVENTS = '''
import json, os
from llmrelay.integrations.custom_logger import CustomLogger

class Recorder(CustomLogger):
    async def async_log_success_event(self, kwargs, response_obj, start_time, end_time):
        with open(os.environ["PROXY_EVENTS"], "a") as f:
            f.write(json.dumps({"call_type": kwargs.get("call_type"), "cost": kwargs.get("response_cost"),
                                "stream": kwargs.get("stream"), "id": getattr(response_obj, "id", None)}) + "\\n")

recorder = Recorder()
'''
WEATHER = {"type": "function", "name": "get_weather", "description": "Weather in a city",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                          "required": ["city"]}}


@pytest.fixture(scope="module")
def upstreams() -> Iterator[tuple[FakeOpenAI, FakeAnthropic]]:
    with FakeOpenAI() as oa, FakeAnthropic() as an:
        yield oa, an


@pytest.fixture
def fakes(upstreams: tuple[FakeOpenAI, FakeAnthropic]) -> tuple[FakeOpenAI, FakeAnthropic]:
    oa, an = upstreams
    oa.reset()
    oa.tool_call = None
    an.reset()
    an.configure_defaults()
    return oa, an


def _config(oa: FakeOpenAI, an: FakeAnthropic) -> dict[str, Any]:
    return {"model_list": [
        {"model_name": "gpt", "litellm_params": {"model": "openai/gpt-4o-mini",
                                                 "api_base": oa.url, "api_key": "sk-up-0123456789"}},
        {"model_name": "claude", "litellm_params": {
            "model": "anthropic/claude-3-5-sonnet-20241022", "api_base": an.base,
            "api_key": "sk-ant-up-0123456789"}},
        {"model_name": "claude-thinking", "litellm_params": {
            "model": "anthropic/claude-sonnet-4-20250514", "api_base": an.base,
            "api_key": "sk-ant-up-0123456789"}}],
        "litellm_settings": {"callbacks": "events.recorder", "num_retries": 0}}


@pytest.fixture(scope="module")
def proxy(module_tmp: Path, upstreams: tuple[FakeOpenAI, FakeAnthropic]) -> Iterator[Proxy]:
    p = start_proxy(module_tmp, _config(*upstreams), master_key=MASTER_KEY,
                    files={"events.py": EVENTS},
                    env={"PROXY_EVENTS": str(module_tmp / "events.jsonl"),
                         "PYTHONPATH": str(module_tmp)})
    yield p
    p.stop()


def test_openai_upstream_native(proxy: Proxy, fakes: Any) -> None:
    oa, _ = fakes
    client = proxy.client()
    first = client.responses.create(model="gpt", input="Hello", instructions="Be brief.")
    assert first.output_text == "Hello from fake" and first.id.startswith("resp_")
    assert oa.last.path == "/v1/responses"
    assert oa.last.body == {"model": "gpt-4o-mini", "input": "Hello",
                            "instructions": "Be brief."}
    second = client.responses.create(model="gpt", input="More", previous_response_id=first.id)
    assert oa.last.body["previous_response_id"] == first.id
    assert second.model_extra["x_fake_history_items"] == 3
    assert client.responses.retrieve(first.id).id == first.id
    assert oa.last.method == "GET" and oa.last.path == f"/v1/responses/{first.id}"
    assert client.responses.delete(first.id) is None
    assert oa.last.method == "DELETE"
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(first.id)


def test_openai_upstream_stream_events(proxy: Proxy, fakes: Any) -> None:
    client = proxy.client()
    with client.responses.stream(model="gpt", input="Hello") as stream:
        kinds = [e.type for e in stream]
        final = stream.get_final_response()
    assert kinds[:2] == ["response.created", "response.in_progress"]
    assert kinds[-1] == "response.completed" and "response.output_text.delta" in kinds
    assert final.output_text == "Hello from fake" and final.usage.total_tokens == 15
    events = wait_events(proxy.tmp / "events.jsonl",
                         lambda e: e["call_type"] == "aresponses" and e["stream"])
    assert events and events[0]["cost"] == pytest.approx(10 * 0.15e-6 + 5 * 0.6e-6)


def test_anthropic_upstream_through_chat_with_state(proxy: Proxy, fakes: Any) -> None:
    _, an = fakes
    client = proxy.client()
    first = client.responses.create(model="claude", input="Hi", instructions="sys",
                                    max_output_tokens=64)
    assert first.output_text == "Hello from fake Claude" and first.status == "completed"
    assert an.last.body["system"] == "sys" and an.last.body["max_tokens"] == 64
    assert first.usage.input_tokens == 10 and first.usage.output_tokens == 5
    second = client.responses.create(model="claude", input="And then?",
                                     previous_response_id=first.id)
    assert an.last.body["messages"] == [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello from fake Claude"},
        {"role": "user", "content": "And then?"}]
    assert "system" not in an.last.body  # instructions are not carried over
    assert second.previous_response_id == first.id
    got = client.responses.retrieve(second.id)
    assert got.output_text == second.output_text and an.request_count == 2
    with pytest.raises(openai.BadRequestError) as err:
        client.responses.create(model="claude", input="x", previous_response_id="resp_nope")
    assert err.value.body["param"] == "previous_response_id"
    client.responses.delete(first.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(first.id)


def test_anthropic_stream_in_openai_event_order(proxy: Proxy, fakes: Any) -> None:
    _, an = fakes
    an.thinking = "Let me think."
    client = proxy.client()
    with client.responses.stream(model="claude-thinking", input="Hi", max_output_tokens=4096,
                                 reasoning={"effort": "low"}) as stream:
        events = list(stream)
        final = stream.get_final_response()
    kinds = [e.type for e in events]
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert kinds[:3] == ["response.created", "response.in_progress",
                         "response.output_item.added"]
    assert "response.reasoning_summary_text.delta" in kinds
    assert kinds[-3:] == ["response.content_part.done", "response.output_item.done",
                          "response.completed"]
    assert [item.type for item in final.output] == ["reasoning", "message"]
    assert final.output[0].summary[0].text == "Let me think."
    assert an.last.body["thinking"]["type"] == "enabled"  # reasoning -> thinking
    assert client.responses.retrieve(final.id).output_text == "Hello from fake Claude"


def test_tools_and_structured_output_through_chat(proxy: Proxy, fakes: Any) -> None:
    _, an = fakes
    an.tool_use = {"name": "get_weather", "input": {"city": "Oslo"}}
    client = proxy.client()
    first = client.responses.create(model="claude", input="Weather in Oslo?",
                                    tools=[WEATHER], tool_choice="required")
    call = first.output[0]
    assert call.type == "function_call" and json.loads(call.arguments) == {"city": "Oslo"}
    assert an.last.body["tool_choice"] == {"type": "any"}
    an.tool_use = None
    client.responses.create(model="claude", previous_response_id=first.id, tools=[WEATHER],
                            input=[{"type": "function_call_output", "call_id": call.call_id,
                                    "output": "12 degrees"}])
    msgs = an.last.body["messages"]
    assert msgs[1]["content"][0]["type"] == "tool_use"
    assert msgs[2]["content"][0] == {"type": "tool_result", "tool_use_id": call.call_id,
                                     "content": "12 degrees"}
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    client.responses.create(model="claude", input="count", text={"format": {
        "type": "json_schema", "name": "count", "schema": schema, "strict": True}})
    assert an.last.body["tools"][-1]["input_schema"] == schema  # Anthropic's JSON tool


def test_another_key_cannot_see_or_continue(proxy: Proxy, fakes: Any) -> None:
    mine = proxy.client().responses.create(model="claude", input="secret plan")
    other = proxy.client(proxy.create_key()["key"])
    with pytest.raises(openai.NotFoundError):
        other.responses.retrieve(mine.id)
    with pytest.raises(openai.BadRequestError):
        other.responses.create(model="claude", input="and?", previous_response_id=mine.id)


def test_a_second_proxy_on_the_same_database_continues(proxy: Proxy, fakes: Any,
                                                       tmp_path: Path) -> None:
    _, an = fakes
    first = proxy.client().responses.create(model="claude", input="Remember 7")
    db = proxy.tmp / "proxy.db"
    config = _config(*fakes)
    config["general_settings"] = {"database_url": f"sqlite:///{db}"}
    other = start_proxy(tmp_path, config, master_key=MASTER_KEY,
                        files={"events.py": EVENTS},
                        env={"PROXY_EVENTS": str(tmp_path / "events.jsonl"),
                             "PYTHONPATH": str(tmp_path)})
    try:
        other.client().responses.create(model="claude", input="What number?",
                                        previous_response_id=first.id)
        assert an.last.body["messages"][0] == {"role": "user", "content": "Remember 7"}
        assert other.client().responses.retrieve(first.id).id == first.id
    finally:
        other.stop()
