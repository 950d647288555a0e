"""The mock provider follows the request: tool calls valid against the tool's schema,
JSON for response_format, every choice of n (streams too), base64 embeddings, and the same
reply for the same request and seed."""

from __future__ import annotations

import base64
import json
import random
import struct
from typing import Any

import pytest

import llmrelay
from llmrelay.providers.mock.schema import sample

TOOLS = [{"type": "function", "function": {"name": "book", "parameters": {
    "type": "object", "additionalProperties": False, "required": ["city", "nights", "when"],
    "properties": {"city": {"type": "string", "minLength": 12},
                   "nights": {"type": "integer", "minimum": 1, "maximum": 3},
                   "when": {"type": "string", "format": "date"},
                   "kind": {"enum": ["hotel", "hostel"]}}}}},
         {"type": "function", "function": {"name": "other", "parameters": {}}}]
ASK = [{"role": "user", "content": "book it"}]


def _call(**kw: Any) -> Any:
    return llmrelay.completion(model="mock/m", messages=kw.pop("messages", ASK), **kw)


def test_tool_calls_follow_tool_choice() -> None:
    r = _call(tools=TOOLS, tool_choice="auto", seed=3)
    tc = r.choices[0].message.tool_calls[0]
    args = json.loads(tc.function.arguments)
    assert tc.function.name == "book" and r.choices[0].finish_reason == "tool_calls"
    assert len(args["city"]) >= 12 and 1 <= args["nights"] <= 3 and args["when"] == "2024-01-15"
    assert set(args) <= {"city", "nights", "when", "kind"}
    named = _call(tools=TOOLS, tool_choice={"type": "function", "function": {"name": "other"}})
    assert named.choices[0].message.tool_calls[0].function.name == "other"
    assert _call(tools=TOOLS, tool_choice="none").choices[0].message.tool_calls is None
    answered = _call(tools=TOOLS, messages=[*ASK, {"role": "assistant", "tool_calls": [
        tc.model_dump()]}, {"role": "tool", "tool_call_id": tc.id, "content": "done"}])
    assert answered.choices[0].message.content and not answered.choices[0].message.tool_calls
    # an explicit mock_response still wins
    assert _call(tools=TOOLS, mock_response="text").choices[0].message.content == "text"


def test_deterministic_by_seed() -> None:
    a = _call(tools=TOOLS, tool_choice="required", seed=1, n=2)
    b = _call(tools=TOOLS, tool_choice="required", seed=1, n=2)
    c = _call(tools=TOOLS, tool_choice="required", seed=2, n=2)
    args = [[ch.message.tool_calls[0].function.arguments for ch in r.choices] for r in (a, b, c)]
    assert args[0] == args[1] and args[0] != args[2]


def test_response_format() -> None:
    schema = {"type": "object", "required": ["items", "ok"], "properties": {
        "items": {"type": "array", "minItems": 2, "items": {"$ref": "#/$defs/Item"}},
        "ok": {"type": "boolean"}},
        "$defs": {"Item": {"type": "object", "required": ["n"],
                           "properties": {"n": {"type": "number", "multipleOf": 0.5}}}}}
    r = _call(response_format={"type": "json_schema", "json_schema": {"name": "x",
                                                                      "schema": schema}})
    out = json.loads(r.choices[0].message.content)
    assert len(out["items"]) >= 2 and isinstance(out["ok"], bool)
    assert all((i["n"] * 2) % 1 == 0 for i in out["items"])
    obj = _call(response_format={"type": "json_object"})
    assert isinstance(json.loads(obj.choices[0].message.content), dict)


def test_n_in_streams_and_tool_streams() -> None:
    chunks = list(_call(stream=True, n=3))
    assert {c.choices[0].index for c in chunks if c.choices} == {0, 1, 2}
    built = llmrelay.stream_chunk_builder(chunks)
    assert len(built.choices) == 3 and all(c.message.content for c in built.choices)
    tool_chunks = list(_call(stream=True, tools=TOOLS, tool_choice="required"))
    rebuilt = llmrelay.stream_chunk_builder(tool_chunks)
    assert json.loads(rebuilt.choices[0].message.tool_calls[0].function.arguments)["nights"]


def test_base64_embeddings() -> None:
    plain = llmrelay.embedding(model="mock/m", input=["x"], dimensions=4)
    packed = llmrelay.embedding(model="mock/m", input=["x"], dimensions=4,
                                encoding_format="base64")
    raw = base64.b64decode(packed.data[0].embedding)
    assert list(struct.unpack("<4f", raw)) == pytest.approx(plain.data[0].embedding)
    with pytest.raises(llmrelay.BadRequestError):
        llmrelay.embedding(model="mock/m", input=["x"], encoding_format="hex")


@pytest.mark.parametrize("schema, check", [
    ({"type": ["string", "null"], "maxLength": 3}, lambda v: isinstance(v, str) and len(v) <= 3),
    ({"anyOf": [{"type": "null"}, {"type": "integer", "exclusiveMinimum": 5}]},
     lambda v: isinstance(v, int) and v > 5),
    ({"allOf": [{"properties": {"a": {"const": 1}}, "required": ["a"]},
                {"properties": {"b": {"type": "boolean"}}, "required": ["b"]}]},
     lambda v: v["a"] == 1 and isinstance(v["b"], bool)),
    ({"type": "object", "minProperties": 2, "additionalProperties": {"type": "integer"}},
     lambda v: len(v) >= 2 and all(isinstance(x, int) for x in v.values())),
    ({}, lambda v: v == {}),
])
def test_schema_sampler(schema: dict[str, Any], check: Any) -> None:
    assert check(sample(schema, random.Random(0)))
