"""The redaction canary (see test_redaction_canary.py) over the call types beyond chat:
images, transcription, speech, moderation and rerank, on every wire that has them (and a
refusal on one that has not), whole and streamed, sync and async. The secret sits in
every place these bodies carry text: the prompt, the query and documents, the uploaded
file's name, and parameters such as ``instructions`` and a transcription's ``prompt``; the
replies echo it back (a revised prompt, a transcript, returned documents)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest

import llmrelay
from fakes.anthropic_server import FakeAnthropic
from fakes.cohere_server import FakeCohere
from fakes.openai_server import FakeOpenAI
from test_redaction_canary import PROMPT_SECRET, Everything, texts

KEY = "sk-test-0123456789abcdef"
SECRET = f"tell nobody: {PROMPT_SECRET}"


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, Any]]:
    with FakeOpenAI() as oa, FakeCohere() as co, FakeAnthropic() as an:
        an.default_content = f"the answer is {PROMPT_SECRET}"
        oa.default_content = f"the answer is {PROMPT_SECRET}"
        yield {"openai": {"api_base": oa.url, "api_key": KEY},
               "azure": {"api_base": oa.base, "api_key": KEY, "api_version": "2024-10-21"},
               "cohere": {"api_base": co.url, "api_key": "co-key-0123456789"},
               "jina_ai": {"api_base": oa.url, "api_key": KEY},
               "anthropic": {"api_base": an.base, "api_key": KEY},
               "mock": {"mock_response": f"the answer is {PROMPT_SECRET}"}}


def _call(call_type: str, model: str, stream: bool, args: dict[str, Any]) -> tuple[str, tuple[Any, ...], dict[str, Any]]:
    kw = dict(args)
    if call_type == "image_generation":
        return "image_generation", (SECRET,), {"model": model, **kw}
    if call_type == "transcription":
        return "transcription", (model, (f"{PROMPT_SECRET}.wav", b"RIFF0000")), {
            "prompt": SECRET, **kw}
    if call_type == "speech":
        return "speech", (model, SECRET, "alloy"), {"instructions": SECRET, "stream": stream,
                                                     **kw}
    if call_type == "moderation":
        return "moderation", ([SECRET, "second"],), {"model": model, **kw}
    if call_type == "anthropic_messages":
        messages = [{"role": "user", "content": [{"type": "text", "text": SECRET}]},
                    {"role": "assistant", "content": [
                        {"type": "tool_use", "id": "toolu_1", "name": "look",
                         "input": {"q": PROMPT_SECRET}}]},
                    {"role": "user", "content": [
                        {"type": "tool_result", "tool_use_id": "toolu_1",
                         "content": f"found {PROMPT_SECRET}"}]}]
        return "anthropic_messages", (), {
            "model": model, "max_tokens": 32, "messages": messages, "stream": stream,
            "system": [{"type": "text", "text": f"system {PROMPT_SECRET}"}],
            "tools": [{"name": "look", "input_schema": {"type": "object"}}], **kw}
    if call_type == "responses":  # an earlier turn holds the secret too
        prev = llmrelay.responses(input=SECRET, model=model, **kw).id
        items = [{"role": "user", "content": [{"type": "input_text", "text": SECRET}]},
                 {"type": "function_call", "call_id": "c1", "name": "look",
                  "arguments": json.dumps({"q": PROMPT_SECRET})},
                 {"type": "function_call_output", "call_id": "c1",
                  "output": f"found {PROMPT_SECRET}"}]
        return "responses", (), {"input": items, "model": model, "stream": stream,
                                 "instructions": f"system {PROMPT_SECRET}",
                                 "previous_response_id": prev, **kw}
    return "rerank", (model, SECRET, [SECRET, {"text": f"doc {PROMPT_SECRET}"}]), kw


CASES = [("openai", "image_generation", "openai/dall-e-3"),
         ("azure", "image_generation", "azure/dall-e-3"),
         ("mock", "image_generation", "mock/dall-e-3"),
         ("openai", "transcription", "openai/whisper-1"),
         ("azure", "transcription", "azure/whisper"),
         ("mock", "transcription", "mock/whisper-1"),
         ("openai", "speech", "openai/tts-1"), ("mock", "speech", "mock/tts-1"),
         ("openai", "moderation", "openai/omni-moderation-latest"),
         ("mock", "moderation", "mock/omni-moderation-latest"),
         ("cohere", "rerank", "cohere/rerank-v3.5"),
         ("jina_ai", "rerank", "jina_ai/jina-reranker-v2"), ("mock", "rerank", "mock/rerank"),
         ("anthropic", "anthropic_messages", "anthropic/claude-3-5-sonnet-20241022"),
         ("openai", "anthropic_messages", "openai/gpt-4o-mini"),
         ("mock", "anthropic_messages", "mock/claude"),
         ("openai", "responses", "openai/gpt-4o-mini"),
         ("anthropic", "responses", "anthropic/claude-3-5-sonnet-20241022"),
         ("mock", "responses", "mock/gpt"),
         ("anthropic", "image_generation", "anthropic/claude-3-5-sonnet-20241022"),
         ("anthropic", "rerank", "anthropic/claude-3-5-sonnet-20241022")]
STREAMS = [(w, c, m, s) for w, c, m in CASES
           for s in ((False, True) if c in ("speech", "anthropic_messages", "responses")
                     else (False,))]


def _run(call_type: str, model: str, stream: bool, args: dict[str, Any]) -> None:
    name, pos, kw = _call(call_type, model, stream, args)
    sync_fn, async_fn = ((llmrelay.anthropic.messages.create, llmrelay.anthropic.messages.acreate)
                         if name == "anthropic_messages" else
                         (getattr(llmrelay, name), getattr(llmrelay, "a" + name)))

    async def arun() -> None:
        r = await async_fn(*pos, **kw)
        if stream:
            async for _ in r:
                pass

    for is_async in (False, True):
        try:
            if is_async:
                asyncio.run(arun())
            else:
                r = sync_fn(*pos, **kw)
                if stream:
                    for _ in r:
                        pass
        except llmrelay.LLMRelayError:
            pass  # a call type the wire lacks: its failure event is searched like the rest


@pytest.mark.parametrize(("wire", "call_type", "model", "stream"), STREAMS,
                         ids=[f"{w}-{c}-{'stream' if s else 'whole'}"
                              for w, c, _, s in STREAMS])
def test_no_secret_reaches_a_redacting_logger(servers: dict[str, Any], wire: str,
                                              call_type: str, model: str, stream: bool) -> None:
    redacting = Everything(turn_off_message_logging=True)
    plain = Everything()
    llmrelay.callbacks = [redacting, plain]
    try:
        _run(call_type, model, stream, servers[wire])
        assert llmrelay.flush(10)
    finally:
        llmrelay.callbacks = []
    hooks = {h for h, _ in redacting.got}
    assert "pre" in hooks or "failure" in hooks, redacting.got
    assert {"success", "failure"} & hooks
    leaked = [(hook, t) for hook, args in redacting.got for t in texts(args)
              if PROMPT_SECRET in t]
    assert leaked == [], leaked[:3]
    assert any(PROMPT_SECRET in t for _, args in plain.got for t in texts(args))


@pytest.mark.parametrize(("wire", "call_type", "model", "stream"), STREAMS,
                         ids=[f"{w}-{c}-{'stream' if s else 'whole'}"
                              for w, c, _, s in STREAMS])
def test_no_secret_reaches_any_callback_when_the_call_redacts(
        servers: dict[str, Any], wire: str, call_type: str, model: str, stream: bool) -> None:
    rec = Everything()
    seen: list[Any] = []
    llmrelay.callbacks = [rec]
    llmrelay.input_callback = [lambda kwargs: seen.append(("input", kwargs))]
    llmrelay.success_callback = [lambda *a: seen.append(("success", a))]
    llmrelay.turn_off_message_logging = True
    try:
        _run(call_type, model, stream, servers[wire])
        assert llmrelay.flush(10)
    finally:
        llmrelay.callbacks = []
        llmrelay.input_callback = []
        llmrelay.success_callback = []
        llmrelay.turn_off_message_logging = False
    everything = [*rec.got, *seen]
    assert everything
    leaked = [t for item in everything for t in texts(item) if PROMPT_SECRET in t]
    assert leaked == [], leaked[:3]
