"""Every registry row: its model strings resolve, it authenticates with its key variable
(against a fake upstream that requires that key), and every price-table row prices a call."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import llmrelay
from fakes.cohere_server import FakeCohere
from fakes.openai_server import FakeOpenAI
from llmrelay import cost
from llmrelay.exceptions import AuthenticationError
from llmrelay.providers.registry import _ROWS, ProviderSpec, known_providers, resolve_model
from llmrelay.types import Usage

MSGS = [{"role": "user", "content": "hi"}]
OPENAI_ROWS = [r for r in _ROWS if r.wire == "openai"]
KEYED = [r for r in _ROWS if r.key_env and r.wire in ("openai", "cohere")]
PRICES = Path(cost.__file__).parent / "data" / "prices"


def _price_rows() -> list[tuple[str, dict[str, object]]]:
    out = []
    for path in sorted(PRICES.glob("[!_]*.json")):
        out += list(json.loads(path.read_text())["models"].items())
    # images, audio and moderation are priced per image/second/character and served by
    # their own endpoints: only token-priced calls go through this check
    return [(k, r) for k, r in out if r.get("mode", "chat") in ("chat", "completion",
                                                                 "embedding")]


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as srv:
        yield srv


@pytest.fixture(scope="module")
def cohere_upstream() -> Iterator[FakeCohere]:
    with FakeCohere() as srv:
        yield srv


@pytest.mark.parametrize("row", _ROWS, ids=lambda r: r.name)
def test_row_resolves(row: ProviderSpec) -> None:
    spec, model = resolve_model(f"{row.name}/some-org/some-model")
    assert spec is row and model == "some-org/some-model"
    assert row.name in known_providers()
    spec, model = resolve_model("some-model", custom_llm_provider=row.name)
    assert spec is row and model == "some-model"


@pytest.mark.parametrize("row", KEYED, ids=lambda r: r.name)
def test_row_authenticates_with_its_key_variable(row: ProviderSpec, upstream: FakeOpenAI,
                                                 cohere_upstream: FakeCohere,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    srv: FakeOpenAI = cohere_upstream if row.wire == "cohere" else upstream
    for var in {v for r in _ROWS for v in r.key_env + r.base_env}:
        monkeypatch.delenv(var, raising=False)
    key = f"key-for-{row.name}"
    srv.reset()
    srv.require_api_key = key
    monkeypatch.setenv(row.key_env[0], key)
    assert row.base_env, f"{row.name} has no base URL variable"
    monkeypatch.setenv(row.base_env[0], srv.url)
    try:
        resp = llmrelay.completion(f"{row.name}/m-1", MSGS)
    finally:
        srv.require_api_key = None
    assert resp.choices[0].message.content
    assert srv.last is not None and srv.last.headers["authorization"] == f"Bearer {key}"
    if row.renames:  # quirks as data: the vendor's own parameter name is sent
        llmrelay.completion(f"{row.name}/m-1", MSGS, max_completion_tokens=7, api_key=key)
        body = srv.last.body or {}
        assert body.get("max_tokens") == 7 and "max_completion_tokens" not in body


@pytest.mark.parametrize("row", [r for r in OPENAI_ROWS if r.requires_key and r.base_url],
                         ids=lambda r: r.name)
def test_row_without_key_names_its_variable(row: ProviderSpec,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    for var in row.key_env + row.base_env:
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(AuthenticationError, match=row.key_env[0]):
        llmrelay.completion(f"{row.name}/m-1", MSGS)


@pytest.mark.parametrize(("key", "row"), _price_rows(), ids=[k for k, _ in _price_rows()])
def test_price_rows_price_calls_through_their_provider(key: str, row: dict[str, Any]) -> None:
    provider = row["provider"]
    assert provider in known_providers()
    model = key if key.startswith(provider + "/") else f"{provider}/{key}"
    spec, name = resolve_model(model)
    assert spec.name == provider
    usage = Usage(prompt_tokens=1000, completion_tokens=100)
    expected = 1000 * row["input_cost_per_token"] + 100 * row["output_cost_per_token"]
    assert cost.usage_cost(name, spec.name, usage) == pytest.approx(expected), model


def test_vertex_ai_beta_is_litellms_other_name_for_vertex_ai() -> None:
    r = llmrelay.completion(model="vertex_ai_beta/gemini-2.0-flash-001",
                            messages=[{"role": "user", "content": "hi"}], mock_response="ok")
    assert r._hidden_params["custom_llm_provider"] == "vertex_ai"
    assert r._hidden_params["response_cost"] > 0
