"""Tests of llmrelay.tokens.token_counter: the documented estimate, and the offline-only use
of tiktoken (faked here: the test environment must not download encodings either)."""

from __future__ import annotations

import hashlib
import sys
import types
from pathlib import Path
from typing import Any

import pytest

from llmrelay import tokens
from llmrelay.tokens import encoding_for, token_counter


@pytest.mark.parametrize(("text", "tokens"), [
    ("", 0), ("a", 1), ("abcd", 1), ("abcde", 2), ("x" * 400, 100), ("x" * 401, 101),
])
def test_text_is_ceil_of_chars_over_four(text: str, tokens: int) -> None:
    assert token_counter(text=text) == tokens


def test_nothing_counts_zero() -> None:
    assert token_counter() == 0
    assert token_counter(messages=[]) == 0
    assert token_counter(text=[]) == 0


def test_list_of_texts_is_summed() -> None:
    assert token_counter(text=["abcd", "abcde", ""]) == 1 + 2 + 0


def test_messages_add_three_per_message_and_three_for_priming() -> None:
    messages = [
        {"role": "system", "content": "be brief"},          # 8 chars -> 2
        {"role": "user", "content": "hello world!"},        # 12 chars -> 3
    ]
    assert token_counter(model="gpt-4o", messages=messages) == (2 + 3) + 2 * 3 + 3


def test_content_parts() -> None:
    messages = [{"role": "user", "content": [
        {"type": "text", "text": "abcdefgh"},                # 2
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},  # 85
        {"type": "text", "text": "abc"},                     # 1
    ]}]
    assert token_counter(messages=messages) == 2 + 85 + 1 + 3 + 3


def test_tool_calls_and_name_are_counted() -> None:
    messages: list[dict[str, Any]] = [
        {"role": "user", "name": "ann", "content": "weather?"},  # 1 + 1 (name) + 2
        {"role": "assistant", "content": None, "tool_calls": [{
            "id": "call_1", "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},  # 3 + 4
        }]},
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},  # 2
    ]
    assert token_counter(messages=messages) == (1 + 1 + 2) + (3 + 4) + 2 + 3 * 3 + 3


def test_non_string_arguments_count_as_json() -> None:
    messages = [{"role": "assistant", "content": None,
                 "tool_calls": [{"function": {"name": "f", "arguments": {"a": 1}}}]}]
    # name "f" -> 1, arguments '{"a": 1}' (8 chars) -> 2
    assert token_counter(messages=messages) == 1 + 2 + 3 + 3


def test_text_and_messages_together() -> None:
    assert token_counter(messages=[{"role": "user", "content": "abcd"}], text="abcd") == (
        1 + 3 + 3) + 1


def test_message_objects_work_like_dicts() -> None:
    from llmrelay.types import Message

    as_dict: list[dict[str, Any]] = [{"role": "assistant", "content": "the answer is 42"}]
    as_obj: list[Any] = [Message(role="assistant", content="the answer is 42")]
    assert token_counter(messages=as_obj) == token_counter(messages=as_dict) == 4 + 3 + 3


def test_without_tiktoken_every_model_gets_the_estimate(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tokens, "_encoders", {})
    monkeypatch.setitem(sys.modules, "tiktoken", None)  # "not installed"
    messages = [{"role": "user", "content": "count me please"}]
    assert token_counter("gpt-4o", messages) == token_counter("claude-3-haiku-20240307",
                                                              messages) == 4 + 3 + 3


@pytest.mark.parametrize(("model", "encoding"), [
    ("gpt-4o-mini", "o200k_base"), ("openai/gpt-4.1", "o200k_base"), ("gpt-5-nano", "o200k_base"),
    ("o3-mini", "o200k_base"), ("azure/gpt-4o", "o200k_base"), ("gpt-4", "cl100k_base"),
    ("gpt-4-turbo", "cl100k_base"), ("gpt-3.5-turbo", "cl100k_base"),
    ("azure/gpt-35-turbo", "cl100k_base"), ("text-embedding-3-small", "cl100k_base"),
    ("claude-3-5-sonnet-latest", None), ("gemini/gemini-2.0-flash", None),
    ("groq/gpt-4o-lookalike", None), ("", None),
])
def test_encoding_for(model: str, encoding: str | None) -> None:
    assert encoding_for(model) == encoding


class FakeEncoding:
    """Stands in for a tiktoken Encoding: one token per whitespace-separated word."""

    def encode(self, text: str, disallowed_special: Any = "all") -> list[int]:
        assert disallowed_special == ()  # user text may contain "<|endoftext|>"
        return list(range(len(text.split())))


