"""Tests of llmrelay.cost: expected costs are worked out by hand from the table's rows."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

import llmrelay
from llmrelay import cost
from llmrelay.exceptions import NotFoundError
from llmrelay.providers.registry import known_providers

PRICES_DIR = Path(cost.__file__).parent / "data" / "prices"
SRC = str(Path(cost.__file__).parents[1])

REQUIRED = [
    # OpenAI
    "gpt-3.5-turbo", "gpt-3.5-turbo-0125", "gpt-3.5-turbo-1106", "gpt-3.5-turbo-instruct",
    "gpt-4", "gpt-4-turbo", "gpt-4o", "gpt-4o-2024-08-06", "gpt-4o-mini",
    "gpt-4o-mini-2024-07-18", "gpt-4.1", "gpt-4.1-mini", "gpt-4.1-nano", "o1", "o1-mini", "o3",
    "o3-mini", "o4-mini", "gpt-5", "gpt-5-mini", "gpt-5-nano", "text-embedding-3-small",
    "text-embedding-3-large", "text-embedding-ada-002", "davinci-002", "babbage-002",
    # Anthropic
    "claude-2", "claude-2.1", "claude-instant-1.2", "claude-3-haiku-20240307",
    "claude-3-opus-20240229", "claude-3-sonnet-20240229", "claude-3-5-sonnet-20240620",
    "claude-3-5-sonnet-20241022", "claude-3-5-sonnet-latest", "claude-3-5-haiku-20241022",
    "claude-3-5-haiku-latest", "claude-3-7-sonnet-20250219", "claude-3-7-sonnet-latest",
    "claude-sonnet-4-20250514", "claude-opus-4-20250514", "claude-opus-4-1",
    "claude-sonnet-4-5", "claude-haiku-4-5",
    # Gemini
    "gemini-1.5-pro", "gemini-1.5-flash", "gemini-2.0-flash", "gemini-2.0-flash-lite",
    "gemini-2.5-pro", "gemini-2.5-flash", "gemini-2.5-flash-lite", "text-embedding-004",
    "gemini-embedding-001",
    # Mistral
    "mistral-large-latest", "mistral-small-latest", "codestral-latest", "open-mistral-nemo",
    "mistral-embed",
    # DeepSeek
    "deepseek-chat", "deepseek-reasoner", "deepseek-v4-flash", "deepseek-v4-pro",
]


def row(name: str) -> dict[str, Any]:
    return cost.model_cost[name]


@pytest.fixture
def restore_table() -> Iterator[None]:
    """Put the price table back the way it was after a test that changes it."""
    saved = {k: dict(v) for k, v in cost.model_cost.items()}
    yield
    cost.model_cost.clear()
    cost.model_cost.update(saved)


# --- the data file ----------------------------------------------------------------------

def all_rows() -> dict[str, dict]:
    """Every row of ``data/prices/*.json``; a key in two files fails."""
    rows: dict[str, dict] = {}
    for path in sorted(PRICES_DIR.glob("[!_]*.json")):
        for key, row in json.loads(path.read_text(encoding="utf-8"))["models"].items():
            assert key not in rows, f"{key} is in two price files"
            rows[key] = row
    return rows


def test_price_file_meta_and_rows() -> None:
    meta = json.loads((PRICES_DIR / "_meta.json").read_text(encoding="utf-8"))["_meta"]
    assert meta["date"] == "2026-11"
    assert meta["units"] == "USD per token"
    for name, r in all_rows().items():
        assert r["provider"] in known_providers(), name
        assert r["mode"] in {"chat", "embedding", "completion", "image_generation",
                             "audio_transcription", "audio_speech", "moderation",
                             "rerank"}, name
        for field in ("input_cost_per_token", "output_cost_per_token"):
            if r["mode"] not in {"chat", "embedding", "completion"} and field not in r:
                continue  # priced per image, second or character
            assert isinstance(r[field], float) and 0 <= r[field] < 1e-3, (name, field)
        cached = r.get("cache_read_input_token_cost")
        if cached is not None:
            assert cached < r["input_cost_per_token"], name
            assert r["supports_prompt_caching"] is True, name
        hour = r.get("cache_creation_input_token_cost_above_1hr")
        if hour is not None:  # Anthropic: 1h writes cost 2x input, more than 5m writes
            assert hour == pytest.approx(2 * r["input_cost_per_token"]), name
            assert r["cache_creation_input_token_cost"] < hour, name
        for field, value in r.items():  # long-context tiers cost more than their base
            base, sep, _ = field.partition("_above_")
            if sep and field.endswith("k_tokens"):
                assert base in r and r[base] < value, (name, field)


def test_check_prices_script_passes() -> None:
    import runpy

    script = Path(__file__).resolve().parents[1] / "scripts" / "check_prices.py"
    assert runpy.run_path(str(script))["problems"]() == []


@pytest.mark.parametrize("name, key, base", [
    ("ft:gpt-3.5-turbo:my-org:custom_suffix:id", "ft:gpt-3.5-turbo", "gpt-3.5-turbo"),
    ("openai/ft:gpt-4o-mini-2024-07-18:org::id", "ft:gpt-4o-mini-2024-07-18", "gpt-4o-mini"),
    ("ft:davinci-002:my-org:custom_suffix:id", "ft:davinci-002", "davinci-002"),
])
def test_fine_tunes_priced_from_their_base(name: str, key: str, base: str) -> None:
    info = cost.get_model_info(name)
    assert info["key"] == key
    # OpenAI charges more for a fine-tune's tokens than for its base model's
    assert info["input_cost_per_token"] > row(base)["input_cost_per_token"]


@pytest.mark.parametrize("name", REQUIRED)
def test_required_models_are_priced(name: str) -> None:
    assert name in cost.model_cost
    assert cost.lookup(name) is not None


# --- costs per provider ------------------------------------------------------------------

def test_openai_cached_prompt_tokens() -> None:
    r = row("gpt-4o")
    usage = SimpleNamespace(prompt_tokens=2000, completion_tokens=300,
                            prompt_tokens_details=SimpleNamespace(cached_tokens=1200),
                            completion_tokens_details=None)
    expected_prompt = 800 * r["input_cost_per_token"] + 1200 * r["cache_read_input_token_cost"]
    expected_completion = 300 * r["output_cost_per_token"]
    assert cost.usage_cost("gpt-4o", "openai", usage) == pytest.approx(
        expected_prompt + expected_completion)
    assert cost.cost_per_token("gpt-4o", 2000, 300, cache_read_input_tokens=1200) == (
        pytest.approx((expected_prompt, expected_completion)))
    # the cached discount is real: the same prompt without cache hits costs more
    assert cost.cost_per_token("gpt-4o", 2000, 300)[0] > expected_prompt


def test_openai_usage_object_and_dict_agree() -> None:
    from llmrelay.types import Usage

    data = {"prompt_tokens": 1000, "completion_tokens": 50,
            "prompt_tokens_details": {"cached_tokens": 600}}
    r = row("gpt-4o-mini")
    expected = (400 * r["input_cost_per_token"] + 600 * r["cache_read_input_token_cost"]
                + 50 * r["output_cost_per_token"])
    assert cost.usage_cost("gpt-4o-mini", None, Usage(**data)) == pytest.approx(expected)
    assert cost.usage_cost("gpt-4o-mini", None, data) == pytest.approx(expected)


def test_anthropic_cache_read_and_write() -> None:
    r = row("claude-3-5-sonnet-20241022")
    # prompt_tokens includes the cached tokens; cached_tokens repeats the cache read and must
    # not be counted twice
    usage = SimpleNamespace(prompt_tokens=4500, completion_tokens=200,
                            cache_read_input_tokens=3000, cache_creation_input_tokens=1000,
                            prompt_tokens_details=SimpleNamespace(cached_tokens=3000))
    expected = (500 * r["input_cost_per_token"]
                + 3000 * r["cache_read_input_token_cost"]
                + 1000 * r["cache_creation_input_token_cost"]
                + 200 * r["output_cost_per_token"])
    assert r["cache_creation_input_token_cost"] > r["input_cost_per_token"]
    assert cost.usage_cost("claude-3-5-sonnet-20241022", "anthropic", usage) == pytest.approx(
        expected)
    prompt, completion = cost.cost_per_token(
        "claude-3-5-sonnet-20241022", 4500, 200, cache_read_input_tokens=3000,
        cache_creation_input_tokens=1000, custom_llm_provider="anthropic")
    assert prompt + completion == pytest.approx(expected)


def test_anthropic_counts_are_authoritative_over_cached_tokens() -> None:
    r = row("claude-3-haiku-20240307")
    usage = {"prompt_tokens": 100, "completion_tokens": 10, "cache_read_input_tokens": 0,
             "cache_creation_input_tokens": 40, "prompt_tokens_details": {"cached_tokens": 99}}
    expected = (60 * r["input_cost_per_token"] + 40 * r["cache_creation_input_token_cost"]
                + 10 * r["output_cost_per_token"])
    assert cost.usage_cost("claude-3-haiku-20240307", None, usage) == pytest.approx(expected)


def test_cache_prices_fall_back_to_input_price() -> None:
    r = row("claude-2")
    assert "cache_read_input_token_cost" not in r
    prompt, _ = cost.cost_per_token("claude-2", 1000, 0, cache_read_input_tokens=300,
                                    cache_creation_input_tokens=200)
    assert prompt == pytest.approx(1000 * r["input_cost_per_token"])
    # more cached tokens than prompt tokens never makes the uncached part negative
    prompt, _ = cost.cost_per_token("claude-2", 10, 0, cache_read_input_tokens=50)
    assert prompt == pytest.approx(50 * r["input_cost_per_token"])


def test_reasoning_model_same_output_price() -> None:
    r = row("o3-mini")
    assert "output_cost_per_reasoning_token" not in r
    usage = {"prompt_tokens": 100, "completion_tokens": 900,
             "completion_tokens_details": {"reasoning_tokens": 700}}
    expected = 100 * r["input_cost_per_token"] + 900 * r["output_cost_per_token"]
    assert cost.usage_cost("o3-mini", "openai", usage) == pytest.approx(expected)


def test_reasoning_tokens_with_their_own_price() -> None:
    name = "gemini-2.5-flash-preview-04-17"
    r = row(name)
    assert r["output_cost_per_reasoning_token"] > r["output_cost_per_token"]
    usage = SimpleNamespace(prompt_tokens=1000, completion_tokens=1000,
                            completion_tokens_details=SimpleNamespace(reasoning_tokens=600))
    expected_completion = (600 * r["output_cost_per_reasoning_token"]
                           + 400 * r["output_cost_per_token"])
    expected = 1000 * r["input_cost_per_token"] + expected_completion
    assert cost.usage_cost(name, "gemini", usage) == pytest.approx(expected)
    assert cost.cost_per_token(name, 1000, 1000, reasoning_tokens=600)[1] == pytest.approx(
        expected_completion)


def test_gemini_and_mistral() -> None:
    g = row("gemini-2.5-pro")
    assert cost.cost_per_token("gemini/gemini-2.5-pro", 10_000, 2_000) == pytest.approx(
        (10_000 * g["input_cost_per_token"], 2_000 * g["output_cost_per_token"]))
    m = row("mistral-large-latest")
    got = cost.usage_cost("mistral-large-latest", "mistral",
                          {"prompt_tokens": 1234, "completion_tokens": 56})
    assert got == pytest.approx(1234 * m["input_cost_per_token"] + 56 * m["output_cost_per_token"])
    assert cost.lookup("mistral/mistral-large-latest") == m


def test_one_hour_cache_writes() -> None:
    name = "claude-haiku-4-5"
    r = row(name)
    usage = {"prompt_tokens": 1000, "completion_tokens": 10, "cache_read_input_tokens": 300,
             "cache_creation_input_tokens": 500,
             "prompt_tokens_details": {"cached_tokens": 300, "cache_creation_token_details": {
                 "ephemeral_5m_input_tokens": 100, "ephemeral_1h_input_tokens": 400}}}
    expected = (200 * r["input_cost_per_token"] + 300 * r["cache_read_input_token_cost"]
                + 100 * r["cache_creation_input_token_cost"]
                + 400 * r["cache_creation_input_token_cost_above_1hr"]
                + 10 * r["output_cost_per_token"])
    assert cost.usage_cost(name, "anthropic", usage) == pytest.approx(expected)
    prompt, completion = cost.cost_per_token(
        name, 1000, 10, cache_read_input_tokens=300, cache_creation_input_tokens=500,
        cache_creation_1h_input_tokens=400)
    assert prompt + completion == pytest.approx(expected)
    # a row without a 1h price charges those writes at the 5-minute price
    assert cost.cost_per_token("claude-2", 1000, 0, cache_creation_input_tokens=500,
                               cache_creation_1h_input_tokens=400)[0] == pytest.approx(
        1000 * row("claude-2")["input_cost_per_token"])


@pytest.mark.parametrize(("name", "limit"), [
    ("gemini-2.5-pro", 200_000), ("gemini-3-pro-preview", 200_000),
    ("gemini-1.5-pro", 128_000), ("gemini-1.5-flash", 128_000),
])
def test_gemini_long_context_tier(name: str, limit: int) -> None:
    r = row(name)
    tier = f"_above_{limit // 1000}k_tokens"

    def usage(prompt: int) -> dict[str, Any]:
        return {"prompt_tokens": prompt, "completion_tokens": 1000,
                "prompt_tokens_details": {"cached_tokens": 20_000}}

    at_limit = ((limit - 20_000) * r["input_cost_per_token"]
                + 20_000 * r["cache_read_input_token_cost"] + 1000 * r["output_cost_per_token"])
    assert cost.usage_cost(name, "gemini", usage(limit)) == pytest.approx(at_limit)
    above = ((limit + 1 - 20_000) * r["input_cost_per_token" + tier]
             + 20_000 * r["cache_read_input_token_cost" + tier]
             + 1000 * r["output_cost_per_token" + tier])
    assert cost.usage_cost(name, "gemini", usage(limit + 1)) == pytest.approx(above)
    assert cost.cost_per_token(f"gemini/{name}", limit + 1, 1000,
                               cache_read_input_tokens=20_000) == pytest.approx(
        ((limit + 1 - 20_000) * r["input_cost_per_token" + tier]
         + 20_000 * r["cache_read_input_token_cost" + tier],
         1000 * r["output_cost_per_token" + tier]))


def test_claude_sonnet_long_context_counts_cache_tokens() -> None:
    """Anthropic's 200k threshold counts cache reads and writes; every price doubles (or 1.5x
    for output) once it is crossed."""
    name = "claude-sonnet-4-5-20250929"
    r = row(name)
    tier = "_above_200k_tokens"
    usage = {"prompt_tokens": 210_000, "completion_tokens": 500,
             "cache_read_input_tokens": 150_000, "cache_creation_input_tokens": 50_000,
             "prompt_tokens_details": {"cache_creation_token_details": {
                 "ephemeral_5m_input_tokens": 20_000, "ephemeral_1h_input_tokens": 30_000}}}
    expected = (10_000 * r["input_cost_per_token" + tier]
                + 150_000 * r["cache_read_input_token_cost" + tier]
                + 20_000 * r["cache_creation_input_token_cost" + tier]
                + 30_000 * r["cache_creation_input_token_cost_above_1hr" + tier]
                + 500 * r["output_cost_per_token" + tier])
    assert cost.usage_cost(name, "anthropic", usage) == pytest.approx(expected)
    assert r["input_cost_per_token" + tier] == pytest.approx(2 * r["input_cost_per_token"])
    assert r["output_cost_per_token" + tier] == pytest.approx(1.5 * r["output_cost_per_token"])
    # Haiku has no long-context price: the same counts cost the base prices
    h = row("claude-haiku-4-5")
    assert cost.usage_cost("claude-haiku-4-5", "anthropic", usage) == pytest.approx(
        10_000 * h["input_cost_per_token"] + 150_000 * h["cache_read_input_token_cost"]
        + 20_000 * h["cache_creation_input_token_cost"]
        + 30_000 * h["cache_creation_input_token_cost_above_1hr"]
        + 500 * h["output_cost_per_token"])


def test_deepseek_cache_hits() -> None:
    """DeepSeek reports cache hits as ``prompt_cache_hit_tokens`` (and may also send
    ``prompt_tokens_details.cached_tokens``); either way hits cost the hit price."""
    r = row("deepseek-chat")
    prices = ("input_cost_per_token", "output_cost_per_token", "cache_read_input_token_cost")
    for alias in ("deepseek-chat", "deepseek/deepseek-reasoner"):  # aliases of V4 Flash
        found = cost.lookup(alias)
        assert found is not None
        assert [found[f] for f in prices] == [row("deepseek-v4-flash")[f] for f in prices]
    own = {"prompt_tokens": 5000, "completion_tokens": 800, "prompt_cache_hit_tokens": 4096,
           "prompt_cache_miss_tokens": 904, "completion_tokens_details": {
               "reasoning_tokens": 500}}
    expected = (904 * r["input_cost_per_token"] + 4096 * r["cache_read_input_token_cost"]
                + 800 * r["output_cost_per_token"])
    assert cost.usage_cost("deepseek-chat", "deepseek", own) == pytest.approx(expected)
    both = {**own, "prompt_tokens_details": {"cached_tokens": 4096}}
    assert cost.usage_cost("deepseek/deepseek-chat", None, both) == pytest.approx(expected)
    pro = row("deepseek-v4-pro")
    assert cost.usage_cost("deepseek-v4-pro", "deepseek", own) == pytest.approx(
        904 * pro["input_cost_per_token"] + 4096 * pro["cache_read_input_token_cost"]
        + 800 * pro["output_cost_per_token"])


def test_mistral_aliases_and_dated_releases() -> None:
    latest, old = row("mistral-large-latest"), row("mistral-large-2411")
    assert latest == row("mistral-large-2512") and latest != old
    usage = {"prompt_tokens": 10_000, "completion_tokens": 1000}
    assert cost.usage_cost("mistral/mistral-large-2411", None, usage) == pytest.approx(
        10_000 * old["input_cost_per_token"] + 1000 * old["output_cost_per_token"])
    assert cost.usage_cost("mistral/mistral-large-latest", None, usage) == pytest.approx(
        10_000 * latest["input_cost_per_token"] + 1000 * latest["output_cost_per_token"])


def test_embedding_costs_input_only() -> None:
    r = row("text-embedding-3-small")
    assert r["mode"] == "embedding"
    assert cost.usage_cost("text-embedding-3-small", "openai",
                           {"prompt_tokens": 5000, "completion_tokens": 0}) == pytest.approx(
        5000 * r["input_cost_per_token"])


# --- unpriced models -------------------------------------------------------------------

def test_unpriced_model_usage_cost_warns_once(caplog: pytest.LogCaptureFixture) -> None:
    name = "no-such-model-for-usage-cost"
    usage = {"prompt_tokens": 10, "completion_tokens": 5}
    logger = logging.getLogger("llmrelay")
    logger.addHandler(caplog.handler)  # also works if the package stops propagation
    try:
        with caplog.at_level(logging.WARNING, logger="llmrelay"):
            assert cost.usage_cost(name, "openai", usage) is None
            assert cost.usage_cost(name, "openai", usage) is None
            assert cost.usage_cost(name, None, usage) is None
    finally:
        logger.removeHandler(caplog.handler)
    mine = list({id(rec): rec for rec in caplog.records if name in rec.getMessage()}.values())
    assert len(mine) == 1
    assert mine[0].levelno == logging.WARNING and mine[0].name == "llmrelay"


def test_unpriced_model_explicit_api_raises() -> None:
    name = "no-such-model-for-cost-per-token"
    with pytest.raises(NotFoundError) as info:
        cost.cost_per_token(name, 10, 5)
    assert info.value.model == name and name in str(info.value)
    with pytest.raises(NotFoundError):
        cost.completion_cost(model=name, prompt="hello", completion="world")
    with pytest.raises(NotFoundError):
        cost.get_model_info(name)
    assert cost.lookup(name) is None


def test_usage_cost_never_raises_on_odd_usage() -> None:
    assert cost.usage_cost("gpt-4o", "openai", None) == 0.0
    assert cost.usage_cost("gpt-4o", "openai", object()) == 0.0
    assert cost.usage_cost("gpt-4o", "openai", {"prompt_tokens": "many"}) is None


# --- lookup fallbacks ----------------------------------------------------------------------

@pytest.mark.parametrize(("asked", "provider", "key"), [
    ("gpt-4o-mini-2099-12-31", None, "gpt-4o-mini"),       # unknown OpenAI date suffix
    ("gpt-4-0314", None, "gpt-4-0314"),                     # known dated variant: exact row
    ("gpt-4-0999", None, "gpt-4"),                          # unknown MMDD suffix
    ("claude-3-5-haiku-20991231", None, "claude-3-5-haiku-latest"),
    ("claude-3-7-sonnet-latest", None, "claude-3-7-sonnet-latest"),
    ("claude-3-haiku", None, "claude-3-haiku-20240307"),   # newest dated key of the family
    ("gpt-4o-latest", None, "gpt-4o"),                      # "-latest" removed
    ("mistral-large-2411", None, "mistral-large-2411"),     # an older release keeps its row
    ("mistral-large-2609", None, "mistral-large-latest"),   # unknown release: the alias
    ("gemini-1.5-flash-002", None, "gemini-1.5-flash-002"),
    ("gemini-2.0-flash-lite-002", None, "gemini-2.0-flash-lite"),
    ("gpt-4o", "azure", "gpt-4o"),                          # Azure falls back to the bare name
    ("azure/gpt-35-turbo-instruct", None, "gpt-3.5-turbo-instruct"),  # Azure's gpt-3.5 spelling
    ("azure/gpt-35-turbo", None, "azure/gpt-35-turbo"),     # Azure's own (4k) model
    ("azure/gpt-35-turbo-0125", None, "azure/gpt-35-turbo-0125"),
    ("gpt-4o-mini", "openrouter", "gpt-4o-mini"),           # OpenAI-compatible provider
    ("openai/gpt-4.1-2025-04-14", None, "gpt-4.1-2025-04-14"),
])
def test_lookup_fallbacks(asked: str, provider: str | None, key: str) -> None:
    assert cost.lookup(asked, provider) == row(key)
    assert cost.get_model_info(asked, provider)["key"] == key


def test_dated_variant_costs_like_base() -> None:
    assert cost.cost_per_token("gpt-4o-mini-2099-12-31", 1000, 100) == cost.cost_per_token(
        "gpt-4o-mini", 1000, 100)


def test_lookup_returns_a_copy() -> None:
    found = cost.lookup("gpt-4o")
    assert found is not None
    found["input_cost_per_token"] = 1.0
    assert row("gpt-4o")["input_cost_per_token"] != 1.0


@pytest.mark.parametrize(("model", "provider"), [
    ("gpt-4o", "openai"), ("o4-mini", "openai"), ("davinci-002", "text-completion-openai"),
    ("claude-3-5-sonnet-20241022", "anthropic"), ("claude-haiku-4-5", "anthropic"),
    ("gemini-2.0-flash", "gemini"), ("mistral-small-latest", "mistral"),
    ("gemini/gemini-2.5-pro", "gemini"), ("azure/gpt-4o", "azure"),
    ("claude-3-5-sonnet-20991231", "anthropic"), ("no-such-model", None),
    ("groq/no-such-model", None),
])
def test_provider_of(model: str, provider: str | None) -> None:
    assert cost.provider_of(model) == provider
    assert cost.provider_of(model) == provider  # cached answer is the same


# --- register_model / model_cost ----------------------------------------------------------

@pytest.mark.usefixtures("restore_table")
def test_register_model_overrides_fields() -> None:
    usage = {"prompt_tokens": 1000, "completion_tokens": 100}
    old = row("gpt-4o")
    before = cost.usage_cost("gpt-4o", "openai", usage)  # fills the lookup cache
    cost.register_model({"gpt-4o": {"input_cost_per_token": 1e-5}})
    new = row("gpt-4o")
    assert new["input_cost_per_token"] == 1e-5
    assert new["output_cost_per_token"] == old["output_cost_per_token"]  # merged, not replaced
    assert new["max_input_tokens"] == old["max_input_tokens"]
    after = cost.usage_cost("gpt-4o", "openai", usage)
    assert after == pytest.approx(1000 * 1e-5 + 100 * old["output_cost_per_token"])
    assert after != before


@pytest.mark.usefixtures("restore_table")
def test_register_new_litellm_style_model() -> None:
    name = "my-org/llama-test-70b"
    assert cost.lookup(name) is None
    cost.register_model({name: {
        "litellm_provider": "hosted_vllm", "mode": "chat", "max_tokens": 4096,
        "input_cost_per_token": "2e-7", "output_cost_per_token": 6e-7,
    }})
    r = row(name)
    assert r["provider"] == "hosted_vllm" and "litellm_provider" not in r
    assert r["input_cost_per_token"] == 2e-7
    assert cost.provider_of(name) == "hosted_vllm"
    assert cost.usage_cost(name, "hosted_vllm", {"prompt_tokens": 100, "completion_tokens": 10}
                           ) == pytest.approx(100 * 2e-7 + 10 * 6e-7)
    info = cost.get_model_info(name)
    assert info["max_tokens"] == info["max_output_tokens"] == 4096
    assert info["litellm_provider"] == "hosted_vllm"


@pytest.mark.usefixtures("restore_table")
def test_register_model_with_long_context_prices() -> None:
    cost.register_model({"my-long-model": {
        "litellm_provider": "openai_like", "input_cost_per_token": "1e-6",
        "output_cost_per_token": 2e-6, "input_cost_per_token_above_128k_tokens": "3e-6",
        "input_cost_per_token_above_256k_tokens": 5e-6}})
    assert row("my-long-model")["input_cost_per_token_above_128k_tokens"] == 3e-6
    assert cost.cost_per_token("my-long-model", 128_000, 10) == pytest.approx(
        (128_000 * 1e-6, 10 * 2e-6))
    assert cost.cost_per_token("my-long-model", 200_000, 10)[0] == pytest.approx(
        200_000 * 3e-6)
    assert cost.cost_per_token("my-long-model", 300_000, 10) == pytest.approx(
        (300_000 * 5e-6, 10 * 2e-6))  # the highest tier crossed; output has no tier


@pytest.mark.usefixtures("restore_table")
def test_register_model_from_json_file(tmp_path: Path) -> None:
    path = tmp_path / "extra.json"
    path.write_text(json.dumps({"_meta": {}, "models": {
        "local-model": {"provider": "ollama", "input_cost_per_token": 0.0,
                        "output_cost_per_token": 0.0}}}))
    cost.register_model(str(path))
    assert cost.cost_per_token("local-model", 100, 100) == (0.0, 0.0)


@pytest.mark.usefixtures("restore_table")
def test_register_model_rejects_bad_rows() -> None:
    with pytest.raises(TypeError):
        cost.register_model({"bad-row": 1.0})  # type: ignore[dict-item]
    assert "bad-row" not in cost.model_cost


@pytest.mark.usefixtures("restore_table")
def test_unpriced_registered_row_is_unpriced() -> None:
    cost.register_model({"capabilities-only": {"provider": "openai", "max_output_tokens": 10}})
    assert cost.get_model_info("capabilities-only")["max_tokens"] == 10
    with pytest.raises(NotFoundError):
        cost.cost_per_token("capabilities-only", 1, 1)


@pytest.mark.usefixtures("restore_table")
def test_model_cost_is_a_live_dict() -> None:
    assert isinstance(cost.model_cost, dict)
    assert cost.lookup("gpt-4o") is not None  # cache the row
    cost.model_cost["gpt-4o"] = {"provider": "openai", "input_cost_per_token": 1.0,
                                 "output_cost_per_token": 2.0}
    assert cost.cost_per_token("gpt-4o", 1, 1) == (1.0, 2.0)
    del cost.model_cost["gpt-4o"]
    # the bare name now falls back to the newest dated row of the family
    assert cost.get_model_info("gpt-4o")["key"] == "gpt-4o-2024-11-20"


# --- get_model_info / completion_cost --------------------------------------------------

def test_get_model_info_fields() -> None:
    info = cost.get_model_info("gpt-4o")
    r = row("gpt-4o")
    assert info["key"] == "gpt-4o" and info["provider"] == "openai"
    assert info["max_tokens"] == info["max_output_tokens"] == r["max_output_tokens"]
    assert info["max_input_tokens"] == r["max_input_tokens"]
    assert info["input_cost_per_token"] == r["input_cost_per_token"]
    assert info["supports_vision"] is True and info["supports_function_calling"] is True
    assert info["mode"] == "chat"
    old = cost.get_model_info("claude-2")
    assert old["supports_vision"] is False and old["supports_prompt_caching"] is False
    assert cost.get_model_info("gpt-4o", "azure")["provider"] == "azure"
    emb = cost.get_model_info("text-embedding-3-large")
    assert emb["mode"] == "embedding" and emb["max_tokens"] is None
    with pytest.raises(NotFoundError, match="no-such-model-info"):
        cost.get_model_info("no-such-model-info")


def test_completion_cost_of_a_response() -> None:
    from llmrelay.types import ModelResponse

    resp = ModelResponse(model="claude-3-5-haiku-20241022",
                         usage={"prompt_tokens": 300, "completion_tokens": 40,
                                "cache_read_input_tokens": 100,
                                "cache_creation_input_tokens": 0})
    resp._hidden_params["custom_llm_provider"] = "anthropic"
    r = row("claude-3-5-haiku-20241022")
    expected = (200 * r["input_cost_per_token"] + 100 * r["cache_read_input_token_cost"]
                + 40 * r["output_cost_per_token"])
    assert cost.completion_cost(resp) == pytest.approx(expected)
    assert cost.completion_cost(completion_response=resp, model="gpt-4o") != pytest.approx(
        expected)
    resp._hidden_params["cache_hit"] = True
    assert cost.completion_cost(resp) == 0.0


def test_completion_cost_of_text() -> None:
    r = row("gpt-4o-mini")
    got = cost.completion_cost(model="gpt-4o-mini", prompt="a" * 40, completion="b" * 21)
    assert got == pytest.approx(10 * r["input_cost_per_token"] + 6 * r["output_cost_per_token"])
    with pytest.raises(ValueError):
        cost.completion_cost(prompt="no model")


def test_completion_cost_estimates_when_usage_is_empty() -> None:
    r = row("gpt-4o-mini")
    resp = SimpleNamespace(model="gpt-4o-mini", usage=None, _hidden_params={},
                           choices=[{"message": {"content": "x" * 8}}])
    assert cost.completion_cost(resp) == pytest.approx(2 * r["output_cost_per_token"])


# --- import cost and thread safety -------------------------------------------------------

def test_import_is_lazy_and_first_load_is_thread_safe() -> None:
    code = (
        "import json, sys, threading\n"
        "import llmrelay.cost as c\n"
        "assert not c._loaded, 'price table loaded at import'\n"
        "out = []\n"
        "ts = [threading.Thread(target=lambda: out.append((c.provider_of('gpt-4o'),"
        " len(c.model_cost)))) for _ in range(16)]\n"
        "[t.start() for t in ts]; [t.join() for t in ts]\n"
        "import glob, os\n"
        "n = sum(len(json.load(open(p))['models']) for p in"
        " glob.glob(os.path.join(sys.argv[1], '[!_]*.json')))\n"
        "assert out == [('openai', n)] * 16, out\n"
    )
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.run([sys.executable, "-c", code, str(PRICES_DIR)], env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr


def test_custom_pricing_reads_base_model_and_price_fields_first_source_wins() -> None:
    base, row = llmrelay.cost.custom_pricing(
        {"input_cost_per_token": "1e-6"}, {"input_cost_per_token": 9.0,
                                           "output_cost_per_token": 2e-6,
                                           "base_model": "gpt-4o"}, None)
    assert base == "gpt-4o"
    assert row == {"input_cost_per_token": 1e-6, "output_cost_per_token": 2e-6}
    assert llmrelay.cost.custom_pricing({}, {"model": "x"}) == (None, None)


def test_per_call_prices_price_an_unknown_model_and_stay_out_of_the_request(
        fake: Any, openai_args: dict[str, str]) -> None:
    # LiteLLM: completion(..., input_cost_per_token=, output_cost_per_token=) prices the call.
    r = llmrelay.completion(model="openai/my-own-model", messages=[{"role": "user",
                                                                  "content": "hi"}],
                            input_cost_per_token=1e-6, output_cost_per_token=2e-6,
                            **openai_args)
    usage = r.usage
    expected = usage.prompt_tokens * 1e-6 + usage.completion_tokens * 2e-6
    assert r._hidden_params["response_cost"] == pytest.approx(expected)
    assert "input_cost_per_token" not in fake.last.body


def test_base_model_prices_as_that_model() -> None:
    r = llmrelay.embedding(model="bedrock/my-embedder", input="hello", mock_response=[1, 2, 3],
                           base_model="cohere.embed-english-v3")
    row = llmrelay.cost.lookup("cohere.embed-english-v3", "bedrock")
    assert row is not None
    assert r._hidden_params["response_cost"] == pytest.approx(
        r.usage.prompt_tokens * row["input_cost_per_token"])


def test_bedrock_region_profile_without_a_row_uses_the_model_row() -> None:
    key = "us.anthropic.claude-3-5-sonnet-20241022-v2:0"
    saved = llmrelay.model_cost.pop(key, None)
    try:
        info = llmrelay.get_model_info(model=key, custom_llm_provider="bedrock")
        assert info["key"] == "anthropic.claude-3-5-sonnet-20241022-v2:0"
        assert info["litellm_provider"] == "bedrock"
    finally:
        if saved is not None:
            llmrelay.model_cost[key] = saved


def test_model_info_flags_and_new_rows() -> None:
    assert llmrelay.get_model_info("deepseek/deepseek-chat")["supports_assistant_prefill"]
    assert llmrelay.get_model_info("gpt-4o")["supports_assistant_prefill"] is False
    row = llmrelay.cost.lookup("togethercomputer/m2-bert-80M-8k-retrieval", "together_ai")
    assert row is not None and row["mode"] == "embedding"
