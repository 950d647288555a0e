"""The mock in ``json_object`` mode answers with JSON valid against a schema the prompt
states (instructor's JSON mode), else with a generic JSON object."""

from __future__ import annotations

import json

import instructor
import pydantic

import llmrelay
from llmrelay.providers.mock.prompt_schema import schema_in_messages


class User(pydantic.BaseModel):
    name: str
    age: int


def test_instructor_json_mode_against_the_mock() -> None:
    client = instructor.from_litellm(llmrelay.completion, mode=instructor.Mode.JSON)
    user = client.chat.completions.create(
        model="mock/x", response_model=User,
        messages=[{"role": "user", "content": "Jason is 25"}])
    assert isinstance(user, User)
    tools = instructor.from_litellm(llmrelay.completion)  # tool-calling mode
    assert isinstance(tools.chat.completions.create(
        model="mock/x", response_model=User,
        messages=[{"role": "user", "content": "Jason is 25"}]), User)


def test_the_last_schema_in_the_conversation_wins() -> None:
    first = {"type": "object", "properties": {"a": {"type": "string"}}}
    second = {"properties": {"b": {"type": "integer"}}, "required": ["b"]}
    messages = [
        {"role": "system", "content": f"Answer as JSON matching {json.dumps(first)}."},
        {"role": "user", "content": [{"type": "text", "text":
                                      f"no, use {json.dumps(second)} {{not json}}"}]},
    ]
    assert schema_in_messages(messages) == second
    r = llmrelay.completion(model="mock/x", messages=messages,
                            response_format={"type": "json_object"})
    assert isinstance(json.loads(r.choices[0].message.content)["b"], int)


def test_without_a_schema_the_answer_is_still_json() -> None:
    messages = [{"role": "user", "content": "give me {\"just\": \"data\"} as JSON"}]
    assert schema_in_messages(messages) is None
    r = llmrelay.completion(model="mock/x", messages=messages,
                            response_format={"type": "json_object"})
    assert isinstance(json.loads(r.choices[0].message.content), dict)
