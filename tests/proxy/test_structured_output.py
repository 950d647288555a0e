"""The default server (``llmrelay serve`` with no config: the mock model) with the
structured-output tools users point at it: the OpenAI SDK's ``parse()``, tool calls, ``n``
in streams and base64 embeddings, LangChain's ``with_structured_output`` and instructor."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import pytest
from proxy_harness import Proxy, start_proxy
from pydantic import BaseModel, Field

openai = pytest.importorskip("openai")


class Address(BaseModel):
    street: str
    city: str
    postcode: str = Field(min_length=3, max_length=10)


class Person(BaseModel):
    name: str
    age: int = Field(ge=0, le=130)
    role: Literal["admin", "user"]
    tags: list[str]
    address: Address
    nickname: str | None


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxy]:
    proxy = start_proxy(Path(tmp_path_factory.mktemp("structured")), None)
    try:
        yield proxy
    finally:
        proxy.stop()


@pytest.fixture
def client(server: Proxy) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url, api_key="sk-anything")


ASK = [{"role": "user", "content": "Describe a person"}]


def test_openai_parse_with_pydantic(client: openai.OpenAI) -> None:
    parse = getattr(client.chat.completions, "parse", None) or client.beta.chat.completions.parse
    done = parse(model="mock", messages=ASK, response_format=Person, seed=7)
    person = done.choices[0].message.parsed
    assert isinstance(person, Person) and isinstance(person.address, Address)
    again = parse(model="mock", messages=ASK, response_format=Person, seed=7)
    assert again.choices[0].message.parsed == person  # deterministic by seed


def test_openai_strict_tool_call(client: openai.OpenAI) -> None:
    tool = openai.pydantic_function_tool(Person, name="save_person")
    parse = getattr(client.chat.completions, "parse", None) or client.beta.chat.completions.parse
    done = parse(model="mock", messages=ASK, tools=[tool], tool_choice="required")
    call = done.choices[0].message.tool_calls[0]
    assert call.function.name == "save_person"
    assert isinstance(call.function.parsed_arguments, Person)
    assert done.choices[0].finish_reason == "tool_calls"
    after = client.chat.completions.create(model="mock", tools=[tool], messages=[
        *ASK, {"role": "assistant", "tool_calls": [call.model_dump(exclude={"function": {
            "parsed_arguments"}})]},
        {"role": "tool", "tool_call_id": call.id, "content": "saved"}])
    assert after.choices[0].message.content and not after.choices[0].message.tool_calls


def test_json_object_and_n_in_streams(client: openai.OpenAI) -> None:
    import json

    r = client.chat.completions.create(model="mock", messages=ASK,
                                       response_format={"type": "json_object"})
    assert isinstance(json.loads(r.choices[0].message.content or ""), dict)
    texts: dict[int, str] = {}
    for chunk in client.chat.completions.create(model="mock", messages=ASK, n=3,
                                                stream=True):
        for c in chunk.choices:
            texts[c.index] = texts.get(c.index, "") + (c.delta.content or "")
    assert sorted(texts) == [0, 1, 2] and all(texts.values())


def test_base64_embeddings(client: openai.OpenAI) -> None:
    # the SDK asks for base64 by default and decodes it
    r = client.embeddings.create(model="mock", input=["a", "b"], dimensions=16)
    assert [len(d.embedding) for d in r.data] == [16, 16]
    assert all(isinstance(v, float) for v in r.data[0].embedding)


def test_langchain_with_structured_output(server: Proxy) -> None:
    lc = pytest.importorskip("langchain_openai")
    llm = lc.ChatOpenAI(model="mock", base_url=server.base_url, api_key="sk-x")
    for method in ("json_schema", "function_calling"):
        out = llm.with_structured_output(Person, method=method).invoke("Describe a person")
        assert isinstance(out, Person), method


def test_instructor(server: Proxy) -> None:
    instructor = pytest.importorskip("instructor")
    client = instructor.from_openai(openai.OpenAI(base_url=server.base_url,
                                                  api_key="sk-x"))
    person = client.chat.completions.create(model="mock", response_model=Person,
                                            messages=ASK)
    assert isinstance(person, Person)
