"""Tests of llmrelay.tokens.token_counter (a documented estimate, no tokenizer)."""

from __future__ import annotations

import sys
from typing import Any

import pytest

from llmrelay.tokens import token_counter


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


def test_model_does_not_change_the_estimate_and_no_tokenizer_is_loaded() -> None:
    messages = [{"role": "user", "content": "count me please"}]
    assert token_counter("gpt-4o", messages) == token_counter("claude-3-haiku-20240307", messages)
    assert "tiktoken" not in sys.modules
