"""A lone UTF-16 surrogate or a NUL character in any text field of an LLM request never
gets a 5xx: lone surrogates (not Unicode text) are a 400 naming the field; NUL is text and
goes through. Text fields come from the request contract itself, so a field added to it
is covered here too."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from asgi_support import MOCK, QUIET, InProcess, in_process, upstream

from llmrelay.proxy.contract import ENDPOINTS
from llmrelay.proxy.contract.checks import String
from llmrelay.proxy.contract.policy import GATEWAY
from llmrelay.proxy.limits import Limits

SURROGATE = "\\ud800"  # as it appears in the JSON text (a lone high surrogate)
BASE = {"completion": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]},
        "text_completion": {"model": "gpt-4o-mini", "prompt": "hi"},
        "embeddings": {"model": "gpt-4o-mini", "input": "hi"},
        "image_generation": {"model": "mock", "prompt": "hi"},
        "moderation": {"model": "mock", "input": "hi"},
        "speech": {"model": "mock", "input": "hi", "voice": "alloy"},
        "rerank": {"model": "mock", "query": "hi", "documents": ["a", "b"]},
        "anthropic_messages": {"model": "mock", "max_tokens": 16,
                               "messages": [{"role": "user", "content": "hi"}]},
        "count_tokens": {"model": "mock", "messages": [{"role": "user", "content": "hi"}]},
        "responses": {"model": "mock", "input": "hi"}}
# endpoints whose bodies are not JSON (multipart uploads) are covered by their own tests
JSON_ENDPOINTS = {t: e for t, e in ENDPOINTS.items() if e.body == "json"}


@pytest.fixture
async def proxy(tmp_path: Path, fake: Any) -> AsyncIterator[InProcess]:
    async with in_process(tmp_path, {"model_list": [upstream(fake), MOCK], **QUIET}) as p:
        yield p


def _text_fields() -> list[tuple[str, str, Any]]:
    """(call type, field, template) for every field that takes a string; the template's
    "TEXT" marks where the string goes."""
    limits = Limits()
    out: list[tuple[str, str, Any]] = []
    for call_type, endpoint in JSON_ENDPOINTS.items():
        for name, check in {**endpoint.params, **GATEWAY}.items():
            if isinstance(check, String) or check.accepts("x", limits):
                out.append((call_type, name, "TEXT"))
            elif check.accepts(["x"], limits):
                out.append((call_type, name, ["TEXT"]))
            elif check.accepts({"x": "y"}, limits):
                out.append((call_type, name, {"k": "TEXT"}))
    messages = [
        ("messages", [{"role": "user", "content": "TEXT"}]),
        ("messages", [{"role": "user", "content": [{"type": "text", "text": "TEXT"}]}]),
        ("messages", [{"role": "user", "content": "hi", "name": "TEXT"}]),
        ("messages", [{"role": "TEXT", "content": "hi"}]),
        ("messages", [{"role": "tool", "content": "x", "tool_call_id": "TEXT"}]),
    ]
    out += [("completion", name, value) for name, value in messages]
    out += [(t, "model", "TEXT") for t in JSON_ENDPOINTS]
    out += [("text_completion", "prompt", "TEXT"), ("text_completion", "prompt", ["TEXT"]),
            ("embeddings", "input", "TEXT"), ("embeddings", "input", ["TEXT"]),
            ("completion", "metadata", {"TEXT": 1})]
    return out


FIELDS = _text_fields()


def test_the_field_list_covers_the_contract() -> None:
    names = {(t, n) for t, n, _ in FIELDS}
    assert ("completion", "user") in names and ("completion", "tags") in names
    assert ("embeddings", "encoding_format") in names and len(FIELDS) > 40


def _body(call_type: str, name: str, template: Any, text: str) -> bytes:
    body = dict(BASE[call_type])
    body[name] = template
    raw = json.dumps(body)
    return raw.replace('"TEXT"', f'"{text}"').encode()


@pytest.mark.parametrize(("call_type", "name", "template"), FIELDS,
                         ids=[f"{t}-{n}-{i}" for i, (t, n, _) in enumerate(FIELDS)])
async def test_lone_surrogate_is_a_400_naming_the_field(proxy: InProcess, fake: Any,
                                                        call_type: str, name: str,
                                                        template: Any) -> None:
    path = ENDPOINTS[call_type].paths[0]
    r = await proxy.http.post(path, content=_body(call_type, name, template, SURROGATE),
                              headers=proxy.headers())
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    if ENDPOINTS[call_type].errors == "anthropic":  # Anthropic's shape: a type, a message
        assert err["type"] == "invalid_request_error" and "surrogate" in err["message"]
    else:
        assert err["code"] == "invalid_json" and "surrogate" in err["message"]
        assert err["param"] is None or err["param"].startswith(name), err
    assert fake.request_count == 0


@pytest.mark.parametrize(("call_type", "name", "template"), FIELDS,
                         ids=[f"{t}-{n}-{i}" for i, (t, n, _) in enumerate(FIELDS)])
async def test_nul_is_never_a_server_error(proxy: InProcess, call_type: str, name: str,
                                           template: Any) -> None:
    path = ENDPOINTS[call_type].paths[0]
    r = await proxy.http.post(path, content=_body(call_type, name, template, "a\\u0000b"),
                              headers=proxy.headers())
    assert r.status_code < 500, r.text
    if ENDPOINTS[call_type].answer == "json":
        assert "error" in r.json() or r.status_code == 200
    ok = await proxy.post(path, BASE[call_type])  # and the proxy still serves
    assert ok.status_code == 200, ok.text


async def test_paired_surrogates_are_fine(proxy: InProcess, fake: Any) -> None:
    body = _body("completion", "user", "TEXT", "\\ud83d\\ude00")
    r = await proxy.http.post("/v1/chat/completions", content=body, headers=proxy.headers())
    assert r.status_code == 200, r.text
    assert fake.last.body["user"] == "\U0001F600"


@pytest.mark.parametrize("path", ["/v1/models/%ED%A0%80", "/v1/models/a%00b"])
async def test_odd_model_ids_in_paths_are_404(proxy: InProcess, path: str) -> None:
    r = await proxy.http.get(path, headers=proxy.headers())
    assert r.status_code == 404 and r.json()["error"]["code"] == "model_not_found"
