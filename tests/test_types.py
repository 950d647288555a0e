"""Response objects: the streamed-chunk fast path builds exactly what the general path does."""

from __future__ import annotations

from typing import Any

import pytest

from llmrelay.types import Delta, ModelResponseStream, OpenAIObject, StreamingChoices

SHAPES: list[dict[str, Any]] = [
    {"id": "c1", "object": "chat.completion.chunk", "created": 5, "model": "m",
     "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""},
                  "logprobs": None, "finish_reason": None}]},
    {"id": "c1", "created": 5, "model": "m", "system_fingerprint": "fp",
     "choices": [{"index": 0, "delta": {"content": "hi", "reasoning_content": "r"},
                  "finish_reason": None}]},
    {"id": "c1", "created": 5, "model": "m",
     "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"},
                 {"index": 1, "delta": {"content": "x"}, "finish_reason": None}]},
    {"id": "c1", "created": 5, "model": "m", "choices": [], "obfuscation": "abc"},
    {"id": "c1", "created": 5, "model": "m", "usage": None,  # include_usage: null until the end
     "choices": [{"index": 0, "delta": {"content": "x"}, "finish_reason": None}]},
]


def _general(data: dict[str, Any]) -> Any:
    return OpenAIObject.from_dict.__func__(ModelResponseStream, data)  # type: ignore[attr-defined]


@pytest.mark.parametrize("data", SHAPES)
def test_chunk_fast_path_matches_general_path(data: dict[str, Any]) -> None:
    fast, slow = ModelResponseStream.from_dict(data), _general(data)
    assert fast.model_dump() == slow.model_dump()
    assert fast.__dict__.keys() == slow.__dict__.keys()
    for a, b in zip(fast.choices, slow.choices, strict=True):
        assert type(a) is type(b) is StreamingChoices
        assert type(a.delta) is type(b.delta) is Delta
    assert fast._hidden_params == {}


def test_chunk_shapes_outside_the_fast_path() -> None:
    tool = ModelResponseStream.from_dict(
        {"choices": [{"index": 0, "delta": {"tool_calls": [
            {"index": 0, "id": "call_1", "function": {"name": "f", "arguments": "{"}}]}}]})
    call = tool.choices[0].delta.tool_calls[0]
    assert call.function.name == "f" and call["function"]["arguments"] == "{"
    assert tool.id and tool.created  # filled when the upstream omits them
    usage = ModelResponseStream.from_dict(
        {"id": "u", "created": 1, "choices": [],
         "usage": {"prompt_tokens": 3, "completion_tokens": 4}})
    assert usage.usage.total_tokens == 7
    no_delta = ModelResponseStream.from_dict(
        {"id": "n", "created": 1, "choices": [{"index": 0, "finish_reason": "stop"}]})
    assert no_delta.choices[0].delta.content is None
