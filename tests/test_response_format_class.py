"""``response_format=<Pydantic model>``: sent as OpenAI's strict ``json_schema`` format (to
the fake OpenAI server on 127.0.0.1), honoured by the mock, readable with the model."""

from __future__ import annotations

import json
from typing import Any

import pydantic
import pytest

import llmrelay
from fakes.openai_server import FakeOpenAI
from llmrelay.response_format import response_format_of, strict_schema

MSGS = [{"role": "user", "content": "Plan a trip"}]


class Stop(pydantic.BaseModel):
    city: str
    nights: int = 1


class Trip(pydantic.BaseModel):
    title: str
    stops: list[Stop]
    budget: float | None = None


def test_the_class_is_sent_as_a_strict_json_schema(fake: FakeOpenAI,
                                                     openai_args: dict[str, str]) -> None:
    llmrelay.completion(model="openai/gpt-4o-mini", messages=MSGS, response_format=Trip,
                        **openai_args)
    assert fake.last is not None and fake.last.body is not None
    fmt = fake.last.body["response_format"]
    assert fmt["type"] == "json_schema"
    spec = fmt["json_schema"]
    assert spec["name"] == "Trip" and spec["strict"] is True
    schema = spec["schema"]
    assert schema["required"] == ["title", "stops", "budget"]
    assert schema["additionalProperties"] is False
    stop = schema["$defs"]["Stop"]
    assert stop["required"] == ["city", "nights"] and stop["additionalProperties"] is False
    assert "default" not in json.dumps(schema)


def test_the_mock_answers_with_json_the_model_reads() -> None:
    r = llmrelay.completion(model="mock/any", messages=MSGS, response_format=Trip)
    trip = Trip.model_validate_json(r.choices[0].message.content)
    assert isinstance(trip.stops, list)
    seen: list[Any] = []
    llmrelay.success_callback = [lambda kw, *a: seen.append(kw["optional_params"])]
    llmrelay.completion(model="mock/any", messages=MSGS, response_format=Stop)
    llmrelay.flush(5)
    assert seen[0]["response_format"]["json_schema"]["name"] == "Stop"
    json.dumps(seen[0])  # what callbacks see is plain JSON


def test_dataclass_and_typeddict() -> None:
    import dataclasses

    from typing_extensions import TypedDict

    @dataclasses.dataclass
    class Point:
        x: int
        y: int

    class Tag(TypedDict):
        name: str

    for cls in (Point, Tag):
        fmt = response_format_of(cls)
        assert fmt["json_schema"]["name"] == cls.__name__
        r = llmrelay.completion(model="mock/x", messages=MSGS, response_format=cls)
        assert isinstance(json.loads(r.choices[0].message.content), dict)


def test_router_and_other_shapes() -> None:
    router = llmrelay.Router(model_list=[{"model_name": "m",
                                          "litellm_params": {"model": "mock/x"}}])
    r = router.completion(model="m", messages=MSGS, response_format=Stop)
    assert Stop.model_validate_json(r.choices[0].message.content)
    as_dict = {"type": "json_object"}
    assert response_format_of(as_dict) is as_dict
    assert strict_schema({"type": "object"}) == {"type": "object", "properties": {},
                                                 "required": [],
                                                 "additionalProperties": False}


def test_a_class_pydantic_cannot_describe() -> None:
    class Opaque:
        pass

    with pytest.raises(llmrelay.BadRequestError, match="response_format=Opaque: the class"):
        llmrelay.completion(model="mock/x", messages=MSGS, response_format=Opaque)