@pytest.fixture
def fake_tiktoken(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[str]:
    """A fake ``tiktoken`` module; returns the names ``get_encoding`` was called with. The
    cache dir is empty until a test writes an encoding file into it."""
    calls: list[str] = []
    module = types.ModuleType("tiktoken")

    def get_encoding(name: str) -> FakeEncoding:
        calls.append(name)
        return FakeEncoding()

    module.get_encoding = get_encoding  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "tiktoken", module)
    monkeypatch.setattr(tokens, "_encoders", {})
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    return calls


def cache_file(tmp_path: Path, encoding: str, data: bytes, monkeypatch: pytest.MonkeyPatch,
               digest: str | None = None) -> None:
    """Put ``data`` where tiktoken caches ``encoding``; its published digest becomes that of
    ``data`` unless ``digest`` says otherwise (a damaged file)."""
    url, _ = tokens.ENCODING_FILES[encoding]
    (tmp_path / hashlib.sha1(url.encode()).hexdigest()).write_bytes(data)
    files = dict(tokens.ENCODING_FILES)
    files[encoding] = (url, digest or hashlib.sha256(data).hexdigest())
    monkeypatch.setattr(tokens, "ENCODING_FILES", files)


def test_cached_encoding_file_is_used(fake_tiktoken: list[str], tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    cache_file(tmp_path, "o200k_base", b"fake ranks", monkeypatch)
    text = "a rather long sentence of nine words in it"
    assert token_counter("gpt-4o", text=text) == 9  # the estimate would say 11
    messages = [{"role": "user", "name": "ann", "content": text}]
    assert token_counter("openai/gpt-4o-mini", messages) == 9 + 1 + 1 + 3 + 3
    assert fake_tiktoken == ["o200k_base"]  # loaded once, then reused
    # other vendors' models, and OpenAI models whose file is not cached, are estimated
    assert token_counter("claude-3-haiku-20240307", text=text) == 11
    assert token_counter("gpt-4", text=text) == 11
    assert fake_tiktoken == ["o200k_base"]


def test_missing_or_damaged_file_is_never_fetched(fake_tiktoken: list[str], tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    assert token_counter("gpt-4o", text="abcdefgh") == 2  # nothing cached: the estimate
    monkeypatch.setattr(tokens, "_encoders", {})
    cache_file(tmp_path, "cl100k_base", b"truncated download", monkeypatch, digest="0" * 64)
    assert token_counter("gpt-4", text="abcdefgh") == 2
    monkeypatch.setattr(tokens, "_encoders", {})
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", "")  # tiktoken would read straight from the URL
    assert token_counter("gpt-4o", text="abcdefgh") == 2
    assert fake_tiktoken == []  # tiktoken never got the chance to download anything


def test_litellm_keywords_count_response_tokens_tools_and_custom_tokenizer() -> None:
    msgs = [{"role": "assistant", "content": "abcdefgh"}]  # 2 tokens of text
    assert token_counter("mock/x", messages=msgs) == 2 + 3 + 3
    assert token_counter("mock/x", messages=msgs, count_response_tokens=True) == 2
    assert token_counter("mock/x", text="abcd", count_response_tokens=True) == 1
    tools = [{"type": "function", "function": {"name": "f"}}]
    assert token_counter("mock/x", text="abcd", tools=tools) > 1

    class Encoded:
        def __init__(self, text: str) -> None:
            self.ids = list(text)  # one id per character

    class Tok:
        def encode(self, text: str) -> Encoded:
            return Encoded(text)

    assert token_counter(text="abcdef", custom_tokenizer={"type": "huggingface_tokenizer",
                                                          "tokenizer": Tok()}) == 6


def test_encode_names_the_encoding_tiktoken_cannot_load(monkeypatch: pytest.MonkeyPatch) -> None:
    """No network for tiktoken's first download: a clear error, not a raw HTTP one."""
    def refuse(name: str) -> Any:
        raise ConnectionError("no route to openaipublic.blob.core.windows.net")

    fake = types.ModuleType("tiktoken")
    fake.get_encoding = refuse  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "tiktoken", fake)
    with pytest.raises(RuntimeError, match="could not load its 'o200k_base' encoding") as err:
        tokens.encode(model="gpt-4o", text="hi")
    assert "TIKTOKEN_CACHE_DIR" in str(err.value)
    assert isinstance(err.value.__cause__, ConnectionError)
